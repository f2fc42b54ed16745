"""Process starts, ends and activity out of stored events: one vocabulary for every
source, used by correlation and detection alike.

4688 writes PIDs in hex, Sysmon and auditd in decimal, legacy 592/593 in decimal: each is
read as its source writes it. Only what the event carries is filled in, and a collector
that dropped a field is met with the next best one:

- identity: Sysmon's ``ProcessGuid`` (an all-zero GUID is none), else host + PID + start.
  A Sysmon record whose ``ProcessId`` was dropped (older NXLog) is still a process by its
  GUID; one with neither is :class:`Unplaced`, counted, never silently dropped.
- time: Sysmon's ``UtcTime`` is when the process started or ended; the event header can
  lag it by seconds (``logged_us`` keeps the header time).
- account: a 4688 running in another logon (``TargetLogonId`` not ``0x0``) runs as its
  target; well-known SIDs (and a machine account in the SYSTEM logon) are named as Windows
  and Sysmon name them (``NT AUTHORITY\\SYSTEM``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from proctrail.store.correlate import access as acc
from proctrail.store.events import ACTIVITY_KINDS, EXECUTION_PID, TWO_ENDED_KINDS
from proctrail.store.readers.auditd import AT_FDCWD, sockaddr, syscall_name
from proctrail.store.readers.base import parse_time

IMAGE_LOAD = "image_load"  # Sysmon 7: extracted when correlation streams it (see pipeline)

SECURITY, SYSMON, AUDITD = "security", "sysmon", "auditd"
UTC_TRUSTED_US = 86_400_000_000  # a UtcTime further than this from its header is garbage

WELL_KNOWN_SIDS = {"S-1-5-18": "NT AUTHORITY\\SYSTEM", "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
                   "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE"}
WELL_KNOWN_LOGONS = {"0x3e7": "NT AUTHORITY\\SYSTEM", "0x3e4": "NT AUTHORITY\\NETWORK SERVICE",
                     "0x3e5": "NT AUTHORITY\\LOCAL SERVICE"}


class Act(NamedTuple):
    """What one activity record says, in the typed columns an analyst searches."""

    direction: str = ""  # out | in (a connection's; for 8/10 which end this row is)
    protocol: str = ""
    src_addr: str = ""
    src_port: int | None = None
    dst_addr: str = ""
    dst_port: int | None = None
    hostname: str = ""  # DestinationHostname, a DNS QueryName
    path: str = ""  # a file, registry key or stream; 4663's object
    access: str = ""  # a mask, named
    detail: str = ""  # a DNS answer, a registry value, the other end's image, ...


@dataclass(slots=True)
class ProcEvent:
    """One process start, end or activity, as correlation needs it."""

    event_pk: int
    host_id: int
    is_start: bool
    source: str  # security | sysmon | auditd
    ts_us: int | None  # when it happened (Sysmon: UtcTime)
    record_id: int
    pid: int | None  # None: a Sysmon record whose ProcessId the collector dropped
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
    logged_us: int | None = None  # the event header's time, where it differs
    key: str = ""  # the event's natural key: what a stable lifetime id is derived from
    source_id: int | None = None  # the stored input it came from
    act: Act | None = None  # an activity's typed fields
    target_pid: int | None = None  # Sysmon 8/10: the process at the other end
    target_guid: str | None = None
    target_image: str = ""
    part: tuple[str, int, int] | None = None  # 4104: (ScriptBlock Id, number, total)


class Unplaced(NamedTuple):
    """A record about a process that names none: counted per reason, shown as an anomaly."""

    event_pk: int | None  # None: ``count`` records of one host, told as one
    host_id: int
    ts_us: int | None
    reason: str
    count: int = 1

    @property
    def detail(self) -> str:
        """The anomaly's text: the reason, with the count where it tells several."""
        return self.reason if self.count == 1 else f"{self.reason}: {self.count} records"

    @staticmethod
    def counted(detail: str) -> tuple[str, int]:
        """The reason and count an anomaly's :attr:`detail` tells."""
        reason, _, count = detail.rpartition(": ")
        number = count.removesuffix(" records")
        if reason and number != count and number.isdigit():
            return reason, int(number)
        return detail, 1


def pid_of(text: str | None, hex_pid: bool) -> int | None:
    if not text:
        return None
    text = text.strip()
    try:
        if text[:2].lower() == "0x":
            return int(text, 16)
        return int(text, 16) if hex_pid else int(text)
    except ValueError:
        return None


def guid_of(text: str | None) -> str | None:
    """A process GUID as ``{lower-case}``; None when absent, ``-`` or all zeros (a parent
    Sysmon never saw: no identity)."""
    if not text:
        return None
    inner = text.strip().strip("{}").strip().lower()
    if not inner or inner == "-" or not inner.replace("-", "").strip("0"):
        return None
    return "{" + inner + "}"


def sysmon_time(header_us: int | None, f: dict[str, str]) -> int | None:
    """When a Sysmon event happened: its ``UtcTime`` (the header time can lag it by
    seconds), else the header time."""
    utc = parse_time(f.get("UtcTime"))
    if utc is None or (header_us is not None and abs(header_us - utc) > UTC_TRUSTED_US):
        return header_us
    return utc


def account(domain: str | None, name: str | None) -> str:
    """``DOMAIN\\name`` (or the name alone); empty for Windows' ``-`` placeholder."""
    if not name or name == "-":
        return ""
    return f"{domain}\\{name}" if domain and domain != "-" else name


def windows_account(sid: str | None, domain: str | None, name: str | None,
                    logon_id: str = "") -> str:
    """The account as Windows (and Sysmon's ``User``) names it: ``S-1-5-18`` is
    ``NT AUTHORITY\\SYSTEM`` whatever the record's name (a 4688 writes the machine account,
    ``FS01$``); without a SID, a machine account in a well-known logon is that account."""
    known = WELL_KNOWN_SIDS.get((sid or "").strip().upper())
    if known:
        return known
    if name and name.endswith("$") and logon_id in WELL_KNOWN_LOGONS:
        return WELL_KNOWN_LOGONS[logon_id]
    return account(domain, name)


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
            ts_us: int | None, kind: str, f: dict[str, str]) -> ProcEvent | Unplaced | None:
    """The process start, end or activity in one stored event; :class:`Unplaced` when it
    speaks of a process it does not identify (no PID and no GUID); None when the event
    is not about a process at all."""
    start = kind == "process_start"
    if kind == "token_change":
        return _token(event_pk, host_id, event_id, record_id, ts_us, f)
    if kind in ACTIVITY_KINDS or kind == IMAGE_LOAD:  # (7 only when asked: see pipeline)
        if channel == "auditd":
            return _audited(event_pk, host_id, event_id, record_id, ts_us, kind, f)
        return _did(event_pk, host_id, event_id, record_id, ts_us, kind, f)
    if channel == "auditd":
        pid = pid_of(f.get("pid"), False)
        if pid is None:
            return Unplaced(event_pk, host_id, ts_us, "auditd record without pid")
        return ProcEvent(event_pk, host_id, start, AUDITD, ts_us, record_id, pid,
                         ppid=pid_of(f.get("ppid"), False), image=f.get("exe", ""),
                         command_line=f.get("CommandLine", ""), cwd=f.get("cwd", ""),
                         user=f.get("uid", ""), logon_id=f.get("ses", ""),
                         login_user=f.get("auid", ""), event_id=event_id)
    if channel.endswith("Sysmon/Operational"):
        pid, guid = pid_of(f.get("ProcessId"), False), guid_of(f.get("ProcessGuid"))
        if pid is None and guid is None:
            return Unplaced(event_pk, host_id, ts_us, f"Sysmon {event_id} without ProcessId "
                            "or ProcessGuid")
        return ProcEvent(event_pk, host_id, start, SYSMON, sysmon_time(ts_us, f), record_id,
                         pid, ppid=pid_of(f.get("ParentProcessId"), False), guid=guid,
                         parent_guid=guid_of(f.get("ParentProcessGuid")),
                         image=f.get("Image", ""), parent_image=f.get("ParentImage", ""),
                         command_line=f.get("CommandLine", ""),
                         parent_command_line=f.get("ParentCommandLine", ""),
                         cwd=f.get("CurrentDirectory", ""), user=f.get("User", ""),
                         logon_id=logon_hex(f.get("LogonId")), hashes=f.get("Hashes", ""),
                         integrity=f.get("IntegrityLevel", ""), logged_us=ts_us,
                         event_id=event_id)
    legacy = event_id in (592, 593)
    subject_logon = logon_hex(f.get("SubjectLogonId"))
    subject = windows_account(f.get("SubjectUserSid"), f.get("SubjectDomainName"),
                              f.get("SubjectUserName"), subject_logon)
    if start:
        pid = pid_of(f.get("NewProcessId"), not legacy)
        if pid is None:
            return Unplaced(event_pk, host_id, ts_us, f"{event_id} without NewProcessId")
        target_logon = logon_hex(f.get("TargetLogonId"))
        in_target = target_logon not in ("", "0x0")
        target = windows_account(f.get("TargetUserSid"), f.get("TargetDomainName"),
                                 f.get("TargetUserName"),
                                 target_logon if in_target else "")
        return ProcEvent(event_pk, host_id, True, SECURITY, ts_us, record_id, pid,
                         ppid=pid_of(f.get("ProcessId"), not legacy),
                         image=f.get("NewProcessName", ""),
                         parent_image=f.get("ParentProcessName", ""),
                         command_line=f.get("CommandLine", ""), user=subject,
                         logon_id=target_logon if in_target else subject_logon,
                         target_user=target, integrity=f.get("MandatoryLabel", ""),
                         event_id=event_id)
    pid = pid_of(f.get("ProcessId"), not legacy)
    if pid is None:
        return Unplaced(event_pk, host_id, ts_us, f"{event_id} without ProcessId")
    return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                     image=f.get("ProcessName", ""), user=subject, logon_id=subject_logon,
                     exit_status=f.get("Status", ""), event_id=event_id)


def _token(event_pk: int, host_id: int, event_id: int, record_id: int, ts_us: int | None,
           f: dict[str, str]) -> ProcEvent | Unplaced:
    """A token change: 600 (a primary token assigned to a new process, Windows 2003) or
    4703 (token rights adjusted)."""
    if event_id == 600:
        pid = pid_of(f.get("NewProcessId"), False)
        if pid is None:
            return Unplaced(event_pk, host_id, ts_us, "600 without NewProcessId")
        return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                         image=f.get("NewProcessName", ""), activity="token_change",
                         user=account(f.get("SubjectDomainName"), f.get("SubjectUserName")),
                         target_user=account(f.get("TargetDomainName"),
                                             f.get("TargetUserName")),
                         logon_id=logon_hex(f.get("TargetLogonId")), event_id=event_id,
                         detail=f"primary token assigned by {f.get('ProcessName', '')}".strip())
    pid = pid_of(f.get("ProcessId"), True)
    if pid is None:
        return Unplaced(event_pk, host_id, ts_us, f"{event_id} without ProcessId")
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


def _did(event_pk: int, host_id: int, event_id: int, record_id: int, ts_us: int | None,
         kind: str, f: dict[str, str]) -> ProcEvent | Unplaced:
    """What a process did: Sysmon 3/8/10/11/12/13/14/15/22/23/25/26, Security
    5156/5158/4663; its process by Sysmon's GUID or the PID (Security's with its image)."""
    g = f.get
    if kind in _POWERSHELL:
        return _powershell(event_pk, host_id, event_id, record_id, ts_us, kind, f)
    if kind == "wfp_connect" or kind == "wfp_bind":
        pid = pid_of(g("ProcessID") or g("ProcessId"), False)
        if pid is None:
            return Unplaced(event_pk, host_id, ts_us, f"{event_id} without ProcessID")
        # The kernel's path (\device\harddiskvolume2\...): the file name is what compares.
        app = (g("Application") or "").replace("/", "\\").rsplit("\\", 1)[-1]
        act = Act(acc.direction(g("Direction")), acc.protocol(g("Protocol")),
                  g("SourceAddress", ""), acc.port(g("SourcePort")), g("DestAddress", ""),
                  acc.port(g("DestPort")), detail="bind" if kind == "wfp_bind" else "")
        return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid, image=app,
                         activity=kind, event_id=event_id, act=act)
    if kind == "object_access":
        pid = pid_of(g("ProcessId"), True)
        if pid is None:
            return Unplaced(event_pk, host_id, ts_us, f"{event_id} without ProcessId")
        act = Act(path=g("ObjectName", ""), access=acc.access_list(g("AccessMask"),
                                                                   g("AccessList")),
                  detail=g("ObjectType", ""))
        return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                         image=g("ProcessName", ""), activity=kind, event_id=event_id, act=act)
    when = sysmon_time(ts_us, f)
    if kind in TWO_ENDED_KINDS:
        pid = pid_of(g("SourceProcessId"), False)
        guid = guid_of(g("SourceProcessGuid") or g("SourceProcessGUID"))
        tpid = pid_of(g("TargetProcessId"), False)
        tguid = guid_of(g("TargetProcessGuid") or g("TargetProcessGUID"))
        if pid is None and guid is None and tpid is None and tguid is None:
            return Unplaced(event_pk, host_id, ts_us, f"Sysmon {event_id} without process ids")
        if kind == "process_access":
            act = Act(access=acc.process_rights(g("GrantedAccess")))
        else:
            start = " ".join(p for p in (g("StartModule", ""), g("StartFunction", ""))
                             if p and p != "-")
            act = Act(detail=start or g("StartAddress", ""))
        return ProcEvent(event_pk, host_id, False, SYSMON, when, record_id, pid, guid=guid,
                         image=g("SourceImage", ""), activity=kind, logged_us=ts_us,
                         event_id=event_id, act=act, target_pid=tpid, target_guid=tguid,
                         target_image=g("TargetImage", ""))
    pid, guid = pid_of(g("ProcessId"), False), guid_of(g("ProcessGuid"))
    if pid is None and guid is None:
        return Unplaced(event_pk, host_id, ts_us, f"Sysmon {event_id} without ProcessId "
                        "or ProcessGuid")
    if kind == "network_connect":
        act = Act(acc.direction(g("Initiated")), acc.protocol(g("Protocol")),
                  g("SourceIp", ""), acc.port(g("SourcePort")), g("DestinationIp", ""),
                  acc.port(g("DestinationPort")), g("DestinationHostname", "").strip("- "))
    elif kind == "dns_query":
        act = Act(hostname=g("QueryName", ""), detail=" ".join(
            (g("QueryResults") or "").replace(";", " ").split()))
    elif kind.startswith("registry"):
        detail = {"registry_key": g("EventType", ""), "registry_set": g("Details", ""),
                  "registry_rename": f"→ {g('NewName', '')}"}[kind]
        act = Act(path=g("TargetObject", ""), detail=detail)
    elif kind == "process_tampering":
        act = Act(path=g("Image", ""), detail=g("Type", ""))
    elif kind == "file_stream":
        act = Act(path=g("TargetFilename", ""), detail=g("Contents") or g("Hash", ""))
    elif kind == IMAGE_LOAD:  # Sysmon 7: the DLL, whether and by whom it is signed
        signed = (g("Signed") or "").lower()
        act = Act(path=g("ImageLoaded", ""), detail=" ".join(p for p in (
            "signed" if signed == "true" else "unsigned" if signed == "false" else "",
            (g("Signature") or "").strip("- "), (g("SignatureStatus") or "").strip("- ")
            if (g("SignatureStatus") or "").lower() not in ("valid", "-", "") else "")
            if p))
    elif kind == "file_delete":
        act = Act(path=g("TargetFilename", ""),
                  detail="archived" if (g("Archived") or "").lower() == "true" else "")
    else:  # file_create
        act = Act(path=g("TargetFilename", ""))
    return ProcEvent(event_pk, host_id, False, SYSMON, when, record_id, pid, guid=guid,
                     image=g("Image", ""), activity=kind, logged_us=ts_us,
                     event_id=event_id, act=act)


_POWERSHELL = frozenset(("script_block", "pipeline", "ps_engine", "ps_provider"))
_EINPROGRESS = "-115"  # a non-blocking connect under way: a connection all the same
_OPEN_NAMES = ((0x1, "O_WRONLY"), (0x2, "O_RDWR"), (0x40, "O_CREAT"), (0x200, "O_TRUNC"),
               (0x400, "O_APPEND"))


def _exe_of(command_line: str) -> str:
    """The program of a command line (quoted or not), where it names an ``.exe``; else
    empty (no image to check a PID's process against)."""
    text = command_line.strip()
    if text.startswith('"'):
        exe = text[1:].split('"', 1)[0]
    else:
        exe = text.split(" ", 1)[0] if text else ""
    return exe if exe.lower().endswith(".exe") else ""


def _settings(f: dict[str, str]) -> dict[str, str]:
    """The ``Key=Value`` (or ``Key = Value``) lines of Windows PowerShell's classic message
    data and of 4103's ContextInfo, first of each name."""
    out: dict[str, str] = {}
    for value in f.values():
        if "=" not in value or "\n" not in value:
            continue
        for line in value.splitlines():
            key, sep, val = line.partition("=")
            if sep:
                out.setdefault(key.strip().replace(" ", ""), val.strip())
    return out


def _powershell(event_pk: int, host_id: int, event_id: int, record_id: int,
                ts_us: int | None, kind: str, f: dict[str, str]) -> ProcEvent | Unplaced:
    """PowerShell's: 4104 (a script block, or one part of it), 4103 (a pipeline's
    commands), Windows PowerShell's 400/403 (engine state) and 600 (provider state). The
    process is the header's ``Execution ProcessID``; the classic log writes 0 there, and
    is then matched by its ``HostApplication`` (the command line) alone."""
    g = f.get
    pid = pid_of(g(EXECUTION_PID), False) or None
    settings = _settings(f) if kind != "script_block" else {}
    host_app = settings.get("HostApplication", "")
    part = None
    if kind == "script_block":
        number, total = pid_of(g("MessageNumber"), False), pid_of(g("MessageTotal"), False)
        block = (g("ScriptBlockId") or "").strip().strip("{}").lower()
        if block and number and total and 1 <= number <= total <= 100_000:
            part = (block, number, total)
        path = (g("Path") or "").strip()
        act = Act(path="" if path in ("None", "-") else path,
                  detail=g("ScriptBlockText") or "")
    elif kind == "pipeline":
        act = Act(path=settings.get("ScriptName", ""), detail=(g("Payload") or "").strip())
    elif kind == "ps_engine":
        act = Act(detail=f"engine {settings.get('NewEngineState', '?')} (was "
                  f"{settings.get('PreviousEngineState', '?')}) {host_app}".strip())
    else:
        act = Act(detail=f"provider {settings.get('ProviderName', '?')} "
                  f"{settings.get('NewProviderState', '?')}")
    if pid is None and (kind in ("script_block", "pipeline") or not host_app):
        what = "HostApplication" if kind.startswith("ps_") else "the header's ProcessID"
        return Unplaced(event_pk, host_id, ts_us, f"{kind} without {what}")
    return ProcEvent(event_pk, host_id, False, SECURITY, ts_us, record_id, pid,
                     image=_exe_of(host_app), command_line=host_app if pid is None else "",
                     activity=kind, event_id=event_id, act=act, part=part)


def _audited(event_pk: int, host_id: int, event_id: int, record_id: int,
             ts_us: int | None, kind: str, f: dict[str, str]) -> ProcEvent | Unplaced:
    """auditd's connect/bind (with its SOCKADDR) and open/openat/creat asking to write
    (the file is its last PATH record, relative names read against the CWD)."""
    g = f.get
    pid = pid_of(g("pid"), False)
    if pid is None:
        return Unplaced(event_pk, host_id, ts_us, f"{kind} without pid")
    ok = g("success") == "yes" or g("exit") == _EINPROGRESS
    result = "" if ok else f"failed ({g('exit', '?')})"
    if kind == "file_write":
        what = syscall_name(f)
        paths = sorted((int(k[4:]), v) for k, v in f.items()
                       if k.startswith("path") and k[4:].isdigit())
        path = paths[-1][1] if paths else ""
        relative_to_cwd = what != "openat" or g("a0", "").lower() == AT_FDCWD
        if path and not path.startswith("/") and relative_to_cwd and g("cwd"):
            path = g("cwd", "").rstrip("/") + "/" + path
        flags = g("a2" if what == "openat" else "a1", "")
        try:
            value = int(flags, 16)
            named = "|".join(n for bit, n in _OPEN_NAMES if value & bit) or flags
        except ValueError:
            named = flags
        act = Act(path=path, access="creat" if what == "creat" else named, detail=result)
    else:
        found = sockaddr(f)
        family, addr, port = found if found is not None else ("", "", None)
        if kind == "network_bind":
            act = Act("in", family, addr, port, detail=" ".join(p for p in ("bind", result)
                                                               if p))
        else:
            act = Act("out", family, dst_addr=addr, dst_port=port, detail=result)
    return ProcEvent(event_pk, host_id, False, AUDITD, ts_us, record_id, pid,
                     image=g("exe", ""), activity=kind, event_id=event_id, act=act)
