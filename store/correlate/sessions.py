"""Logon sessions from logon, logoff and special-privilege events, linked to processes.

One session per 4624 / 528 / 540 (host, TargetLogonId); 4634 / 4647 / 538 / 551 end it;
4672 / 576 within :data:`PRIVILEGE_US` on either side of it (Windows often writes the 4672
a few microseconds first) mark it elevated. A logon id that processes run under but no logon event
opened is a session too: the well-known system sessions by name, others flagged
``logon_missing``. On Linux, auditd's ``ses`` is the session.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

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
REMOTE_JOIN_US = 60_000_000  # a 1149 or a session-id-only event waits this long for its session
REMOTE_EVENTS = 50  # a session keeps this many of its remote events; the rest are counted
REMOTE_TYPES = {"RemoteInteractive", "CachedRemoteInteractive"}
_LSM_USER = {21, 22, 23, 24, 25}  # LocalSessionManager events naming a user and a TS session
_LSM_ID = {39, 40}  # ... naming only the TS session
_WHAT = {1149: "authenticated", 21: "logon", 22: "shell start", 23: "logoff",
         24: "disconnect", 25: "reconnect", 39: "disconnected by session",
         40: "disconnected", 4778: "reconnect", 4779: "disconnect"}
_MESSAGE = {"User": re.compile(r"^\s*User:\s*(.+?)\s*$", re.M),
            "Domain": re.compile(r"^\s*Domain:\s*(.+?)\s*$", re.M),
            "Address": re.compile(r"^\s*Source Network Address:\s*(.+?)\s*$", re.M),
            "SessionID": re.compile(r"^\s*Session ID:\s*(\d+)", re.M)}
_DISCONNECTED = re.compile(r"Session (\d+) has been disconnected(?:, reason code (\d+)|"
                           r" by session (\d+))")
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
    remote: dict[str, Any] | None = None  # how it came in: see :meth:`HostSessions.note`


def _user(f: dict[str, str], prefix: str) -> str:
    return account(f.get(f"{prefix}DomainName"), f.get(f"{prefix}UserName"))


def _value(text: str) -> str:
    return "" if text in ("-", "") else text


def user_key(text: str) -> str:
    """A user name as joins compare it: no domain, lower case."""
    return text.strip().rsplit("\\", 1)[-1].split("@", 1)[0].lower()


def ts_fields(f: dict[str, str]) -> dict[str, str]:
    """User, Domain, Address, SessionID, Other and Reason of a Terminal Services event,
    from its UserData (EventXML: User/Param1.., SessionID, Address, TargetSession, Source,
    Session, Reason) or, where a collector kept only the text, its Message."""
    g = f.get
    out = {"User": g("User") or g("Param1") or "", "Domain": g("Domain") or g("Param2") or "",
           "Address": g("Address") or g("Param3") or "",
           "SessionID": g("SessionID") or g("TargetSession") or g("Session") or "",
           "Other": g("Source") or "", "Reason": g("Reason") or ""}
    message = g("Message") or ""
    if message:
        for name, pattern in _MESSAGE.items():
            m = pattern.search(message) if not out[name] else None
            if m:
                out[name] = m.group(1)
        m = _DISCONNECTED.search(message) if not out["SessionID"] else None
        if m:
            out["SessionID"], out["Reason"], out["Other"] = m.group(1), m.group(2) or "", \
                m.group(3) or ""
    return {k: v.strip() for k, v in out.items()}


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
        self.ts_ids: dict[str, Session] = {}  # Terminal Services session id -> its session
        self.rdp: dict[str, list[Session]] = {}  # user -> open remote sessions
        self.auth: deque[tuple[int, str, SessionEvent]] = deque()  # 1149s waiting
        self.by_ts_id: deque[tuple[int, str, SessionEvent]] = deque()  # 39/40s waiting
        self.unjoined: Counter[str] = Counter()  # remote events joined to no session, by why

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
            if s.logon_type in REMOTE_TYPES:
                self._remote(s)
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
        elif e.kind == "remote_session":
            self._remote_event(e)
        self._expire()

    # -- how a session came in (Terminal Services, 4778/4779) ------------------------------

    def note(self, s: Session, e: SessionEvent, address: str = "", client: str = "",
             detail: str = "") -> None:
        """Keep one remote event on ``s``: counts by event id, the addresses it came from
        (first 8), the first :data:`REMOTE_EVENTS` events as [time, id, what, address]."""
        r = s.remote
        if r is None:
            r = s.remote = {"counts": {}, "from": [], "events": [], "more": 0}
        r["counts"][str(e.event_id)] = r["counts"].get(str(e.event_id), 0) + 1
        address = _value(address)
        if address and all(a["addr"] != address for a in r["from"]) and len(r["from"]) < 8:
            r["from"].append({"addr": address, "via": e.event_id, "client": _value(client)})
        if len(r["events"]) < REMOTE_EVENTS:
            what = " ".join(p for p in (_WHAT.get(e.event_id, ""), detail) if p)
            r["events"].append([e.ts_us, e.event_id, what, address])
        else:
            r["more"] += 1

    def _remote(self, s: Session) -> None:
        """``s`` is a remote session: LocalSessionManager events of its user may join it,
        as may a 1149 of its user that came just before."""
        key = user_key(s.user)
        mine = self.rdp.setdefault(key, [])
        if s not in mine:
            mine.append(s)
        for item in [a for a in self.auth if a[1] == key]:
            self.auth.remove(item)
            self.note(s, item[2], ts_fields(item[2].fields)["Address"])

    def _open_remote(self, key: str) -> list[Session]:
        mine = [s for s in self.rdp.get(key, ()) if s.end_us is None
                and self.latest.get(s.logon_id) is s]
        if mine:
            self.rdp[key] = mine
        else:
            self.rdp.pop(key, None)
        return mine

    def _remote_event(self, e: SessionEvent) -> None:
        """A 4778/4779 joins the session of its LogonID (exactly); a 1149 the next remote
        session of its user; a LocalSessionManager event the session of its TS session id,
        else the one open remote session of its user (none or several: not joined)."""
        f, ts = e.fields, e.ts_us if e.ts_us is not None else self.now
        if e.event_id in (4778, 4779):
            logon_id = logon_hex(f.get("LogonID") or f.get("LogonId"))
            if not logon_id:
                self.unjoined[f"{e.event_id} without LogonID"] += 1
                return
            s = self.latest.get(logon_id)
            if s is None or s.end_us is not None:
                s = self.new(logon_id, f"rdp|{e.key or e.event_pk}",
                             user=account(f.get("AccountDomain"), f.get("AccountName")))
                s.flags.add("logon_missing")
            self.note(s, e, f.get("ClientAddress", ""), f.get("ClientName", ""),
                      _value(f.get("ClientName", "")))
            self._remote(s)
            return
        t = ts_fields(f)
        key = user_key(t["User"])
        if e.event_id == 1149:
            if not key:
                self.unjoined["1149 without a user"] += 1
                return
            self.auth.append((ts, key, e))
            return
        if e.event_id not in _LSM_USER and e.event_id not in _LSM_ID:
            self.unjoined[f"RDP Gateway {e.event_id}: the gateway is not the session's host"] += 1
            return
        ts_id = t["SessionID"]
        s = self.ts_ids.get(ts_id) if ts_id else None
        if s is not None and (s.end_us is not None or (key and user_key(s.user) != key)):
            s = None
        if s is None and e.event_id in _LSM_ID:
            if ts_id:
                self.by_ts_id.append((ts, ts_id, e))
            else:
                self.unjoined[f"LocalSessionManager {e.event_id} without a session id"] += 1
            return
        if s is None:
            mine = self._open_remote(key) if key else []
            if len(mine) > 1:  # the one that just started, if only one did
                mine = [c for c in mine if c.start_us is not None
                        and ts - REMOTE_JOIN_US <= c.start_us <= ts]
            if len(mine) != 1:
                why = "several open remote sessions" if mine else "no open remote session"
                self.unjoined[f"LocalSessionManager {e.event_id}: {why} of its user"] += 1
                return
            s = mine[0]
        parts = (f"TS session {ts_id}" if ts_id else "",
                 f"reason {t['Reason']}" if t["Reason"] else "")
        self.note(s, e, t["Address"], detail=" ".join(p for p in parts if p))
        if ts_id:
            self.ts_ids[ts_id] = s
            for item in [w for w in self.by_ts_id if w[1] == ts_id]:
                self.by_ts_id.remove(item)
                w = ts_fields(item[2].fields)
                self.note(s, item[2], detail=f"reason {w['Reason']}" if w["Reason"] else "")
        self._remote(s)
        if e.event_id == 23:
            self.ts_ids.pop(ts_id, None)

    def _expire(self) -> None:
        """Remote events that waited :data:`REMOTE_JOIN_US` for their session: not joined."""
        for waiting, why in ((self.auth, "1149: no remote session of its user followed"),
                             (self.by_ts_id, "LocalSessionManager 39/40: its session id "
                                             "never joined a session")):
            while waiting and waiting[0][0] < self.now - REMOTE_JOIN_US:
                waiting.popleft()
                self.unjoined[why] += 1

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
            for ts_id in [k for k, v in self.ts_ids.items() if v is s]:
                del self.ts_ids[ts_id]
            out.append(s)
        return out

    def finish(self) -> list[Session]:
        """The end of the stream: every session not yet handed out."""
        out = self.drain(keep_us=-(1 << 62))
        seen = {id(s) for s in out}
        out += [s for s in self.latest.values() if id(s) not in seen]
        self.latest.clear()
        self.privileges.clear()
        self.now = 1 << 62
        self._expire()
        self.ts_ids.clear()
        self.rdp.clear()
        out.sort(key=lambda s: s.seq)
        return out


def _login_user(lt: Lifetime) -> str:
    return "" if lt.login_user in _AUDIT_UNSET else lt.login_user or lt.user


def _session_key(lt: Lifetime) -> str:
    if lt.source_is_auditd:
        return "" if lt.logon_id in _AUDIT_UNSET else lt.logon_id
    return lt.logon_id
