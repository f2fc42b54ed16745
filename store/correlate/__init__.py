"""Correlation: process lifetimes and logon sessions from stored events, saved in the store.

Correlation is recomputed from every stored event each time it runs, so it is repeatable
and independent of the order files were ingested in; processes left open by one file are
closed by exit events from the next. It streams host by host (:mod:`.pipeline`), writing
lifetimes as they become final, so memory does not grow with the case.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from proctrail.store.bulk import BulkInsert
from proctrail.store.correlate.damage import damage_anomalies
from proctrail.store.correlate.extract import ProcEvent, Unplaced
from proctrail.store.correlate.integrity import Found, event_anomalies, record_gaps
from proctrail.store.correlate.lifetimes import Lifetime, build_lifetimes
from proctrail.store.correlate.pipeline import Collect, clock_scan, host_events, machines, run
from proctrail.store.correlate.sessions import Session
from proctrail.store.hosts import assign_aliases
from proctrail.store.locks import case_lock
from proctrail.store.models import (
    CORRELATED_THROUGH,
    GENERATION,
    Anomaly,
    CaseMeta,
    EventRow,
    Finding,
    LogonSession,
    Process,
    ProcessSource,
)

__all__ = ["CorrelationReport", "Lifetime", "ProcEvent", "Session", "build_lifetimes",
           "correlate", "correlated", "process_events"]

BATCH = 5000
UNPLACED = "unplaced_event"


@dataclass
class CorrelationReport:
    """What one correlation run produced."""

    processes: int
    sessions: int
    flags: dict[str, int]
    anomalies: dict[str, int]
    unplaced: dict[str, int]  # records about a process that none could be found for, by why

    def unplaced_total(self) -> int:
        return sum(self.unplaced.values())


def anomalies(engine: Engine) -> list[Found]:
    """Record gaps, cleared logs, audit stops and clock changes in the store."""
    gaps_q = (select(EventRow.host_id, EventRow.channel_id, EventRow.record_id, EventRow.ts_us)
              .order_by(EventRow.host_id, EventRow.channel_id, EventRow.record_id))
    kinds = ("log_cleared", "time_change", "audit_stop", "audit_start")
    events_q = (select(EventRow.id, EventRow.host_id, EventRow.channel_id, EventRow.kind,
                       EventRow.ts_us, EventRow.data)
                .where(EventRow.kind.in_(kinds))
                .order_by(EventRow.host_id, EventRow.ts_us, EventRow.record_id))
    with engine.connect() as conn:
        found = record_gaps(tuple(r) for r in
                            conn.execution_options(yield_per=10_000).execute(gaps_q))
        found += event_anomalies((r.id, r.host_id, r.channel_id, r.kind, r.ts_us,
                                  orjson.loads(r.data)) for r in conn.execute(events_q))
    return found


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


PROCESS_COLUMNS = ("id", "host_id", "pid", "process_guid", "image", "command_line", "cwd",
                   "hashes", "integrity", "user", "creator_user", "end_user", "logon_id",
                   "session_id", "start_us", "end_us", "exit_status", "parent_id",
                   "parent_pid", "parent_image", "flags", "token_changes")
SESSION_COLUMNS = ("id", "host_id", "logon_id", "user", "logon_type", "source_ip",
                   "workstation", "auth_package", "elevated", "start_us", "end_us",
                   "logon_event", "logoff_event", "flags")
SOURCE_COLUMNS = ("process_id", "event_pk", "role")


class _Writer:
    """A sink that inserts final lifetimes and sessions into the store in batches."""

    def __init__(self, engine: Engine, conn: Connection,
                 tracked: Callable[[str], bool] | None = None) -> None:
        self.conn = conn
        self.tracked = tracked
        self.tables = [(BulkInsert(engine, LogonSession, SESSION_COLUMNS), []),
                       (BulkInsert(engine, Process, PROCESS_COLUMNS), []),
                       (BulkInsert(engine, ProcessSource, SOURCE_COLUMNS), [])]
        self.session_rows, self.process_rows, self.source_rows = (
            rows for _insert, rows in self.tables)
        self.processes = 0
        self.session_count = 0
        self.flags: Counter[str] = Counter()
        self.unplaced_reasons: Counter[str] = Counter()

    def _kept(self, lt: Lifetime | None) -> Lifetime | None:
        """``lt``, or its nearest ancestor the track/ignore lists keep."""
        seen = 0
        while lt is not None and self.tracked is not None and not self.tracked(lt.image) \
                and seen < 256:
            lt, seen = lt.parent, seen + 1
        return lt

    def lifetimes(self, done: list[Lifetime]) -> None:
        if self.tracked is not None:
            done = [lt for lt in done if self.tracked(lt.image)]
            for lt in done:  # an ignored parent's children hang under its nearest kept one
                lt.parent = self._kept(lt.parent)
        for lt in done:
            self.process_rows.append(_process_row(lt))
            self.source_rows.extend(
                (lt.id, pk, role)
                for role, pks in (("start", lt.start_events), ("end", lt.end_events),
                                  ("activity", lt.activity_events),
                                  ("token", lt.token_events))
                for pk in pks)
            self.flags.update(lt.flags)
        self.processes += len(done)
        if len(self.process_rows) >= BATCH or len(self.source_rows) >= 4 * BATCH:
            self.flush()

    def sessions(self, done: list[Session]) -> None:
        self.session_rows.extend(_session_row(s) for s in done)
        self.session_count += len(done)
        if len(self.session_rows) >= BATCH:
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

    def flush(self) -> None:
        for insert_rows, rows in self.tables:
            rows.sort(key=_first)  # derived ids are random: in key order the index grows less
            insert_rows.execute(self.conn, rows)
            rows.clear()


def correlate(engine: Engine, progress: Callable[[int], None] | None = None,
              tracked: Callable[[str], bool] | None = None) -> CorrelationReport:
    """Rebuild the processes, sessions and anomalies tables from the stored events, in one
    transaction; ``progress`` hears how many events have been read so far. Processes whose
    image ``tracked`` rejects (the track/ignore lists) are left out, their children hung
    under the nearest kept ancestor. Two correlations of one case take turns."""
    with case_lock(engine, "correlate"):
        return _correlate(engine, progress, tracked)


def _correlate(engine: Engine, progress: Callable[[int], None] | None,
               tracked: Callable[[str], bool] | None) -> CorrelationReport:
    with engine.connect() as conn:  # what this run sees: events stored later are news
        through = conn.execute(select(func.coalesce(func.max(EventRow.id), 0))).scalar_one()
    found = anomalies(engine)
    fixes, jumps = clock_scan(engine)
    found += jumps
    with engine.begin() as conn:
        for table in (ProcessSource, Process, LogonSession, Anomaly):
            conn.execute(delete(table))
        # One machine under several names: correlated as one, under its canonical host.
        alias = assign_aliases(conn)
        for host_id, machine in alias.items():
            conn.execute(update(Finding).where(Finding.host_id == host_id)
                         .values(host_id=machine))
        found += damage_anomalies(conn)  # damage ingest kept: made again on every run
        if found:
            conn.execute(insert(Anomaly), [
                {"host_id": alias.get(a.host_id, a.host_id), "channel_id": a.channel_id,
                 "kind": a.kind,
                 "start_us": a.start_us, "end_us": a.end_us, "event_pk": a.event_pk,
                 "detail": a.detail} for a in found])
        writer = _Writer(engine, conn, tracked)
        run(engine, writer, fixes, progress, machines(conn))
        writer.flush()
        generation = conn.execute(select(CaseMeta.value)
                                  .where(CaseMeta.key == GENERATION)).scalar()
        conn.execute(delete(CaseMeta).where(CaseMeta.key.in_((CORRELATED_THROUGH,
                                                               GENERATION))))
        conn.execute(insert(CaseMeta), [
            {"key": CORRELATED_THROUGH, "value": str(through)},
            {"key": GENERATION, "value": str(int(generation or 0) + 1)}])
    counts = Counter(a.kind for a in found)
    if writer.unplaced_reasons:
        counts[UNPLACED] = writer.unplaced_reasons.total()
    return CorrelationReport(writer.processes, writer.session_count,
                             dict(sorted(writer.flags.items())), dict(sorted(counts.items())),
                             dict(sorted(writer.unplaced_reasons.items())))


def _first(row: tuple[object, ...]) -> int:
    return row[0]  # type: ignore[return-value]


def _process_row(lt: Lifetime) -> tuple[object, ...]:
    return (lt.id, lt.host_id, lt.pid, lt.guid, lt.image, lt.command_line, lt.cwd, lt.hashes,
            lt.integrity, lt.user, lt.creator_user, lt.end_user, lt.logon_id, lt.session_id,
            lt.start_us, lt.end_us, lt.exit_status, lt.parent.id if lt.parent else None,
            lt.parent_pid, lt.parent_image, ",".join(sorted(lt.flags)),
            orjson.dumps(lt.token_changes).decode() if lt.token_changes else "")


def _session_row(s: Session) -> tuple[object, ...]:
    return (s.id, s.host_id, s.logon_id, s.user, s.logon_type, s.source_ip, s.workstation,
            s.auth_package, s.elevated, s.start_us, s.end_us, s.logon_event, s.logoff_event,
            ",".join(sorted(s.flags)))
