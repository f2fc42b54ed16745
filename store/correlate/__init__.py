"""Correlation: process lifetimes and logon sessions from stored events, saved in the store.

Correlation is recomputed from every stored event each time it runs, so it is repeatable
and independent of the order files were ingested in; processes left open by one file are
closed by exit events from the next. It streams host by host (:mod:`.pipeline`), writing
lifetimes as they become final, so memory does not grow with the case.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from proctrail.store.bulk import BulkInsert
from proctrail.store.correlate.damage import damage_anomalies
from proctrail.store.correlate.extract import ProcEvent, Unplaced
from proctrail.store.correlate.integrity import Found, event_anomalies, record_gaps
from proctrail.store.correlate.lifetimes import Lifetime, build_lifetimes
from proctrail.store.correlate.pipeline import (
    STREAM_KINDS,
    Collect,
    clock_scan,
    host_events,
    machines,
    run,
    stream_kinds,
)
from proctrail.store.correlate.remote import link_explicit
from proctrail.store.correlate.rows import (
    ACTIVITY_COLUMNS,
    PROCESS_COLUMNS,
    SESSION_COLUMNS,
    SOURCE_COLUMNS,
    Rows,
    RowSink,
)
from proctrail.store.correlate.sessions import Session
from proctrail.store.correlate.tasks import MachineTask, correlate_machine
from proctrail.store.db import shareable
from proctrail.store.hosts import assign_aliases
from proctrail.store.locks import case_lock
from proctrail.store.models import (
    CORRELATED_THROUGH,
    GENERATION,
    Activity,
    Anomaly,
    CaseMeta,
    EventRow,
    Finding,
    LogonSession,
    Process,
    ProcessSource,
)
from proctrail.store.tasks import Inline, executor, local_executor

if TYPE_CHECKING:
    from proctrail.store.correlate.live import LiveCase

__all__ = ["CorrelationReport", "Lifetime", "ProcEvent", "Session", "build_lifetimes",
           "correlate", "correlated", "process_events"]

BATCH = 5000
UNPLACED = "unplaced_event"
LOGGED_ANOMALY_KINDS = ("log_cleared", "time_change", "audit_stop", "audit_start")


@dataclass
class CorrelationReport:
    """What one correlation run produced."""

    processes: int
    sessions: int
    flags: dict[str, int]
    anomalies: dict[str, int]
    unplaced: dict[str, int]  # records about a process that none could be found for, by why
    # 4648s by whether they linked to their target session (``linked``) or why not
    explicit: dict[str, int] = field(default_factory=dict)

    def unplaced_total(self) -> int:
        return sum(self.unplaced.values())


def anomalies(engine: Engine, hosts: Iterable[int] | None = None,
              conn: Connection | None = None) -> list[Found]:
    """Record gaps, cleared logs, audit stops and clock changes in the store (of
    ``hosts`` only, if given; read on ``conn`` if given)."""
    gaps_q = (select(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                     EventRow.record_id, EventRow.ts_us, EventRow.id)
              .order_by(EventRow.host_id, EventRow.channel_id, EventRow.record_id,
                        EventRow.ts_key, EventRow.event_id))  # the unique index: no sort
    where = [] if hosts is None else [EventRow.host_id.in_(sorted(hosts))]
    with contextlib.nullcontext(conn) if conn is not None else engine.connect() as c:
        found = record_gaps(tuple(r) for r in
                            c.execute(gaps_q.where(*where)
                                      .execution_options(yield_per=10_000)))
        found += logged_anomalies(c, *where)
    return found


def logged_anomalies(conn: Connection, *where: Any, kind: Any = EventRow.kind) -> list[Found]:
    """Cleared logs, audit stops and clock changes among the events ``where`` says
    (``kind``: the column as the caller wants it matched)."""
    query = (select(EventRow.id, EventRow.host_id, EventRow.channel_id, EventRow.kind,
                    EventRow.ts_us, EventRow.data)
             .where(kind.in_(LOGGED_ANOMALY_KINDS), *where)
             .order_by(EventRow.host_id, EventRow.ts_us, EventRow.record_id))
    return event_anomalies((r.id, r.host_id, r.channel_id, r.kind, r.ts_us,
                            orjson.loads(r.data)) for r in conn.execute(query))


def store_found(conn: Connection, found: list[Found],
                machine: int | dict[int, int] | None = None) -> None:
    """The anomalies ``found``, each under its machine: ``machine`` the one host of them
    all, or what each aliased host is (:func:`~proctrail.store.hosts.assign_aliases`)."""
    def host_of(host: int) -> int:
        return machine if isinstance(machine, int) else (machine or {}).get(host, host)

    if found:
        conn.execute(insert(Anomaly), [
            {"host_id": host_of(a.host_id), "channel_id": a.channel_id, "kind": a.kind,
             "start_us": a.start_us, "end_us": a.end_us, "event_pk": a.event_pk,
             "detail": a.detail} for a in found])


def process_events(engine: Engine) -> list[ProcEvent]:
    """Every process start, end and activity in the store, in stream order per host."""
    with engine.connect() as conn:
        return [e for group in machines(conn) for e in host_events(conn, group)
                if isinstance(e, ProcEvent)]


def correlated(engine: Engine) -> tuple[list[Lifetime], list[Session]]:
    """Every lifetime and session of the store, in memory and not saved: for small cases
    and tests."""
    fixes, _found = clock_scan(engine)
    sink = Collect()
    run(engine, sink, fixes)
    return sink.all_lifetimes, sink.all_sessions


# Below this many stored events, or with one machine, a pool's start costs more than it gives.
PARALLEL_MIN_EVENTS = 200_000
# A machine's rows come back whole (a few hundred bytes an event): a case with a machine
# bigger than this is correlated here, streaming, where memory stays flat.
PARALLEL_MAX_MACHINE_EVENTS = 1_000_000


class StoreWriter(RowSink):
    """A sink that inserts final lifetimes and sessions into the store in batches, from
    this process's correlation or from a worker's rows (:meth:`take`)."""

    def __init__(self, engine: Engine, conn: Connection,
                 tracked: Callable[[str], bool] | None = None) -> None:
        super().__init__(tracked)
        self.conn = conn
        self.inserts = (BulkInsert(engine, LogonSession, SESSION_COLUMNS),
                        BulkInsert(engine, Process, PROCESS_COLUMNS),
                        BulkInsert(engine, ProcessSource, SOURCE_COLUMNS),
                        BulkInsert(engine, Activity, ACTIVITY_COLUMNS))
        self.unplaced_reasons: Counter[str] = Counter()

    def lifetimes(self, done: list[Lifetime]) -> None:
        super().lifetimes(done)
        if len(self.rows.processes) >= BATCH or len(self.rows.sources) >= 4 * BATCH \
                or len(self.rows.activity) >= 4 * BATCH:
            self.flush()

    def activity(self, running: list[Lifetime]) -> None:
        super().activity(running)
        if len(self.rows.activity) >= 4 * BATCH:
            self.flush()

    def sessions(self, done: list[Session]) -> None:
        super().sessions(done)
        if len(self.rows.sessions) >= BATCH:
            self.flush()

    def unplaced(self, found: list[Unplaced]) -> None:
        """Each record no process was found for is an ``unplaced_event`` anomaly the analyst
        can open (activity of processes started before the log: one per host and why)."""
        if not found:
            return
        self.conn.execute(insert(Anomaly), [
            {"host_id": u.host_id, "channel_id": None, "kind": UNPLACED, "start_us": u.ts_us,
             "end_us": None, "event_pk": u.event_pk,
             "detail": u.detail}
            for u in found])
        for u in found:
            self.unplaced_reasons[u.reason] += u.count

    def take(self, rows: Rows) -> None:
        """A machine correlated elsewhere: its rows, stored as if made here."""
        mine = self.rows
        mine.sessions += rows.sessions
        mine.processes += rows.processes
        mine.sources += rows.sources
        mine.activity += rows.activity
        mine.flags.update(rows.flags)
        mine.process_count += rows.process_count
        mine.session_count += rows.session_count
        self.flush()
        self.unplaced(rows.unplaced)

    def flush(self) -> None:
        rows = self.rows
        for insert_rows, waiting in zip(self.inserts,
                                        (rows.sessions, rows.processes, rows.sources,
                                         rows.activity),
                                        strict=True):
            for start in range(0, len(waiting), 4 * BATCH):
                part = waiting[start:start + 4 * BATCH]
                part.sort(key=_first)  # derived ids are random: in key order the index grows less
                insert_rows.execute(self.conn, part)
            waiting.clear()


def correlate(engine: Engine, progress: Callable[[int], None] | None = None,
              tracked: Callable[[str], bool] | None = None,
              workers: int | None = None, live: LiveCase | None = None,
              image_loads: bool = False, cluster: str | None = None) -> CorrelationReport:
    """Rebuild the processes, sessions, activity and anomalies tables from the stored
    events, in one transaction; ``progress`` hears how many events have been read so far.
    Processes whose image ``tracked`` rejects (the track/ignore lists) are left out, their
    children hung under the nearest kept ancestor. Machines are correlated by ``workers`` processes
    (default: the cores) when the case is big enough, written here in machine order: the
    same rows as one process makes. Two correlations of one case take turns. With
    ``live``, machines are correlated here and left open for its updates (:mod:`.live`).
    ``image_loads`` attaches Sysmon 7 too (a row per DLL loaded: off by default). With
    ``cluster`` (a Dask scheduler's address), the machines are correlated there, each on
    a connection of its own to the store (:mod:`proctrail.store.cluster`)."""
    with case_lock(engine, "correlate"):
        return _correlate(engine, progress, tracked, workers, live, stream_kinds(image_loads),
                          cluster)


def _correlate(engine: Engine, progress: Callable[[int], None] | None,
               tracked: Callable[[str], bool] | None,
               workers: int | None = None, live: LiveCase | None = None,
               kinds: tuple[str, ...] = STREAM_KINDS, cluster: str | None = None
               ) -> CorrelationReport:
    with engine.connect() as conn:  # what this run sees: events stored later are news
        through = conn.execute(select(func.coalesce(func.max(EventRow.id), 0))).scalar_one()
    found = anomalies(engine)
    fixes, jumps = clock_scan(engine)
    found += jumps
    with engine.begin() as conn:
        for table in (Activity, ProcessSource, Process, LogonSession, Anomaly):
            conn.execute(delete(table))
        # One machine under several names: correlated as one, under its canonical host.
        alias = assign_aliases(conn)
        for host_id, machine in alias.items():
            conn.execute(update(Finding).where(Finding.host_id == host_id)
                         .values(host_id=machine))
        found += damage_anomalies(conn)  # damage ingest kept: made again on every run
        store_found(conn, found, alias)
        writer = StoreWriter(engine, conn, tracked)
        groups = machines(conn)
        pool = (executor(workers, cluster) if cluster and live is None and shareable(engine)
                else local_executor(workers)
                if live is None and len(groups) > 1 and through >= PARALLEL_MIN_EVENTS
                and shareable(engine)
                and _largest_machine(conn, groups) <= PARALLEL_MAX_MACHINE_EVENTS
                else Inline())
        try:
            if not isinstance(pool, Inline):  # worker processes, or a cluster
                url = engine.url.render_as_string(hide_password=False)
                tasks = (MachineTask(url, tuple(m), fixes, tracked, kinds) for m in groups)
                seen = done = 0
                try:
                    for rows in pool.map(correlate_machine, tasks):
                        writer.take(rows)
                        seen, done = seen + rows.events, done + 1
                        if progress is not None:
                            progress(seen)
                except BrokenProcessPool:  # a worker died (killed, out of memory)
                    run(engine, writer, fixes, progress, groups[done:], kinds)  # the rest here
            elif live is not None:
                live.start(conn, writer, groups, fixes, through)
            else:
                run(engine, writer, fixes, progress, groups, kinds)
        finally:
            pool.close()
        writer.flush()
        explicit = link_explicit(conn)  # across machines: after every session is written
        bump_generation(conn, through)
    counts = Counter(a.kind for a in found)
    if writer.unplaced_reasons:
        counts[UNPLACED] = writer.unplaced_reasons.total()
    done = writer.rows
    return CorrelationReport(done.process_count, done.session_count,
                             dict(sorted(done.flags.items())), dict(sorted(counts.items())),
                             dict(sorted(writer.unplaced_reasons.items())),
                             dict(sorted(explicit.items())))


def bump_generation(conn: Connection, through: int) -> None:
    """The case is correlated through event row ``through``: a new generation, which open
    screens notice (:mod:`proctrail.app.tui`)."""
    generation = conn.execute(select(CaseMeta.value)
                              .where(CaseMeta.key == GENERATION)).scalar()
    conn.execute(delete(CaseMeta).where(CaseMeta.key.in_((CORRELATED_THROUGH, GENERATION))))
    conn.execute(insert(CaseMeta), [
        {"key": CORRELATED_THROUGH, "value": str(through)},
        {"key": GENERATION, "value": str(int(generation or 0) + 1)}])


def _largest_machine(conn: Connection, groups: list[list[int]]) -> int:
    """The events of the case's biggest machine (all its names together)."""
    per_host = dict(conn.execute(select(EventRow.host_id, func.count())
                                 .group_by(EventRow.host_id)).all())
    return max((sum(per_host.get(h, 0) for h in members) for members in groups), default=0)


def _first(row: tuple[object, ...]) -> int:
    return row[0]  # type: ignore[return-value]
