"""The correlation pipeline: each host's events streamed from the store in time order
through :class:`HostSessions` and :class:`HostLifetimes`, finished lifetimes and sessions
handed to a sink as they become final.

Memory is bounded by what is open at one moment on one host (processes running, recent
ends, sessions), not by the size of the case. A host whose clock jumped is the exception:
its events are read whole and re-sorted by :mod:`clock` order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Protocol

import orjson
from sqlalchemy import Connection, Engine, case, func, select

from proctrail.store.correlate.clock import ClockFixes, clock_fixes
from proctrail.store.correlate.extract import ProcEvent, extract
from proctrail.store.correlate.integrity import Found
from proctrail.store.correlate.lifetimes import HostLifetimes, Lifetime
from proctrail.store.correlate.sessions import HostSessions, Session, SessionEvent
from proctrail.store.models import Channel, EventRow, Host
from proctrail.store.readers.base import parse_time

# Within one microsecond: a logon before its privileges and processes, starts before what
# processes do, ends after, the logoff last.
RANK = {"logon": 0, "special_privileges": 1, "process_start": 2, "token_change": 3,
        "network_connect": 4, "dns_query": 4, "process_end": 5, "logoff": 6}
SESSION_KINDS = ("logon", "logoff", "special_privileges")
DRAIN_EVERY = 2000

Event = ProcEvent | SessionEvent


class Sink(Protocol):
    """Where final lifetimes and sessions go (the store, or a list in tests)."""

    def lifetimes(self, done: list[Lifetime]) -> None: ...

    def sessions(self, done: list[Session]) -> None: ...


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


def clock_scan(engine: Engine) -> tuple[ClockFixes, list[Found]]:
    """Clock jumps of every channel, from record numbers, times and logged changes."""
    query = (select(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                    EventRow.record_id, EventRow.ts_us)
             .where(EventRow.record_id > 0)
             .order_by(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                       EventRow.record_id))
    with engine.connect() as conn:
        changes = logged_clock_changes(conn)
        return clock_fixes((tuple(r) for r in
                            conn.execution_options(yield_per=10_000).execute(query)), changes)


def host_ids(conn: Connection) -> list[int]:
    """Hosts in name order, so that ids do not depend on the order files came in (sorted
    here: a database's collation would make them depend on the server)."""
    return [r.id for r in sorted(conn.execute(select(Host.id, Host.key)), key=lambda r: r.key)]


def host_events(conn: Connection, host_id: int, fixes: ClockFixes | None = None
                ) -> Iterator[Event]:
    """One host's process and session events in stream order."""
    rank = case(RANK, value=EventRow.kind, else_=9)
    query = (
        select(EventRow.id, EventRow.source_id, EventRow.channel_id, Channel.name,
               EventRow.event_id, EventRow.record_id, EventRow.ts_us, EventRow.kind,
               EventRow.data)
        .join(Channel, Channel.id == EventRow.channel_id)
        .where(EventRow.host_id == host_id, EventRow.kind.in_(tuple(RANK)))
        .order_by(func.coalesce(EventRow.ts_us, -1), rank, EventRow.record_id, Channel.key,
                  EventRow.event_id, EventRow.id)
    )
    rows = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
    if fixes is None or host_id not in fixes.hosts:
        for row in rows:
            e = _event(host_id, row)
            if e is not None:
                yield e
        return
    keyed = []
    for row in rows:
        e = _event(host_id, row)
        if e is None:
            continue
        e.order_us = fixes.order_us((host_id, row.channel_id, row.source_id), row.record_id,
                                    row.ts_us)
        ts = e.order_us if e.order_us is not None else -1
        keyed.append(((ts, RANK[row.kind], row.record_id, row.name.lower(), row.event_id,
                       row.id), e))
    keyed.sort(key=lambda pair: pair[0])
    for _key, e in keyed:
        yield e


def _event(host_id: int, row: object) -> Event | None:
    kind = row.kind  # type: ignore[attr-defined]
    fields = orjson.loads(row.data)  # type: ignore[attr-defined]
    if kind in SESSION_KINDS:
        return SessionEvent(row.id, host_id, row.event_id, kind,  # type: ignore[attr-defined]
                            row.ts_us, row.record_id, fields)  # type: ignore[attr-defined]
    return extract(row.id, host_id, row.name, row.event_id,  # type: ignore[attr-defined]
                   row.record_id, row.ts_us, kind, fields)  # type: ignore[attr-defined]


def run(engine: Engine, sink: Sink, fixes: ClockFixes | None = None,
        progress: Callable[[int], None] | None = None) -> None:
    """Correlate every host of the store into ``sink``."""
    lifetime_ids, session_ids = itertools.count(1), itertools.count(1)
    seen = 0
    with engine.connect() as conn:
        for host_id in host_ids(conn):
            sessions = HostSessions(host_id, session_ids)
            lifetimes = HostLifetimes(host_id, lifetime_ids, sessions.link)
            for e in host_events(conn, host_id, fixes):
                if isinstance(e, SessionEvent):
                    sessions.feed(e)
                    lifetimes.now = sessions.now = max(lifetimes.now, sessions.now)
                else:
                    lifetimes.feed(e)
                    sessions.now = lifetimes.now
                seen += 1
                if seen % DRAIN_EVERY == 0:
                    # Sessions first: lifetimes drained now may name one ended long ago.
                    sink.sessions(sessions.drain())
                    sink.lifetimes(lifetimes.drain())
                    if progress is not None:
                        progress(seen)
            sink.sessions(sessions.finish())
            sink.lifetimes(lifetimes.finish())
    if progress is not None:
        progress(seen)


class Collect:
    """A sink that keeps everything, in id order: for tests and small cases."""

    def __init__(self) -> None:
        self.all_lifetimes: list[Lifetime] = []
        self.all_sessions: list[Session] = []

    def lifetimes(self, done: list[Lifetime]) -> None:
        self.all_lifetimes.extend(done)

    def sessions(self, done: list[Session]) -> None:
        self.all_sessions.extend(done)
