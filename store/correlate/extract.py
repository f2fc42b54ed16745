"""Process starts and ends out of stored events, in one vocabulary for every source.

4688 writes PIDs in hex, Sysmon and auditd in decimal, legacy 592/593 in decimal: each is
read as its source writes it. Only what the event carries is filled in.
"""

from __future__ import annotations

from dataclasses import dataclass

SECURITY, SYSMON, AUDITD = "security", "sysmon", "auditd"


@dataclass(slots=True)
class ProcEvent:
    """One process start or end, as correlation needs it."""

    event_pk: int
    host_id: int
    is_start: bool
    source: str  # security | sysmon | auditd
    ts_us: int | None
    record_id: int
    pid: int
    ppid: int | None = None
    guid: str | None = None
    parent_guid: str | None = None
    image: str = ""
    parent_image: str = ""
    command_line: str = ""
    parent_command_line: str = ""
    cwd: str = ""
    user: str = ""
    logon_id: str = ""
    target_user: str = ""
    hashes: str = ""
    integrity: str = ""
    exit_status: str = ""
    activity: str = ""  # network_connect | dns_query | token_change: what the process did
    login_user: str = ""  # auditd auid
    event_id: int = 0
    detail: str = ""  # a token change's privileges
    order_us: int | None = None  # ts_us corrected for clock jumps, for ordering only


def _pid(text: str | None, hex_pid: bool) -> int | None:
    if not text:
        return None
    text = text.strip()
    try:
        if text[:2].lower() == "0x":
            return int(text, 16)
        return int(text, 16) if hex_pid else int(text)
    except ValueError:
        return None


def account(domain: str | None, name: str | None) -> str:
    """``DOMAIN\\name`` (or the name alone); empty for Windows' ``-`` placeholder."""
    if not name or name == "-":
        return ""
    return f"{domain}\\{name}" if domain and domain != "-" else name


def logon_hex(text: str | None) -> str:
    """Logon ids as lower-case hex (``0x3e7``), however the source spelled them, Windows
    2003's ``(0x0,0x3E7)`` (high and low parts) included."""
    if not text:
        return ""
    if text.startswith("(") and text.endswith(")") and "," in text:
        high, _, low = text[1:-1].partition(",")
        try:
            return hex((int(high, 16) << 32) | int(low, 16))
        except ValueError:
            return text.strip().lower()
    try:
        return hex(int(text, 16) if text.strip()[:2].lower() == "0x" else int(text))
    except ValueError:
        return text.strip().lower()


def extract(event_pk: int, host_id: int, channel: str, event_id: int, record_id: int,
            ts_us: int | None, kind: str, f: dict[str, str]) -> ProcEvent | None:
    """The process start or end in one stored event, or None when it names no process."""
    start = kind == "process_start"
    if kind == "token_change":
        return _token(event_pk, host_id, event_id, record_id, ts_us, f)
    if kind in ("network_connect", "dns_query"):
        pid = _pid(f.get("ProcessId"), False)
        if pid is None:
            return None
        return ProcEvent(event_pk, host_id, False, SYSMON, ts_us, record_id, pid,
                         guid=f.get("ProcessGuid") or None, image=f.get("Image", ""),
                         activity=kind)
    if channel == "auditd":
        pid = _pid(f.get("pid"), False)
        if pid is None:
            return None
        return ProcEvent(event_pk, host_id, start, AUDITD, ts_us, record_id, pid,
                         ppid=_pid(f.get("ppid"), False), image=f.get("exe", ""),
                         command_line=f.get("CommandLine", ""), cwd=f.get("cwd", ""),
                         user=f.get("uid", ""), logon_id=f.get("ses", ""),
                         login_user=f.get("auid", ""))
    if channel.endswith("Sysmon/Operational"):
        pid = _pid(f.get("ProcessId"), False)
        if pid is None:
            return None
        return ProcEvent(event_pk, host_id, start, SYSMON, ts_us, record_id, pid,
                         ppid=_pid(f.get("ParentProcessId"), False),
                         guid=f.get("ProcessGuid") or None,
                         parent_guid=f.get("ParentProcessGuid") or None,
                         image=f.get("Image", ""), parent_image=f.get("ParentImage", ""),
                         command_line=f.get("CommandLine", ""),
                         parent_command_line=f.get("ParentCommandLine", ""),
                         cwd=f.get("CurrentDirectory", ""), user=f.get("User", ""),
                         logon_id=logon_hex(f.get("LogonId")), hashes=f.get("Hashes", ""),
                         integrity=f.get("IntegrityLevel", ""))
    legacy = event_id in (592, 593)
    if start:
        pid = _pid(f.get("NewProcessId"), not legacy)
        if pid is None:
            return None
        target = account(f.get("TargetDomainName"), f.get("TargetUserName"))
        return ProcEvent(event_pk, host_id, True, SECURITY, ts_us, record_id, pid,
                         ppid=_pid(f.get("ProcessId"), not legacy),
                         image=f.get("NewProcessName", ""),
                         parent_image=f.get("ParentProcessName", ""),
                         command_line=f.get("CommandLine", ""),
                         user=account(f.get("SubjectDomainName"), f.get("SubjectUserName")),
                         logon_id=logon_hex(f.get("SubjectLogonId")), target_user=target,
                         integrity=f.get("MandatoryLabel", ""))
    pid = _pid(f.get("ProcessId"), not legacy)
    if pid is None:
        return None
    return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                     image=f.get("ProcessName", ""),
                     user=account(f.get("SubjectDomainName"), f.get("SubjectUserName")),
                     logon_id=logon_hex(f.get("SubjectLogonId")), exit_status=f.get("Status", ""))


def _token(event_pk: int, host_id: int, event_id: int, record_id: int, ts_us: int | None,
           f: dict[str, str]) -> ProcEvent | None:
    """A token change: 600 (a primary token assigned to a new process, Windows 2003) or
    4703 (token rights adjusted)."""
    if event_id == 600:
        pid = _pid(f.get("NewProcessId"), False)
        if pid is None:
            return None
        return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                         image=f.get("NewProcessName", ""), activity="token_change",
                         user=account(f.get("SubjectDomainName"), f.get("SubjectUserName")),
                         target_user=account(f.get("TargetDomainName"),
                                             f.get("TargetUserName")),
                         logon_id=logon_hex(f.get("TargetLogonId")), event_id=event_id,
                         detail=f"primary token assigned by {f.get('ProcessName', '')}".strip())
    pid = _pid(f.get("ProcessId"), True)
    if pid is None:
        return None
    changes = [f"{label}: {' '.join(value.split())}"
               for label, value in (("enabled", f.get("EnabledPrivilegeList", "")),
                                    ("disabled", f.get("DisabledPrivilegeList", "")))
               if value.strip() not in ("", "-")]
    return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                     image=f.get("ProcessName", ""), activity="token_change",
                     user=account(f.get("SubjectDomainName"), f.get("SubjectUserName")),
                     target_user=account(f.get("TargetDomainName"), f.get("TargetUserName")),
                     logon_id=logon_hex(f.get("TargetLogonId")), event_id=event_id,
                     detail="; ".join(changes))
