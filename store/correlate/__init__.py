"""Correlation: process lifetimes and logon sessions from stored events, saved in the store.

Correlation is recomputed from every stored event each time it runs, so it is repeatable
and independent of the order files were ingested in; processes left open by one file are
closed by exit events from the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, delete, insert, select

from proctrail.store.correlate.extract import ProcEvent, extract
from proctrail.store.correlate.integrity import Found, event_anomalies, record_gaps
from proctrail.store.correlate.lifetimes import Lifetime, build_lifetimes
from proctrail.store.correlate.sessions import Session, SessionEvent, build_sessions
from proctrail.store.models import (
    Anomaly,
    Channel,
    EventRow,
    LogonSession,
    Process,
    ProcessSource,
)

__all__ = ["Lifetime", "ProcEvent", "Session", "build_lifetimes", "build_sessions",
           "correlate", "lifetimes_from_store", "process_events"]


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
        found = record_gaps(tuple(r) for r in conn.execute(gaps_q))
        found += event_anomalies((r.id, r.host_id, r.channel_id, r.kind, r.ts_us,
                                  orjson.loads(r.data)) for r in conn.execute(events_q))
    return found


def process_events(engine: Engine) -> list[ProcEvent]:
    """Every process start and end in the store, read as :class:`ProcEvent`."""
    out: list[ProcEvent] = []
    query = (
        select(EventRow.id, EventRow.host_id, Channel.name, EventRow.event_id,
               EventRow.record_id, EventRow.ts_us, EventRow.kind, EventRow.data)
        .join(Channel, Channel.id == EventRow.channel_id)
        .where(EventRow.kind.in_(("process_start", "process_end", "network_connect",
                                  "dns_query")))
    )
    with engine.connect() as conn:
        for row in conn.execute(query):
            found = extract(row.id, row.host_id, row.name, row.event_id, row.record_id,
                            row.ts_us, row.kind, orjson.loads(row.data))
            if found is not None:
                out.append(found)
    return out


def session_events(engine: Engine) -> list[SessionEvent]:
    """Every logon, logoff and special-privilege event in the store."""
    query = (
        select(EventRow.id, EventRow.host_id, EventRow.event_id, EventRow.kind,
               EventRow.ts_us, EventRow.record_id, EventRow.data)
        .where(EventRow.kind.in_(("logon", "logoff", "special_privileges")))
    )
    with engine.connect() as conn:
        return [SessionEvent(r.id, r.host_id, r.event_id, r.kind, r.ts_us, r.record_id,
                             orjson.loads(r.data)) for r in conn.execute(query)]


def lifetimes_from_store(engine: Engine) -> list[Lifetime]:
    """The process lifetimes of everything in the store (recomputed, so repeatable)."""
    return build_lifetimes(process_events(engine))


def correlate(engine: Engine) -> CorrelationReport:
    """Rebuild the processes and sessions tables from the stored events, in one transaction."""
    lifetimes = lifetimes_from_store(engine)
    sessions = build_sessions(session_events(engine), lifetimes)
    session_of = {id(lt): s.id for s in sessions for lt in s.processes}
    found = anomalies(engine)
    flags: dict[str, int] = {}
    for lt in lifetimes:
        for flag in lt.flags:
            flags[flag] = flags.get(flag, 0) + 1
    with engine.begin() as conn:
        conn.execute(delete(ProcessSource))
        conn.execute(delete(Process))
        conn.execute(delete(LogonSession))
        conn.execute(delete(Anomaly))
        if found:
            conn.execute(insert(Anomaly), [
                {"host_id": a.host_id, "channel_id": a.channel_id, "kind": a.kind,
                 "start_us": a.start_us, "end_us": a.end_us, "event_pk": a.event_pk,
                 "detail": a.detail} for a in found])
        if sessions:
            conn.execute(insert(LogonSession), [_session_row(s) for s in sessions])
        if lifetimes:
            conn.execute(insert(Process), [_process_row(lt, session_of.get(id(lt)))
                                           for lt in lifetimes])
            conn.execute(insert(ProcessSource), [
                {"process_id": lt.id, "event_pk": pk, "role": role}
                for lt in lifetimes
                for role, pks in (("start", lt.start_events), ("end", lt.end_events),
                                  ("activity", lt.activity_events))
                for pk in pks
            ])
    counts: dict[str, int] = {}
    for a in found:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    return CorrelationReport(len(lifetimes), len(sessions), dict(sorted(flags.items())),
                             dict(sorted(counts.items())))


def _process_row(lt: Lifetime, session_id: int | None) -> dict[str, object]:
    return {
        "id": lt.id, "host_id": lt.host_id, "pid": lt.pid, "process_guid": lt.guid,
        "image": lt.image, "command_line": lt.command_line, "cwd": lt.cwd,
        "hashes": lt.hashes, "integrity": lt.integrity, "user": lt.user,
        "creator_user": lt.creator_user, "end_user": lt.end_user, "logon_id": lt.logon_id,
        "session_id": session_id, "start_us": lt.start_us, "end_us": lt.end_us,
        "exit_status": lt.exit_status, "parent_id": lt.parent.id if lt.parent else None,
        "parent_pid": lt.parent_pid, "parent_image": lt.parent_image,
        "flags": ",".join(sorted(lt.flags)),
    }


def _session_row(s: Session) -> dict[str, object]:
    return {
        "id": s.id, "host_id": s.host_id, "logon_id": s.logon_id, "user": s.user,
        "logon_type": s.logon_type, "source_ip": s.source_ip, "workstation": s.workstation,
        "auth_package": s.auth_package, "elevated": s.elevated, "start_us": s.start_us,
        "end_us": s.end_us, "logon_event": s.logon_event, "logoff_event": s.logoff_event,
        "flags": ",".join(sorted(s.flags)),
    }
