"""Findings read: each one with the process or session it marks in today's correlation.

One record shape, :class:`FindingRow`, for every reader (the findings screen, the detail
screen, the exports, the timeline, the report); the writes are in
:mod:`proctrail.store.findings`. A finding is anchored on a stored event (or, for a
placeholder, on host + PID + image), so it is resolved against the current processes and
sessions on every read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.orm import Session as OrmSession

from proctrail.store.findings import SEVERITIES
from proctrail.store.hosts import Machine, join_machine
from proctrail.store.models import Finding, LogonSession, Process, ProcessSource


@dataclass(frozen=True)
class FindingRow:
    """A finding with what it points at today (ids of the current correlation)."""

    id: int
    target: str
    process_id: int | None
    session_id: int | None
    host: str
    severity: str
    note: str
    source: str
    author: str
    created_us: int
    kind: str = "bookmark"
    rule_id: str = ""
    tags: str = ""
    time_us: int | None = None


def _process_matches() -> Any:
    """Finding ↔ Process join condition: by anchor event, else by placeholder identity."""
    by_event = select(ProcessSource.process_id).where(
        ProcessSource.event_pk == Finding.anchor_event).correlate(Finding).scalar_subquery()
    return or_(
        and_(Finding.anchor_event.is_not(None), Process.id.in_(by_event)),
        and_(Finding.anchor_event.is_(None), Process.host_id == Finding.host_id,
             Process.pid == Finding.pid, Process.image == Finding.image))


def resolve_process_findings(engine: Engine, process_ids: list[int]) -> list[tuple[int, int]]:
    """(process id, finding id) pairs for the given processes."""
    out: list[tuple[int, int]] = []
    with engine.connect() as conn:
        if not conn.execute(select(Finding.id).limit(1)).first():
            return out
        for start in range(0, len(process_ids), 500):
            chunk = process_ids[start:start + 500]
            out += [tuple(r) for r in conn.execute(
                select(Process.id, Finding.id)
                .join(Finding, and_(Finding.target == "process", _process_matches()))
                .where(Process.id.in_(chunk)))]
    return out


def list_findings(engine: Engine) -> list[FindingRow]:
    """Every finding, most severe first, with the process or session it marks today."""
    session_match = or_(
        and_(Finding.anchor_event.is_not(None),
             or_(LogonSession.logon_event == Finding.anchor_event,
                 LogonSession.logoff_event == Finding.anchor_event)),
        and_(Finding.anchor_event.is_(None), LogonSession.host_id == Finding.host_id,
             LogonSession.logon_id == Finding.logon_id))
    with OrmSession(engine) as conn:
        rows = conn.execute(
            join_machine(select(Finding, Machine.name, Process.id.label("process_id"),
                                LogonSession.id.label("session_id")), Finding.host_id)
            .outerjoin(Process, and_(Finding.target == "process", _process_matches()))
            .outerjoin(LogonSession, and_(Finding.target == "session", session_match))
            .order_by(Finding.id)).all()
    seen: set[int] = set()
    out = []
    for f, host, process_id, session_id in rows:
        if f.id in seen:
            continue
        seen.add(f.id)
        out.append(FindingRow(f.id, f.target, process_id, session_id, host, f.severity, f.note,
                              f.source, f.author, f.created_us, f.kind or "bookmark",
                              f.rule_id or "", f.tags or "", f.time_us))
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    out.sort(key=lambda r: (rank.get(r.severity, 9), r.id))
    return out


def findings_for_process(engine: Engine, process_id: int) -> list[dict[str, Any]]:
    """The findings on one process, as plain dicts."""
    ids = {fid for _pid, fid in resolve_process_findings(engine, [process_id])}
    return [asdict(f) for f in list_findings(engine) if f.id in ids] if ids else []
