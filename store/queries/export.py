"""Case counts and the export records of processes and sessions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from proctrail.store.correlate.extract import Unplaced
from proctrail.store.correlate.remote import remote_fields
from proctrail.store.damage import damaged_chunks
from proctrail.store.hosts import Machine, host_names, join_machine, on_host
from proctrail.store.models import (
    CORRELATED_THROUGH,
    Anomaly,
    CaseMeta,
    Channel,
    EventRow,
    Source,
)
from proctrail.store.queries.findings import list_findings
from proctrail.store.timefmt import iso as _iso

UNPLACED = "unplaced_event"  # the anomaly kind correlation gives records it cannot place


def stats(engine: Engine) -> dict[str, Any]:
    """Counts of the case: events, sources, hosts (machines, by their canonical names; each
    machine's other names in ``host_aliases``), skips, damaged chunks (all, and by each
    check they fail: ``checksum_mismatch`` anomalies), and events per channel and id."""
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
        sources = conn.execute(select(func.count()).select_from(Source)).scalar_one()
        machines = list(host_names(conn).values())
        skipped = conn.execute(select(func.coalesce(func.sum(Source.skipped), 0))).scalar_one()
        failed = conn.execute(
            select(func.count()).select_from(Source).where(Source.status == "failed")
        ).scalar_one()
        reasons: dict[str, int] = {}
        for text in conn.execute(select(Source.skip_reasons)).scalars():
            for reason, n in orjson.loads(text or "{}").items():
                reasons[reason] = reasons.get(reason, 0) + n
        counts = [
            {"channel": channel, "event_id": event_id, "n": n}
            for channel, event_id, n in conn.execute(
                select(Channel.name, EventRow.event_id, func.count())
                .join(Channel, Channel.id == EventRow.channel_id)
                .group_by(Channel.name, EventRow.event_id)
                .order_by(Channel.name, EventRow.event_id)
            )
        ]
        kinds = {
            kind: n
            for kind, n in conn.execute(
                select(EventRow.kind, func.count())
                .where(EventRow.kind.is_not(None))
                .group_by(EventRow.kind)
                .order_by(EventRow.kind)
            )
        }
        first, last = conn.execute(select(func.min(EventRow.ts_us), func.max(EventRow.ts_us))).one()
        unplaced = unplaced_counts(conn)
        uncorrelated = uncorrelated_events(conn)
        damaged = damaged_chunks(conn)
    return {
        "events": events,
        "sources": sources,
        "failed_sources": failed,
        "hosts": [names[0] for names in machines],
        "host_aliases": {names[0]: names[1:] for names in machines if len(names) > 1},
        "skipped": int(skipped),
        "skip_reasons": reasons,
        "first_us": first,
        "last_us": last,
        "kinds": kinds,
        "uncorrelated_events": uncorrelated,
        "unplaced": unplaced,
        "damaged_chunks": len(damaged),
        "damage_checks": dict(sorted(Counter(
            check for d in damaged for check in d.row.checks.split(",")).items())),
        "counts": counts,
    }


def unplaced_counts(conn: Connection) -> dict[str, int]:
    """Records about a process that correlation could place in none, by why (the
    ``unplaced_event`` anomalies: one per record, or one per host telling a count)."""
    out: dict[str, int] = {}
    for detail in conn.execute(select(Anomaly.detail).where(Anomaly.kind == UNPLACED)
                               ).scalars():
        reason, n = Unplaced.counted(detail)
        out[reason] = out.get(reason, 0) + n
    return dict(sorted(out.items()))


def _flags(text: str) -> list[str]:
    return [f for f in text.split(",") if f]


def export_processes(engine: Engine, host: str | None = None,
                     session: int | None = None) -> Iterator[dict[str, Any]]:
    """One record per lifetime, with the events behind it, in start order per host (the
    machine's name; ``host``: any spelling of it); last, the records of what it did:
    ``activity`` (all kinds) and one count per :data:`~activity.COUNT_COLUMNS` column
    (``connections``, ``dns``, ``files_written``, ...), 0 when none."""
    from proctrail.store.models import Process, ProcessSource
    from proctrail.store.queries.activity import COUNT_COLUMNS, counts_per_process

    parent = Process.__table__.alias("parent")
    query = (
        join_machine(select(Process, Machine.name.label("host_name"),
                            parent.c.image.label("p_image"), parent.c.pid.label("p_pid")),
                     Process.host_id)
        .outerjoin(parent, parent.c.id == Process.parent_id)
        .order_by(Machine.name, Process.start_us.is_(None).desc(), Process.start_us,
                  Process.id)
    )
    if host is not None:
        query = query.where(on_host(Process.host_id, host))
    if session is not None:
        query = query.where(Process.session_id == session)
    chosen = None
    if host is not None or session is not None:
        chosen = select(Process.id).where(
            *([on_host(Process.host_id, host)] if host is not None else []),
            *([Process.session_id == session] if session is not None else []))
    did = counts_per_process(engine, chosen)
    columns = ("activity", *COUNT_COLUMNS)
    sources_q = (
        select(ProcessSource.process_id, ProcessSource.role, Channel.name, EventRow.event_id,
               EventRow.record_id, Source.path, Source.member)
        .join(EventRow, EventRow.id == ProcessSource.event_pk)
        .join(Channel, Channel.id == EventRow.channel_id)
        .join(Source, Source.id == EventRow.source_id)
        # In time order, whatever order the files were ingested in (event ids follow it).
        .order_by(ProcessSource.process_id, EventRow.ts_us, Channel.name, EventRow.record_id)
    )
    with Session(engine) as conn:
        evidence: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(sources_q):
            evidence.setdefault(r.process_id, []).append({
                "role": r.role, "channel": r.name, "event_id": r.event_id,
                "record_id": r.record_id,
                "file": f"{r.path}!{r.member}" if r.member else r.path})
        for row in conn.execute(query):
            p = row.Process
            duration = (p.end_us - p.start_us) / 1_000_000 \
                if p.end_us is not None and p.start_us is not None else None
            yield {
                "id": p.id, "host": row.host_name, "pid": p.pid,
                "process_guid": p.process_guid, "image": p.image,
                "command_line": p.command_line, "cwd": p.cwd, "hashes": p.hashes,
                "integrity": p.integrity, "user": p.user, "creator_user": p.creator_user,
                "end_user": p.end_user, "logon_id": p.logon_id, "session_id": p.session_id,
                "start": _iso(p.start_us), "end": _iso(p.end_us), "duration_s": duration,
                "exit_status": p.exit_status, "parent_id": p.parent_id,
                "parent_pid": p.parent_pid if p.parent_pid is not None else row.p_pid,
                "parent_image": row.p_image or p.parent_image, "flags": _flags(p.flags),
                "token_changes": orjson.loads(p.token_changes) if p.token_changes else [],
                "sources": evidence.get(p.id, []),
                **{c: did.get(p.id, {}).get(c, 0) for c in columns},
            }


def export_sessions(engine: Engine, host: str | None = None) -> Iterator[dict[str, Any]]:
    """One record per logon session with its process count."""
    from proctrail.store.models import LogonSession, Process

    count = (select(func.count()).select_from(Process)
             .where(Process.session_id == LogonSession.id).scalar_subquery())
    query = (join_machine(select(LogonSession, Machine.name.label("host_name"),
                                 count.label("n")), LogonSession.host_id)
             .order_by(Machine.name, LogonSession.start_us.is_(None).desc(),
                       LogonSession.start_us, LogonSession.id))
    if host is not None:
        query = query.where(on_host(LogonSession.host_id, host))
    with Session(engine) as conn:
        for row in conn.execute(query):
            s = row.LogonSession
            yield {
                "id": s.id, "host": row.host_name, "logon_id": s.logon_id, "user": s.user,
                "logon_type": s.logon_type, "source_ip": s.source_ip,
                "workstation": s.workstation, "auth_package": s.auth_package,
                "start": _iso(s.start_us), "end": _iso(s.end_us), "elevated": s.elevated,
                "process_count": row.n, "flags": _flags(s.flags),
                **remote_fields(s.remote),
            }


def process_summaries(engine: Engine, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The fields a tree line shows, for the given process ids."""
    from proctrail.store.models import Process

    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in conn.execute(
                select(Process.id, Process.pid, Process.image, Process.user, Process.start_us,
                       Process.end_us, Process.flags, Process.command_line)
                .where(Process.id.in_(chunk))
            ):
                out[row.id] = {"pid": row.pid, "image": row.image, "user": row.user,
                               "start_us": row.start_us, "end_us": row.end_us,
                               "flags": _flags(row.flags), "command_line": row.command_line}
    return out


def export_findings(engine: Engine) -> Iterator[dict[str, Any]]:
    """One record per finding (bookmarks and detections), most severe first."""
    for f in list_findings(engine):
        rule = f.kind != "bookmark"
        yield {
            "id": f.id, "kind": f.kind, "rule_id": f.rule_id,
            "rule_title": f.note if rule else "", "level": f.severity, "host": f.host,
            "process_id": f.process_id, "session_id": f.session_id,
            "time": _iso(f.time_us if f.time_us is not None else f.created_us),
            "summary": f.note, "tags": [t for t in f.tags.split(",") if t],
            "author": f.author, "source": f.source,
        }


def uncorrelated_events(conn: Connection) -> int:
    """Events stored since the last correlation saw the case (all, if it never ran)."""
    through = conn.execute(select(CaseMeta.value)
                           .where(CaseMeta.key == CORRELATED_THROUGH)).scalar()
    return conn.execute(select(func.count()).select_from(EventRow)
                        .where(EventRow.id > int(through or 0))).scalar_one()


def export_activity(engine: Engine, host: str | None = None, session: int | None = None,
                    page: int = 5000) -> Iterator[dict[str, Any]]:
    """One record per thing a process did (an ``activity`` row: the target end of a
    Sysmon 8/10 too, ``direction`` ``in``), in the order they were stored: ``process_id,
    host, time, kind, direction, event_id, record_id, channel, summary, fields`` (the
    record's event data as logged). Read a page at a time, so memory stays flat."""
    from proctrail.store.models import Activity, Process
    from proctrail.store.queries.activity import ACTIVITY_COLUMNS, ActivityRow

    query = join_machine(
        select(Activity.id, *ACTIVITY_COLUMNS, Machine.name.label("host_name"),
               EventRow.event_id, EventRow.record_id, Channel.name.label("channel"),
               EventRow.data)
        .join(EventRow, EventRow.id == Activity.event_pk)
        .join(Channel, Channel.id == EventRow.channel_id), Activity.host_id)
    if host is not None:
        query = query.where(on_host(Activity.host_id, host))
    if session is not None:
        query = query.where(Activity.process_id.in_(
            select(Process.id).where(Process.session_id == session)))
    after = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(query.where(Activity.id > after)
                                .order_by(Activity.id).limit(page)).all()
        if not rows:
            return
        after = rows[-1].id
        for r in rows:
            act = ActivityRow(*r[1:1 + len(ACTIVITY_COLUMNS)])
            try:
                fields = orjson.loads(r.data)
            except orjson.JSONDecodeError:
                fields = {}
            yield {"process_id": act.process_id, "host": r.host_name, "time": _iso(act.ts_us),
                   "kind": act.kind, "direction": act.direction, "event_id": r.event_id,
                   "record_id": r.record_id, "channel": r.channel, "summary": act.summary(),
                   "fields": fields}
