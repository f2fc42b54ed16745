"""One vocabulary for Sigma's process_creation rules, whatever logged the process start.

Sysmon (Windows and Linux) already uses Sigma's field names. Security 4688 and 592 and
auditd execve are mapped onto them (Image, CommandLine, ParentImage, User, IntegrityLevel,
ProcessId, ParentProcessId, LogonId, CurrentDirectory), keeping their own names too, so a
rule written for Sysmon fires on a 4688 of the same process. What a record lacks (a 592's
parent image, auditd's parent) is filled from the correlated parent where known.
"""

from __future__ import annotations

from proctrail.store.correlate.extract import ProcEvent, extract

_INTEGRITY = {"S-1-16-0": "Untrusted", "S-1-16-4096": "Low", "S-1-16-8192": "Medium",
              "S-1-16-8448": "Medium", "S-1-16-12288": "High", "S-1-16-16384": "System",
              "S-1-16-20480": "Protected"}


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def sigma_fields(channel: str, event_id: int, fields: dict[str, str]) -> dict[str, str]:
    """The event's fields under Sigma's names (its own names kept as well), read by the
    same mapping correlation uses (:func:`~proctrail.store.correlate.extract.extract`):
    the user a 4688 runs as is its target logon's account, SYSTEM by its SID."""
    if channel.endswith("Sysmon/Operational") or "sysmon" in channel.lower():
        return fields
    out = dict(fields)
    e = extract(0, 0, channel, event_id, 0, None, "process_start", fields)
    if not isinstance(e, ProcEvent):
        return out
    out.update(Image=e.image, CommandLine=e.command_line, ProcessId=_text(e.pid),
               ParentProcessId=_text(e.ppid), User=e.target_user or e.user,
               LogonId=e.logon_id)
    if channel == "auditd":
        out.update(CurrentDirectory=e.cwd, LogonId=fields.get("ses", ""))
        return out
    out["ParentImage"] = e.parent_image
    label = fields.get("MandatoryLabel", "")
    if label:
        out["IntegrityLevel"] = _INTEGRITY.get(label.upper(), label)
    return out
