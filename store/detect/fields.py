"""One vocabulary for Sigma's process_creation rules, whatever logged the process start.

Sysmon (Windows and Linux) already uses Sigma's field names. Security 4688 and 592 and
auditd execve are mapped onto them (Image, CommandLine, ParentImage, User, IntegrityLevel,
ProcessId, ParentProcessId, LogonId, CurrentDirectory), keeping their own names too, so a
rule written for Sysmon fires on a 4688 of the same process. What a record lacks (a 592's
parent image, auditd's parent) is filled from the correlated parent where known.
"""

from __future__ import annotations

from proctrail.store.correlate.extract import account, logon_hex

_INTEGRITY = {"S-1-16-0": "Untrusted", "S-1-16-4096": "Low", "S-1-16-8192": "Medium",
              "S-1-16-8448": "Medium", "S-1-16-12288": "High", "S-1-16-16384": "System",
              "S-1-16-20480": "Protected"}


def _decimal(text: str | None, hex_pid: bool) -> str:
    if not text:
        return ""
    try:
        return str(int(text, 16) if hex_pid or text.lower().startswith("0x") else int(text))
    except ValueError:
        return text


def sigma_fields(channel: str, event_id: int, fields: dict[str, str]) -> dict[str, str]:
    """The event's fields under Sigma's names (its own names kept as well)."""
    if channel.endswith("Sysmon/Operational") or "sysmon" in channel.lower():
        return fields
    out = dict(fields)
    if channel == "auditd":
        out.update(Image=fields.get("exe", ""), CommandLine=fields.get("CommandLine", ""),
                   CurrentDirectory=fields.get("cwd", ""), ProcessId=fields.get("pid", ""),
                   ParentProcessId=fields.get("ppid", ""), User=fields.get("uid", ""),
                   LogonId=fields.get("ses", ""))
        return out
    legacy = event_id == 592
    target = account(fields.get("TargetDomainName"), fields.get("TargetUserName"))
    out.update(
        Image=fields.get("NewProcessName", ""), CommandLine=fields.get("CommandLine", ""),
        ParentImage=fields.get("ParentProcessName", ""),
        ProcessId=_decimal(fields.get("NewProcessId"), not legacy),
        ParentProcessId=_decimal(fields.get("ProcessId"), not legacy),
        User=target or account(fields.get("SubjectDomainName"), fields.get("SubjectUserName")),
        LogonId=logon_hex(fields.get("SubjectLogonId")))
    label = fields.get("MandatoryLabel", "")
    if label:
        out["IntegrityLevel"] = _INTEGRITY.get(label.upper(), label)
    return out
