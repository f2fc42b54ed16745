"""4648 (explicit credentials) linked to the session it opened, on any machine of the case.

Runs after every machine's sessions are written (:func:`link_explicit`, in correlation's
transaction). A 4648 names a target server and user; the target session is a session of
that user on that machine starting from :data:`BEFORE_US` before to :data:`AFTER_US` after
the 4648. On the same machine (``localhost``, its own name) the 4624's ProcessId must also
be the 4648's where both are logged. Among the candidates, the one whose LogonGuid is the
4648's TargetLogonGuid (exact), else the nearest in time that no earlier 4648 took.
What links nothing is counted by why; a wrong link is worse than none.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, select, update

from proctrail.store.correlate.extract import account, pid_of
from proctrail.store.correlate.sessions import user_key
from proctrail.store.hosts import host_names, is_address, machine_ids
from proctrail.store.models import Activity, EventRow, LogonSession, Process

BEFORE_US = 1_000_000
AFTER_US = 5_000_000
# A session whose logon is not in the logs (a cleared Security log) is known by its
# processes: its first one starts this soon after the 4648 (userinit, a few seconds in).
FIRST_PROCESS_US = 60_000_000
PAGE = 1000
EXPLICIT_MAX = 20  # a session keeps this many explicit-credential entries; the rest counted
_LOCAL = {"localhost", "127.0.0.1", "::1", "."}
_NO_GUID = {"", "{00000000-0000-0000-0000-000000000000}"}


def _targets(conn: Connection) -> tuple[dict[str, int], dict[int, str], dict[int, int]]:
    """Every spelling and unambiguous short name of a machine (lower case) to its id; each
    machine's shown name; every host id to its machine."""
    names = host_names(conn)
    by_name: dict[str, int] = {}
    short: dict[str, set[int]] = {}
    for machine, spellings in names.items():
        for name in spellings:
            key = name.strip().lower()
            by_name[key] = machine
            if not is_address(key):
                short.setdefault(key.split(".", 1)[0], set()).add(machine)
    for label, machines in short.items():
        if len(machines) == 1:
            by_name.setdefault(label, next(iter(machines)))
    return by_name, {m: n[0] for m, n in names.items()}, machine_ids(conn)


def _target_machine(server: str, caller: int, by_name: dict[str, int]) -> int | None:
    key = server.strip().lower().lstrip("\\")
    if key in _LOCAL:
        return caller
    found = by_name.get(key)
    if found is None and not is_address(key):
        found = by_name.get(key.split(".", 1)[0])
    return found


def link_explicit(conn: Connection) -> Counter[str]:
    """Link every stored 4648 to its target session: an ``explicit`` entry in that session's
    ``remote`` JSON, and the caller's activity row naming the session. Returns the 4648s
    that linked nothing, by why (and ``linked``)."""
    _unlink(conn)
    by_name, shown, machine_of = _targets(conn)
    counts: Counter[str] = Counter()
    claimed: dict[int, int] = {}  # session id -> its start: taken by an earlier 4648
    after: tuple[int, int] = (-(1 << 62), 0)
    while True:
        page = conn.execute(
            select(EventRow.id, EventRow.host_id, EventRow.ts_us, EventRow.data)
            .where(EventRow.kind == "explicit_credentials", EventRow.ts_us.is_not(None),
                   EventRow.event_id == 4648,
                   (EventRow.ts_us > after[0])
                   | ((EventRow.ts_us == after[0]) & (EventRow.id > after[1])))
            .order_by(EventRow.ts_us, EventRow.id).limit(PAGE)).all()
        if not page:
            break
        after = (page[-1].ts_us, page[-1].id)
        links: dict[int, list[dict[str, Any]]] = {}
        notes: list[dict[str, Any]] = []
        for row in page:
            for sid in [s for s, start in claimed.items() if start < row.ts_us - BEFORE_US]:
                del claimed[sid]
            why, found = _link(conn, row, by_name, shown, machine_of, claimed)
            counts[why] += 1
            if found is None:
                continue
            session, entry, target = found
            claimed[session] = entry.pop("start")
            links.setdefault(session, []).append(entry)
            notes.append({"b_event": row.id, "b_note": f"{LINK_NOTE}{target}"})
        _write(conn, links, notes)
    return counts


LINK_NOTE = " → session "


def _unlink(conn: Connection) -> None:
    """Forget the links an earlier run made (live correlation links again after each
    update; a full one starts from empty tables), so that linking twice is linking once."""
    changes = []
    for sid, text in conn.execute(select(LogonSession.id, LogonSession.remote)
                                  .where(LogonSession.remote.contains('"explicit"'))):
        remote = _fields(text)
        remote.pop("explicit", None)
        remote.pop("explicit_more", None)
        changes.append({"b_id": sid, "b_remote": orjson.dumps(remote).decode()})
    if changes:
        conn.execute(update(LogonSession).where(LogonSession.id == bindparam("b_id"))
                     .values(remote=bindparam("b_remote")), changes)
    notes = [{"b_id": aid, "b_detail": detail[:detail.index(LINK_NOTE)]}
             for aid, detail in conn.execute(
                 select(Activity.id, Activity.detail)
                 .where(Activity.kind == "explicit_credentials",
                        Activity.detail.contains(LINK_NOTE)))]
    if notes:
        conn.execute(update(Activity).where(Activity.id == bindparam("b_id"))
                     .values(detail=bindparam("b_detail")), notes)


def _link(conn: Connection, row: Any, by_name: dict[str, int], shown: dict[int, str],
          machine_of: dict[int, int], claimed: dict[int, int]
          ) -> tuple[str, tuple[int, dict[str, Any], str] | None]:
    """One 4648's target session, or why there is none."""
    try:
        f = orjson.loads(row.data)
    except orjson.JSONDecodeError:
        return "unreadable 4648", None
    server = str(f.get("TargetServerName") or "").strip()
    if server in ("", "-"):
        return "no TargetServerName", None
    caller = machine_of.get(row.host_id, row.host_id)
    target = _target_machine(server, caller, by_name)
    if target is None:
        return "target server not a host of the case", None
    user = user_key(str(f.get("TargetUserName") or ""))
    if not user or user == "-":
        return "no TargetUserName", None
    ts = row.ts_us
    rows = conn.execute(
        select(LogonSession.id, LogonSession.user, LogonSession.start_us,
               LogonSession.logon_id, EventRow.data)
        .join(EventRow, EventRow.id == LogonSession.logon_event, isouter=True)
        .where(LogonSession.host_id == target,
               LogonSession.start_us.between(ts - BEFORE_US, ts + AFTER_US))
        .order_by(LogonSession.start_us, LogonSession.id)).all()
    pid = pid_of(str(f.get("ProcessId") or ""), True)
    guid = str(f.get("TargetLogonGuid") or "").lower()
    candidates = []
    for s in rows:
        if user_key(s.user or "") != user or s.id in claimed:
            continue
        logon = _fields(s.data)
        if target == caller and pid:
            logged = pid_of(str(logon.get("ProcessId") or ""), True)
            if logged and logged != pid:
                continue
        candidates.append((s, str(logon.get("LogonGuid") or "").lower()))
    if not candidates:
        s = _by_first_process(conn, target, user, ts, claimed)
        if s is None:
            return "no session of its user on the target within -1 s..+5 s", None
        by = "first process"
    else:
        exact = [c for c in candidates if guid not in _NO_GUID and c[1] == guid]
        by = "logon guid" if len(exact) == 1 else "time"
        s = exact[0][0] if len(exact) == 1 else min(
            (c[0] for c in candidates), key=lambda s: (abs(s.start_us - ts), s.start_us, s.id))
    entry = {"ts": ts, "host": shown.get(caller, ""), "pid": pid,
             "image": str(f.get("ProcessName") or "").strip("- "),
             "user": account(f.get("SubjectDomainName"), f.get("SubjectUserName")),
             "server": server, "by": by, "event": row.id, "start": s.start_us}
    return "linked", (s.id, entry, f"{s.logon_id} on {shown.get(target, '')}")


def _by_first_process(conn: Connection, target: int, user: str, ts: int,
                      claimed: dict[int, int]) -> Any:
    """The one session of ``user`` on ``target`` whose logon is not in the logs and whose
    first process started within :data:`FIRST_PROCESS_US` of ``ts`` (None if none, or
    several): its ``start_us`` is that first start."""
    first = func.min(Process.start_us)
    rows = conn.execute(
        select(LogonSession.id, LogonSession.user, first.label("start_us"),
               LogonSession.logon_id)
        .join(Process, Process.session_id == LogonSession.id)
        .where(LogonSession.host_id == target, LogonSession.start_us.is_(None))
        .group_by(LogonSession.id, LogonSession.user, LogonSession.logon_id)
        .having(first.between(ts - BEFORE_US, ts + FIRST_PROCESS_US))).all()
    fits = [r for r in rows if user_key(r.user or "") == user and r.id not in claimed]
    return fits[0] if len(fits) == 1 else None


def _fields(data: str | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        out = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}


def _write(conn: Connection, links: dict[int, list[dict[str, Any]]],
           notes: list[dict[str, Any]]) -> None:
    """Merge the entries into their sessions' ``remote``; name the session on the caller's
    activity rows."""
    if links:
        current = dict(conn.execute(select(LogonSession.id, LogonSession.remote)
                                    .where(LogonSession.id.in_(list(links)))).all())
        changes = []
        for sid, entries in links.items():
            remote = _fields(current.get(sid)) or {"counts": {}, "from": [], "events": [],
                                                   "more": 0}
            kept = remote.setdefault("explicit", [])
            room = max(0, EXPLICIT_MAX - len(kept))
            kept += entries[:room]
            remote["explicit_more"] = remote.get("explicit_more", 0) + len(entries) - \
                len(entries[:room])
            changes.append({"b_id": sid, "b_remote": orjson.dumps(remote).decode()})
        conn.execute(update(LogonSession).where(LogonSession.id == bindparam("b_id"))
                     .values(remote=bindparam("b_remote")), changes)
    if notes:
        conn.execute(update(Activity)
                     .where(Activity.event_pk == bindparam("b_event"),
                            Activity.kind == "explicit_credentials")
                     .values(detail=Activity.detail.concat(bindparam("b_note"))), notes)



def remote_fields(text: str | None) -> dict[str, Any]:
    """A session's stored ``remote`` JSON as export fields: source addresses, clients,
    reconnects (4778 or LocalSessionManager 25, which log the same one: the larger count),
    disconnects (likewise 4779, 24 or 40), explicit
    credentials from (``host pid image`` of each 4648 that opened it)."""
    r = _fields(text)
    counts = r.get("counts") if isinstance(r.get("counts"), dict) else {}
    froms = [a for a in r.get("from") or () if isinstance(a, dict)]
    explicit = [e for e in r.get("explicit") or () if isinstance(e, dict)]

    def n(*ids: str) -> int:
        return max(int(counts.get(i, 0) or 0) for i in ids)
    return {
        "remote_from": [str(a.get("addr", "")) for a in froms],
        "remote_clients": sorted({str(a.get("client", "")) for a in froms} - {""}),
        "reconnects": n("4778", "25"), "disconnects": n("4779", "24", "40"),
        "rdp_authenticated": n("1149"),
        "explicit_from": [" ".join(str(p) for p in (e.get("host", ""), e.get("pid") or "",
                                                    e.get("image", "")) if p)
                          for e in explicit],
    }


def remote_summary(text: str | None) -> str:
    """One line of how a session came in, e.g. ``from 1.2.3.4 (robertos-mbp) · 1 reconnect
    · explicit credentials from WORKSTATION5 GruntHTTP.exe``; empty when nothing is known.
    Plain text (from the logs): the caller escapes it for any markup."""
    r = _fields(text)
    if not r:
        return ""
    f = remote_fields(text)
    parts = []
    froms = [a for a in r.get("from") or () if isinstance(a, dict)]
    if froms:
        parts.append("from " + ", ".join(
            str(a.get("addr", "")) + (f" ({a['client']})" if a.get("client") else "")
            for a in froms[:3]) + (" …" if len(froms) > 3 else ""))
    for count, word in ((f["reconnects"], "reconnect"), (f["disconnects"], "disconnect")):
        if count:
            parts.append(f"{count} {word}{'s' if count != 1 else ''}")
    explicit = [e for e in r.get("explicit") or () if isinstance(e, dict)]
    if explicit:
        callers = []
        for e in explicit:
            host = str(e.get("host", "")).split(".", 1)[0]
            image = str(e.get("image", "")).replace("/", "\\").rsplit("\\", 1)[-1]
            caller = " ".join(p for p in (host, image) if p)
            if caller not in callers:
                callers.append(caller)
        parts.append("explicit credentials from " + ", ".join(callers[:2])
                     + (" …" if len(callers) > 2 else ""))
    return " · ".join(parts)
