"""The correlation pipeline: each host's events streamed from the store in time order
through :class:`HostSessions` and :class:`HostLifetimes`, finished lifetimes and sessions
handed to a sink as they become final.

Memory is bounded by what is open at one moment on one host (processes running, recent
ends, sessions), not by the size of the case. A host whose clock jumped is the exception:
its events are read whole and re-sorted by :mod:`clock` order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Engine, Select, case, func, select

from proctrail.store.correlate.access import port
from proctrail.store.correlate.clock import ClockFixes, clock_fixes
from proctrail.store.correlate.extract import (
    IMAGE_LOAD,
    SECURITY,
    Act,
    ProcEvent,
    Unplaced,
    account,
    extract,
    logon_hex,
    pid_of,
)
from proctrail.store.correlate.ids import StableIds, event_key
from proctrail.store.correlate.integrity import Found
from proctrail.store.correlate.lifetimes import HostLifetimes, Lifetime
from proctrail.store.correlate.offsets import (
    collector_offsets,
    offset_anomalies,
    source_hosts,
)
from proctrail.store.correlate.sessions import HostSessions, Session, SessionEvent
from proctrail.store.events import ACTIVITY_KINDS
from proctrail.store.hosts import machine_of
from proctrail.store.models import Channel, EventRow, Host
from proctrail.store.readers.base import parse_time

# Within one microsecond: a boot before all, a logon before its privileges and processes,
# starts before what processes do, ends after, the logoff last.
RANK = {"boot": -1, "audit_start": -1, "logon": 0, "special_privileges": 1,
        "remote_session": 1, "process_start": 2, "explicit_credentials": 4,
        "token_change": 3, **dict.fromkeys(ACTIVITY_KINDS, 4),
        "process_end": 5, "logoff": 6, "image_load": 4}
# Sysmon 7 (IMAGE_LOAD) is streamed only when asked (``image_loads``: a row a DLL loaded).
STREAM_KINDS = tuple(k for k in RANK if k != IMAGE_LOAD)
SESSION_KINDS = ("logon", "logoff", "special_privileges", "remote_session")
# audit_start events that are a boot of the machine: Windows is starting up (4608, 512),
# the event log service started (System 6005).
BOOT_STARTS = {("security", 4608), ("security", 512), ("system", 6005)}
QUIET_US = 60_000_000  # a reboot silences a host's log this long; a service restart does not
REORDER_US = 60_000_000  # Sysmon's header lags its UtcTime by seconds: reordered within this
DRAIN_EVERY = 2000


class Boot:
    """The host started up: every process before it has ended. A service's own start
    (Sysmon 4, auditd DAEMON_START) is one only after the host's log fell quiet: Sysmon
    installed or auditd restarted during an incident ends no process."""

    __slots__ = ("after_quiet", "event_pk", "order_us", "ts_us")

    def __init__(self, event_pk: int, ts_us: int | None, after_quiet: bool = False) -> None:
        self.event_pk, self.ts_us, self.order_us = event_pk, ts_us, ts_us
        self.after_quiet = after_quiet


Event = ProcEvent | SessionEvent | Boot


class Sink(Protocol):
    """Where final lifetimes and sessions go (the store, or a list in tests), and the
    records no process could be found for."""

    def lifetimes(self, done: list[Lifetime]) -> None: ...

    def sessions(self, done: list[Session]) -> None: ...

    def unplaced(self, found: list[Unplaced]) -> None: ...

    def activity(self, running: list[Lifetime]) -> None:
        """What running lifetimes did so far: their ``acts``, to be taken and cleared."""
        ...


def logged_clock_changes(conn: Connection) -> dict[int, list[int]]:
    """Per host, each logged clock change (4616, Kernel-General 1): new minus old time."""
    out: dict[int, list[int]] = {}
    query = select(EventRow.host_id, EventRow.data).where(EventRow.kind == "time_change")
    for host_id, data in conn.execute(query):
        f = orjson.loads(data)
        old = parse_time(f.get("PreviousTime") or f.get("OldTime"))
        new = parse_time(f.get("NewTime"))
        if old is not None and new is not None and old != new:
            out.setdefault(host_id, []).append(new - old)
    return out


def record_order(*where: Any) -> Select[Any]:
    """(host, channel, source, record id, time) of the records with a record id (of those
    ``where`` says), in that order: what :func:`~.clock.clock_fixes` reads."""
    return (select(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                   EventRow.record_id, EventRow.ts_us)
            .where(EventRow.record_id > 0, *where)
            .order_by(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                      EventRow.record_id))


def clock_scan(engine: Engine) -> tuple[ClockFixes, list[Found]]:
    """Clock jumps of every channel, from record numbers, times and logged changes."""
    with engine.connect() as conn:
        changes = logged_clock_changes(conn)
        fixes, found = clock_fixes((tuple(r) for r in conn.execute(
            record_order().execution_options(yield_per=10_000))), changes)
    fixes.sources = collector_offsets(engine)
    source_hosts(engine, fixes.sources)
    return fixes, found + offset_anomalies(engine, fixes.sources)


def machines(conn: Connection) -> list[list[int]]:
    """Each machine's host ids (its canonical name's first, then the other spellings), the
    machines in name order, so that nothing depends on the order files came in (sorted
    here: a database's collation would make it depend on the server)."""
    keys: dict[int, str] = dict(conn.execute(select(Host.id, Host.key)).all())  # type: ignore[arg-type]
    alias = machine_of(keys)
    groups: dict[int, list[int]] = {}
    for host in sorted(keys, key=lambda h: (h in alias, keys[h])):
        groups.setdefault(alias.get(host, host), []).append(host)
    return sorted(groups.values(), key=lambda ids: keys[ids[0]])


def host_events(conn: Connection, host_id: int | Iterable[int],
                fixes: ClockFixes | None = None,
                unplaced: Callable[[Unplaced], None] | None = None,
                kinds: tuple[str, ...] = STREAM_KINDS) -> Iterator[Event]:
    """One machine's process, session and boot events in stream order (``host_id`` may
    be every spelling of the machine). Sysmon events sit at their ``UtcTime``, which the
    header time can lag: they are reordered within :data:`REORDER_US`."""
    return (e for _key, e in keyed_events(conn, host_id, fixes, unplaced, kinds=kinds))


StreamKey = tuple[int, int, int, int]  # time and rank, header time, record id, row id


def keyed_events(conn: Connection, host_id: int | Iterable[int],
                 fixes: ClockFixes | None = None,
                 unplaced: Callable[[Unplaced], None] | None = None,
                 after_id: int = 0, upto: int | None = None,
                 kinds: tuple[str, ...] = STREAM_KINDS) -> Iterator[tuple[StreamKey, Event]]:
    """:func:`host_events` with each event's place in the stream, of the rows stored
    after row ``after_id`` (up to row ``upto``): events that come later sort among them
    by the key alone."""
    members = [host_id] if isinstance(host_id, int) else sorted(host_id)
    main = members[0]
    keys = dict(conn.execute(select(Host.id, Host.key).where(Host.id.in_(members))).all())
    rank = case(RANK, value=EventRow.kind, else_=9)
    query = (
        select(EventRow.id, EventRow.host_id, EventRow.source_id, EventRow.channel_id,
               Channel.name, Channel.key.label("channel_key"), EventRow.event_id,
               EventRow.record_id, EventRow.ts_us, EventRow.ts_key, EventRow.kind,
               EventRow.data)
        .join(Channel, Channel.id == EventRow.channel_id)
        .where(*_in_range(members, kinds, after_id),
               EventRow.id <= (upto if upto is not None else 1 << 62))
        .order_by(func.coalesce(EventRow.ts_us, -1), rank, EventRow.record_id, Channel.key,
                  EventRow.event_id, EventRow.id)
    )
    # Options on the statement, not the connection: a caller's connection (live updates
    # write on it) must not become a streaming one.
    rows = conn.execute(query.execution_options(stream_results=True, yield_per=5000))
    whole = fixes is not None and any(m in fixes.hosts for m in members)
    pending: list[tuple[int, int, StreamKey, Event]] = []  # (time and rank, SQL order, ...)
    seq = 0
    sources = fixes.sources if fixes is not None and whole else {}
    for row in rows:
        shift = 0
        if row.source_id in sources and row.ts_us is not None \
                and not row.channel_key.endswith("sysmon/operational"):
            shift = sources[row.source_id].at(row.id)  # (Sysmon's times are its UtcTime)
        e = _event(main, row, keys, shift)
        if e is None:
            continue
        if isinstance(e, Unplaced):
            if unplaced is not None:
                unplaced(e)
            continue
        if whole and row.ts_us is not None:
            shifted = fixes.order_us(  # type: ignore[union-attr]
                (row.host_id, row.channel_id, row.source_id), row.record_id, row.ts_us)
            e.order_us = (e.order_us if e.order_us is not None else row.ts_us) \
                + (shifted - row.ts_us if shifted is not None else 0)
        # Ties in time and rank keep the SQL order (record, channel, event id, row id).
        ts = e.order_us if e.order_us is not None else -1
        seq += 1
        place = (ts << 4) | (RANK[row.kind] + 1)
        key = (place, row.ts_us if row.ts_us is not None else -1, row.record_id, row.id)
        heapq.heappush(pending, (place, seq, key, e))
        if not whole:
            horizon = (row.ts_us if row.ts_us is not None else -1) - REORDER_US
            while pending and pending[0][0] >> 4 < horizon:
                _place, _seq, key, e = heapq.heappop(pending)
                yield key, e
    while pending:
        _place, _seq, key, e = heapq.heappop(pending)
        yield key, e


def _in_range(members: list[int], kinds: tuple[str, ...], after_id: int) -> list[Any]:
    """Rows of ``members`` of ``kinds`` after row ``after_id``. A few new rows of a big
    case are found by the row id: the host and kind columns are made expressions there,
    which no index serves, so the database walks the id range instead of the host's
    every event."""
    if not after_id:
        return [EventRow.host_id.in_(members), EventRow.kind.in_(kinds)]
    return [EventRow.id > after_id, (EventRow.host_id + 0).in_(members),
            (EventRow.kind + "").in_(kinds)]


def _event(host_id: int, row: object, host_keys: dict[int, str], shift: int = 0
           ) -> Event | Unplaced | None:
    """The event of one row; its header time moved back by ``shift`` (a collector's
    offset, see :mod:`.offsets`)."""
    r: object = row
    kind = r.kind  # type: ignore[attr-defined]
    ts = r.ts_us - shift if r.ts_us is not None else None  # type: ignore[attr-defined]

    fields = orjson.loads(r.data)  # type: ignore[attr-defined]
    channel_key = r.channel_key  # type: ignore[attr-defined]
    if kind in ("boot", "audit_start"):
        if kind == "audit_start" and (channel_key, r.event_id) not in BOOT_STARTS:  # type: ignore[attr-defined]
            return None
        if fields.get("State", "Started").strip().lower() == "stopped":
            return None  # Sysmon 4: the service stopped
        return Boot(r.id, ts, after_quiet=kind == "boot" and (  # type: ignore[attr-defined]
            channel_key.endswith("sysmon/operational") or channel_key == "auditd"))
    key = event_key(host_keys.get(r.host_id, ""), channel_key,  # type: ignore[attr-defined]
                    r.record_id, r.ts_key, r.event_id)  # type: ignore[attr-defined]
    if kind in SESSION_KINDS:
        return SessionEvent(r.id, host_id, r.event_id, kind,  # type: ignore[attr-defined]
                            ts, r.record_id, fields, ts, key)  # type: ignore[attr-defined]
    if kind == "explicit_credentials":
        e = _explicit(r.id, host_id, r.record_id, ts, fields)  # type: ignore[attr-defined]
    else:
            e = extract(r.id, host_id, r.name, r.event_id,  # type: ignore[attr-defined]
                    r.record_id, ts, kind, fields)  # type: ignore[attr-defined]
    if isinstance(e, ProcEvent):  # a 4648 too: in the stream at its time, not before all
        e.key = key
        e.source_id = r.source_id  # type: ignore[attr-defined]
        if e.logged_us is not None and e.ts_us is not None and e.ts_us != e.logged_us:
            e.order_us = max(e.ts_us, e.logged_us - REORDER_US)
        else:
            e.order_us = e.ts_us
    return e


def _explicit(event_pk: int, host_id: int, record_id: int, ts: int | None,
              f: dict[str, str]) -> ProcEvent | Unplaced:
    """A 4648 as what its calling process did (host + ProcessId running then, image
    agreeing): whose credentials, against which server, from which account."""
    pid = pid_of(f.get("ProcessId"), True)
    if not pid:
        return Unplaced(event_pk, host_id, ts, "4648 without ProcessId")
    target = account(f.get("TargetDomainName"), f.get("TargetUserName"))
    subject = account(f.get("SubjectDomainName"), f.get("SubjectUserName"))
    info = f.get("TargetInfo", "")
    act = Act("out", "", "", None, f.get("IpAddress", "").strip("- "), port(f.get("IpPort")),
              f.get("TargetServerName", "").strip("- "), info if info != "-" else "",
              detail=f"as {target} by {subject}")
    return ProcEvent(event_pk, host_id, False, SECURITY, ts, record_id, pid,
                     image=f.get("ProcessName", ""), activity="explicit_credentials",
                     user=subject, logon_id=logon_hex(f.get("SubjectLogonId")),
                     target_user=target, event_id=4648, act=act)


def run(engine: Engine, sink: Sink, fixes: ClockFixes | None = None,
        progress: Callable[[int], None] | None = None,
        groups: list[list[int]] | None = None,
        kinds: tuple[str, ...] = STREAM_KINDS) -> None:
    """Correlate every machine of the store into ``sink``, each under its canonical host
    id: ``groups`` are the host ids of each machine (:func:`machines` by default)."""
    seen = 0
    with engine.connect() as conn:
        for members in groups if groups is not None else machines(conn):
            seen = run_machine(conn, members, sink, fixes, progress, seen, kinds)
    if progress is not None:
        progress(seen)


def run_machine(conn: Connection, members: list[int], sink: Sink,
                fixes: ClockFixes | None = None,
                progress: Callable[[int], None] | None = None, seen: int = 0,
                kinds: tuple[str, ...] = STREAM_KINDS) -> int:
    """Correlate one machine (``members``: its host ids, the canonical first) into
    ``sink``; a machine's ids and state depend on nothing outside it, so machines can run
    in any order or at once. Returns ``seen`` plus the events it read."""
    machine = MachineRun(members[0], seen)
    for e in host_events(conn, members, fixes, machine.unplaced.append, kinds):
        machine.feed(e, sink, progress)
    machine.finish(sink)
    return machine.seen


class MachineRun:
    """One machine's correlation state as its events stream by: the open sessions and
    lifetimes, what no process was found for. Kept between runs, it takes the events that
    come later (:mod:`.live`)."""

    def __init__(self, host_id: int, seen: int = 0) -> None:
        self.host_id = host_id
        self.sessions = HostSessions(host_id, StableIds())
        self.lifetimes = HostLifetimes(host_id, StableIds(), self.sessions.link)
        self.unplaced: list[Unplaced] = []
        self.seen = seen

    def feed(self, e: Event, sink: Sink,
             progress: Callable[[int], None] | None = None) -> None:
        """One event, in stream order; what became final goes to ``sink`` now and then."""
        lifetimes, sessions = self.lifetimes, self.sessions
        before = lifetimes.now
        lifetimes.observe(e.order_us if e.order_us is not None else e.ts_us)
        sessions.now = lifetimes.now
        if isinstance(e, SessionEvent):
            sessions.feed(e)
        elif isinstance(e, Boot):
            at = e.order_us if e.order_us is not None else e.ts_us
            if not e.after_quiet or at is None or before < 0 or at - before >= QUIET_US:
                lifetimes.boot()
        else:
            lifetimes.feed(e)
        self.seen += 1
        if self.seen % DRAIN_EVERY == 0:
            self.drain(sink)
            if progress is not None:
                progress(self.seen)

    def drain(self, sink: Sink) -> None:
        """Hand ``sink`` what is final, and the activity of busy running lifetimes."""
        # Sessions first: lifetimes drained now may name one ended long ago.
        sink.sessions(self.sessions.drain())
        sink.lifetimes(self.lifetimes.drain())
        busy = self.lifetimes.busy()
        if busy:
            sink.activity(busy)
        if self.unplaced:  # the same list goes on filling (host_events appends to it)
            sink.unplaced(self.unplaced[:])
            self.unplaced.clear()

    def finish(self, sink: Sink) -> None:
        """The end of the stream: everything still open goes to ``sink`` as it stands."""
        host = self.host_id
        sink.sessions(self.sessions.finish())
        sink.lifetimes(self.lifetimes.finish())
        unplaced = self.unplaced[:]
        self.unplaced.clear()
        unplaced += [Unplaced(None, host, None, reason, n)
                     for reason, n in sorted(self.lifetimes.unplaced.items())]
        unplaced += [Unplaced(None, host, None, f"remote session event: {reason}", n)
                     for reason, n in sorted(self.sessions.unjoined.items())]
        sink.unplaced(unplaced)


class Collect:
    """A sink that keeps everything, in id order: for tests and small cases."""

    def __init__(self) -> None:
        self.all_lifetimes: list[Lifetime] = []
        self.all_sessions: list[Session] = []
        self.all_unplaced: list[Unplaced] = []

    def lifetimes(self, done: list[Lifetime]) -> None:
        self.all_lifetimes.extend(done)

    def sessions(self, done: list[Session]) -> None:
        self.all_sessions.extend(done)

    def unplaced(self, found: list[Unplaced]) -> None:
        self.all_unplaced.extend(found)

    def activity(self, running: list[Lifetime]) -> None:
        """Left on the lifetimes: everything stays in memory here."""


def stream_kinds(image_loads: bool = False) -> tuple[str, ...]:
    """The event kinds correlation reads: with ``image_loads``, Sysmon 7 too."""
    return (*STREAM_KINDS, IMAGE_LOAD) if image_loads else STREAM_KINDS
