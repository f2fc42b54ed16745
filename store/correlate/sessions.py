"""Logon sessions from logon, logoff and special-privilege events, linked to processes.

One session per 4624 / 528 / 540 (host, TargetLogonId); 4634 / 4647 / 538 / 551 end it;
4672 / 576 mark it elevated. A logon id that processes run under but no logon event
opened is a session too: the well-known system sessions by name, others flagged
``logon_missing``. On Linux, auditd's ``ses`` is the session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from proctrail.store.correlate.extract import AUDITD, account, logon_hex
from proctrail.store.correlate.lifetimes import Lifetime

LOGON_TYPES = {
    "0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service",
    "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
    "11": "CachedInteractive", "12": "CachedRemoteInteractive", "13": "CachedUnlock",
}
WELL_KNOWN = {"0x3e7": "NT AUTHORITY\\SYSTEM", "0x3e4": "NT AUTHORITY\\NETWORK SERVICE",
              "0x3e5": "NT AUTHORITY\\LOCAL SERVICE"}
_SESSION_LOGONS = {4624, 528, 540}
_AUDIT_UNSET = {"", "4294967295", "-1", "unset"}


@dataclass(slots=True)
class SessionEvent:
    """A logon, logoff or privilege event as sessions need it."""

    event_pk: int
    host_id: int
    event_id: int
    kind: str
    ts_us: int | None
    record_id: int
    fields: dict[str, str]


@dataclass(slots=True, eq=False)
class Session:
    """One logon session."""

    id: int
    host_id: int
    logon_id: str
    user: str = ""
    logon_type: str = ""
    source_ip: str = ""
    workstation: str = ""
    auth_package: str = ""
    elevated: bool = False
    start_us: int | None = None
    end_us: int | None = None
    logon_event: int | None = None
    logoff_event: int | None = None
    flags: set[str] = field(default_factory=set)
    processes: list[Lifetime] = field(default_factory=list)


def _user(f: dict[str, str], prefix: str) -> str:
    return account(f.get(f"{prefix}DomainName"), f.get(f"{prefix}UserName"))


def _value(text: str) -> str:
    return "" if text in ("-", "") else text


def build_sessions(events: Iterable[SessionEvent], lifetimes: list[Lifetime]) -> list[Session]:
    """Sessions from their events, with every lifetime linked to its session where known."""
    out: list[Session] = []
    latest: dict[tuple[int, str], Session] = {}

    def new(host_id: int, logon_id: str, **values: object) -> Session:
        s = Session(id=len(out) + 1, host_id=host_id, logon_id=logon_id, **values)
        out.append(s)
        latest[(host_id, logon_id)] = s
        return s

    ordered = sorted(events, key=lambda e: (e.host_id, e.ts_us or -1, e.record_id))
    for e in ordered:
        f = e.fields
        if e.kind == "logon" and e.event_id in _SESSION_LOGONS:
            logon_id = logon_hex(f.get("TargetLogonId"))
            if not logon_id:
                continue
            current = latest.get((e.host_id, logon_id))
            if current is not None and current.end_us is None:
                # The same logon id again while open (SYSTEM's 0x3e7 for every service
                # logon): one session.
                continue
            raw_type = f.get("LogonType", "").strip()
            new(e.host_id, logon_id, user=_user(f, "Target"),
                logon_type=LOGON_TYPES.get(raw_type, raw_type),
                source_ip=_value(f.get("IpAddress", "")),
                workstation=_value(f.get("WorkstationName", "")),
                auth_package=f.get("AuthenticationPackageName", "").strip(),
                start_us=e.ts_us, logon_event=e.event_pk)
        elif e.kind == "logoff":
            logon_id = logon_hex(f.get("TargetLogonId"))
            if not logon_id:
                continue
            s = latest.get((e.host_id, logon_id))
            if s is None or s.end_us is not None:
                s = new(e.host_id, logon_id, user=_user(f, "Target"))
                s.flags.add("logon_missing")
            s.end_us, s.logoff_event = e.ts_us, e.event_pk
        elif e.kind == "special_privileges":
            s = latest.get((e.host_id, logon_hex(f.get("SubjectLogonId"))))
            if s is not None:
                s.elevated = True

    for lt in sorted(lifetimes, key=lambda x: (x.host_id, x.start_us or -1, x.id)):
        key_id = _session_key(lt)
        if not key_id:
            continue
        s = latest.get((lt.host_id, key_id))
        if s is None:
            if key_id in WELL_KNOWN:
                s = new(lt.host_id, key_id, user=WELL_KNOWN[key_id], logon_type="System")
                s.flags.add("well_known")
            elif AUDITD in lt.start_sources:
                s = new(lt.host_id, key_id, user=lt.user, logon_type="auditd session")
            else:
                s = new(lt.host_id, key_id, user=lt.user)
                s.flags.add("logon_missing")
        s.processes.append(lt)
    return out


def _session_key(lt: Lifetime) -> str:
    if AUDITD in lt.start_sources:
        return "" if lt.logon_id in _AUDIT_UNSET else lt.logon_id
    return lt.logon_id
