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
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, insert, select

from proctrail.store.correlate.extract import ProcEvent
from proctrail.store.correlate.integrity import Found, event_anomalies, record_gaps
from proctrail.store.correlate.lifetimes import Lifetime, build_lifetimes
from proctrail.store.correlate.pipeline import Collect, clock_scan, host_events, host_ids, run
from proctrail.store.correlate.sessions import Session
from proctrail.store.models import Anomaly, EventRow, LogonSession, Process, ProcessSource

__all__ = ["CorrelationReport", "Lifetime", "ProcEvent", "Session", "build_lifetimes",
           "correlate", "correlated", "process_events"]

BATCH = 5000


@dataclass
class CorrelationReport:
    """What one correlation run produced."""

    processes: int
    sessions: int
    flags: dict[str, int]
    anomalies: dict[str, int]


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
        return [e for host_id in host_ids(conn) for e in host_events(conn, host_id)
                if isinstance(e, ProcEvent)]


def correlated(engine: Engine) -> tuple[list[Lifetime], list[Session]]:
    """Every lifetime and session of the store, in memory and not saved: for small cases
    and tests."""
    fixes, _found = clock_scan(engine)
    sink = Collect()
    run(engine, sink, fixes)
    sink.all_lifetimes.sort(key=lambda lt: lt.id)
    sink.all_sessions.sort(key=lambda s: s.id)
    return sink.all_lifetimes, sink.all_sessions


class _Writer:
    """A sink that inserts final lifetimes and sessions into the store in batches."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.process_rows: list[dict[str, Any]] = []
        self.source_rows: list[dict[str, Any]] = []
        self.session_rows: list[dict[str, Any]] = []
        self.processes = 0
        self.session_count = 0
        self.flags: Counter[str] = Counter()

    def lifetimes(self, done: list[Lifetime]) -> None:
        for lt in done:
            self.process_rows.append(_process_row(lt))
            self.source_rows.extend(
                {"process_id": lt.id, "event_pk": pk, "role": role}
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

    def flush(self) -> None:
        for table, rows in ((LogonSession, self.session_rows), (Process, self.process_rows),
                            (ProcessSource, self.source_rows)):
            if rows:
                self.conn.execute(insert(table), rows)
                rows.clear()


def correlate(engine: Engine, progress: Callable[[int], None] | None = None
              ) -> CorrelationReport:
    """Rebuild the processes, sessions and anomalies tables from the stored events, in one
    transaction; ``progress`` hears how many events have been read so far."""
    found = anomalies(engine)
    fixes, jumps = clock_scan(engine)
    found += jumps
    with engine.begin() as conn:
        for table in (ProcessSource, Process, LogonSession, Anomaly):
            conn.execute(delete(table))
        if found:
            conn.execute(insert(Anomaly), [
                {"host_id": a.host_id, "channel_id": a.channel_id, "kind": a.kind,
                 "start_us": a.start_us, "end_us": a.end_us, "event_pk": a.event_pk,
                 "detail": a.detail} for a in found])
        writer = _Writer(conn)
        run(engine, writer, fixes, progress)
        writer.flush()
    counts = Counter(a.kind for a in found)
    return CorrelationReport(writer.processes, writer.session_count,
                             dict(sorted(writer.flags.items())), dict(sorted(counts.items())))


def _process_row(lt: Lifetime) -> dict[str, object]:
    return {
        "id": lt.id, "host_id": lt.host_id, "pid": lt.pid, "process_guid": lt.guid,
        "image": lt.image, "command_line": lt.command_line, "cwd": lt.cwd,
        "hashes": lt.hashes, "integrity": lt.integrity, "user": lt.user,
        "creator_user": lt.creator_user, "end_user": lt.end_user, "logon_id": lt.logon_id,
        "session_id": lt.session_id, "start_us": lt.start_us, "end_us": lt.end_us,
        "exit_status": lt.exit_status, "parent_id": lt.parent.id if lt.parent else None,
        "parent_pid": lt.parent_pid, "parent_image": lt.parent_image,
        "flags": ",".join(sorted(lt.flags)),
        "token_changes": orjson.dumps(lt.token_changes).decode() if lt.token_changes else "",
    }


def _session_row(s: Session) -> dict[str, object]:
    return {
        "id": s.id, "host_id": s.host_id, "logon_id": s.logon_id, "user": s.user,
        "logon_type": s.logon_type, "source_ip": s.source_ip, "workstation": s.workstation,
        "auth_package": s.auth_package, "elevated": s.elevated, "start_us": s.start_us,
        "end_us": s.end_us, "logon_event": s.logon_event, "logoff_event": s.logoff_event,
        "flags": ",".join(sorted(s.flags)),
    }
