"""Logon sessions from logon, logoff and special-privilege events, linked to processes.

One session per 4624 / 528 / 540 (host, TargetLogonId); 4634 / 4647 / 538 / 551 end it;
4672 / 576 within :data:`PRIVILEGE_US` on either side of it (Windows often writes the 4672
a few microseconds first) mark it elevated. A logon id that processes run under but no logon event
opened is a session too: the well-known system sessions by name, others flagged
``logon_missing``. On Linux, auditd's ``ses`` is the session.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from proctrail.store.correlate.extract import WELL_KNOWN_LOGONS, account, logon_hex
from proctrail.store.correlate.ids import StableIds
from proctrail.store.correlate.lifetimes import IdMaker, Lifetime

KEEP_US = 3_600_000_000  # an ended session still claims its logon id's processes this long
PRIVILEGE_US = 2_000_000  # a 4672 this close to a 4624 of its logon id is that logon's

LOGON_TYPES = {
    "0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service",
    "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
    "11": "CachedInteractive", "12": "CachedRemoteInteractive", "13": "CachedUnlock",
}
WELL_KNOWN = WELL_KNOWN_LOGONS
_SESSION_LOGONS = {4624, 528, 540}
_AUDIT_UNSET = {"", "4294967295", "-1", "unset"}
_PAM_TYPES = {"sshd": "ssh", "login": "console", "cron": "cron", "crond": "cron",
              "sudo": "sudo", "su": "su", "gdm-session-worker": "graphical",
              "lightdm": "graphical", "systemd": "systemd user"}


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
    order_us: int | None = None  # ts_us corrected for clock jumps, for ordering only
    key: str = ""  # the event's natural key: what a stable session id is derived from


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
    seq: int = 0  # creation order on its host's stream: output order


def _user(f: dict[str, str], prefix: str) -> str:
    return account(f.get(f"{prefix}DomainName"), f.get(f"{prefix}UserName"))


def _value(text: str) -> str:
    return "" if text in ("-", "") else text


class HostSessions:
    """The sessions of one host, built while its events stream past in time order.

    :meth:`link` gives a lifetime the session of its logon id that is active at the
    lifetime's start (the stream's present). Sessions that ended :data:`KEEP_US` ago are
    handed out by :meth:`drain`; a process still naming that logon id later gets a new
    ``logon_missing`` session.
    """

    def __init__(self, host_id: int, ids: IdMaker | None = None) -> None:
        self.host_id = host_id
        self.ids = ids or StableIds()
        self.latest: dict[str, Session] = {}
        self.ended: deque[tuple[int, Session]] = deque()
        self.privileges: dict[str, int] = {}  # 4672s with no session yet: logon id -> time
        self.now = -1
        self.seq = 0

    def new(self, logon_id: str, key: str, **values: object) -> Session:
        self.seq += 1
        s = Session(id=self.ids(key), host_id=self.host_id, logon_id=logon_id, seq=self.seq,
                    **values)
        self.latest[logon_id] = s  # callers replace only a session that has ended
        return s

    def _elevate(self, e: SessionEvent) -> None:
        """A 4672 / 576: its logon's session is elevated, whichever was written first."""
        logon_id = logon_hex(e.fields.get("SubjectLogonId"))
        s = self.latest.get(logon_id)
        if s is not None and (s.end_us is None or e.ts_us is None or s.start_us is None
                              or e.ts_us >= s.start_us - PRIVILEGE_US):
            s.elevated = True
        elif logon_id and e.ts_us is not None:
            if len(self.privileges) > 10_000:  # a flood of them: keep only the recent
                self.privileges = {k: t for k, t in self.privileges.items()
                                   if t >= e.ts_us - PRIVILEGE_US}
            self.privileges[logon_id] = e.ts_us

    def feed(self, e: SessionEvent) -> None:
        """Take the next logon, logoff or privilege event of this host's stream."""
        ts = e.order_us if e.order_us is not None else e.ts_us
        if ts is not None and ts > self.now:
            self.now = ts
        f = e.fields
        if "ses" in f and e.kind in ("logon", "logoff"):
            self._auditd(e)
        elif e.kind == "logon" and e.event_id in _SESSION_LOGONS:
            logon_id = logon_hex(f.get("TargetLogonId"))
            if not logon_id:
                return
            current = self.latest.get(logon_id)
            if current is not None and current.end_us is None:
                # The same logon id again while open (SYSTEM's 0x3e7 for every service
                # logon): one session.
                return
            raw_type = f.get("LogonType", "").strip()
            s = self.new(logon_id, e.key or f"pk{e.event_pk}", user=_user(f, "Target"),
                         logon_type=LOGON_TYPES.get(raw_type, raw_type),
                         source_ip=_value(f.get("IpAddress", "")),
                         workstation=_value(f.get("WorkstationName", "")),
                         auth_package=f.get("AuthenticationPackageName", "").strip(),
                         start_us=e.ts_us, logon_event=e.event_pk)
            first = self.privileges.pop(logon_id, None)
            if first is not None and e.ts_us is not None \
                    and abs(e.ts_us - first) <= PRIVILEGE_US:
                s.elevated = True
        elif e.kind == "logoff":
            logon_id = logon_hex(f.get("TargetLogonId"))
            if not logon_id:
                return
            s = self.latest.get(logon_id)
            if s is None or s.end_us is not None:
                s = self.new(logon_id, f"end|{e.key or e.event_pk}", user=_user(f, "Target"))
                s.flags.add("logon_missing")
            s.end_us, s.logoff_event = e.ts_us, e.event_pk
            self.ended.append((self.now, s))
        elif e.kind == "special_privileges":
            self._elevate(e)

    def _auditd(self, e: SessionEvent) -> None:
        """PAM's USER_START and USER_END (auditd): ``ses`` opens and closes a session."""
        f = e.fields
        ses = f.get("ses", "")
        if ses in _AUDIT_UNSET:
            return
        s = self.latest.get(ses)
        if e.kind == "logon":
            if s is not None and s.end_us is None:
                return
            exe = f.get("exe", "").rsplit("/", 1)[-1]
            auid = f.get("auid", "")
            self.new(ses, e.key or f"pk{e.event_pk}",
                     user=f.get("acct") or ("" if auid in _AUDIT_UNSET else auid),
                     logon_type=_PAM_TYPES.get(exe, f"auditd {exe}".strip()),
                     source_ip=_value(f.get("addr", "").strip("?")),
                     workstation=_value(f.get("hostname", "").strip("?")),
                     auth_package="PAM", start_us=e.ts_us, logon_event=e.event_pk)
            return
        if s is None or s.end_us is not None:
            s = self.new(ses, f"end|{e.key or e.event_pk}", user=f.get("acct", ""),
                         logon_type="auditd session")
            s.flags.add("logon_missing")
        s.end_us, s.logoff_event = e.ts_us, e.event_pk
        self.ended.append((self.now, s))

    def link(self, lt: Lifetime) -> None:
        """Set ``lt.session_id`` to the session its logon id names, making one if needed."""
        key_id = _session_key(lt)
        if not key_id:
            lt.session_id = None
            return
        s = self.latest.get(key_id)
        if s is None:
            key = f"by|{key_id}|{lt.key}"
            if key_id in WELL_KNOWN:
                s = self.new(key_id, key, user=WELL_KNOWN[key_id], logon_type="System")
                s.flags.add("well_known")
            elif lt.source_is_auditd:
                s = self.new(key_id, key, user=_login_user(lt), logon_type="auditd session",
                             start_us=lt.start_us)
            else:
                s = self.new(key_id, key, user=lt.user)
                s.flags.add("logon_missing")
        elif lt.source_is_auditd and s.start_us is not None and lt.start_us is not None \
                and lt.start_us < s.start_us:
            s.start_us = lt.start_us  # auditd sessions start at their first process
        lt.session_id = s.id

    def drain(self, keep_us: int = KEEP_US) -> list[Session]:
        """Sessions ended more than ``keep_us`` ago (of stream time), now final."""
        out: list[Session] = []
        while self.ended and self.ended[0][0] < self.now - keep_us:
            s = self.ended.popleft()[1]
            if self.latest.get(s.logon_id) is s:
                del self.latest[s.logon_id]
            out.append(s)
        return out

    def finish(self) -> list[Session]:
        """The end of the stream: every session not yet handed out."""
        out = self.drain(keep_us=-(1 << 62))
        seen = {id(s) for s in out}
        out += [s for s in self.latest.values() if id(s) not in seen]
        self.latest.clear()
        self.privileges.clear()
        out.sort(key=lambda s: s.seq)
        return out


def _login_user(lt: Lifetime) -> str:
    return "" if lt.login_user in _AUDIT_UNSET else lt.login_user or lt.user


def _session_key(lt: Lifetime) -> str:
    if lt.source_is_auditd:
        return "" if lt.logon_id in _AUDIT_UNSET else lt.logon_id
    return lt.logon_id
