"""Findings read: each one with the process or session it marks in today's correlation.

One record shape, :class:`FindingRow`, for every reader (the findings screen, the detail
screen, the exports, the timeline, the report); the writes are in
:mod:`proctrail.store.findings`. A finding is anchored on a stored event (or, for a
placeholder, on host + PID + image), so it is resolved against the current processes and
sessions on every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, or_, select

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


CHUNK = 500  # ids in one IN (...): well under every driver's parameter limit


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def resolve_process_findings(engine: Engine, process_ids: list[int]) -> list[tuple[int, int]]:
    """(process id, finding id) pairs for the given processes: findings anchored on one of
    their events (from each process's own sources, through the anchor's index), then
    placeholders' findings by host, PID and image. Never a scan of every finding per row."""
    out: list[tuple[int, int]] = []
    with engine.connect() as conn:
        if not conn.execute(select(Finding.id).where(Finding.target == "process")
                            .limit(1)).first():
            return out
        for chunk in _chunks(process_ids):
            out += [(p, f) for p, f in conn.execute(
                select(ProcessSource.process_id, Finding.id)
                .join(Finding, Finding.anchor_event == ProcessSource.event_pk)
                .where(ProcessSource.process_id.in_(chunk), Finding.target == "process"))]
            out += [(p, f) for p, f in conn.execute(
                select(Process.id, Finding.id)
                .join(Finding, and_(Finding.host_id == Process.host_id,
                                    Finding.pid == Process.pid))
                .where(Process.id.in_(chunk), Finding.target == "process",
                       Finding.anchor_event.is_(None), Finding.image == Process.image))]
    return out


def list_findings(engine: Engine) -> list[FindingRow]:
    """Every finding, most severe first, with the process or session it marks today."""
    with engine.connect() as conn:  # plain rows: 50k ORM objects cost a second
        findings = conn.execute(
            join_machine(select(*Finding.__table__.columns, Machine.name.label("host_name")),
                         Finding.host_id).order_by(Finding.id)).all()
        process = _processes_marked(conn, findings)
        session = _sessions_marked(conn, findings)
    out = [FindingRow(f.id, f.target, process.get(f.id), session.get(f.id), f.host_name,
                      f.severity, f.note, f.source, f.author, f.created_us,
                      f.kind or "bookmark", f.rule_id or "", f.tags or "", f.time_us)
           for f in findings]
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    out.sort(key=lambda r: (rank.get(r.severity, 9), r.id))
    return out


def _processes_marked(conn: Connection, findings: Sequence[Row[Any]]) -> dict[int, int]:
    """finding id -> the process it marks today (the first, should an event be shared)."""
    marked: dict[int, int] = {}
    by_anchor: dict[int, list[int]] = {}
    for f in findings:
        if f.target == "process" and f.anchor_event is not None:
            by_anchor.setdefault(f.anchor_event, []).append(f.id)
    for chunk in _chunks(sorted(by_anchor)):
        for event_pk, process_id in conn.execute(
                select(ProcessSource.event_pk, ProcessSource.process_id)
                .where(ProcessSource.event_pk.in_(chunk))
                .order_by(ProcessSource.event_pk, ProcessSource.process_id)):
            for fid in by_anchor[event_pk]:
                marked.setdefault(fid, process_id)
    if any(f.target == "process" and f.anchor_event is None for f in findings):
        for fid, process_id in conn.execute(
                select(Finding.id, Process.id)
                .join(Process, and_(Process.host_id == Finding.host_id,
                                    Process.pid == Finding.pid, Process.image == Finding.image))
                .where(Finding.target == "process", Finding.anchor_event.is_(None))
                .order_by(Finding.id, Process.id)):
            marked.setdefault(fid, process_id)
    return marked


def _sessions_marked(conn: Connection, findings: Sequence[Row[Any]]) -> dict[int, int]:
    """finding id -> the session it marks today: by its logon or logoff event, else (an
    inferred session) by host and logon id."""
    if not any(f.target == "session" for f in findings):
        return {}
    match = or_(
        and_(Finding.anchor_event.is_not(None),
             or_(LogonSession.logon_event == Finding.anchor_event,
                 LogonSession.logoff_event == Finding.anchor_event)),
        and_(Finding.anchor_event.is_(None), LogonSession.host_id == Finding.host_id,
             LogonSession.logon_id == Finding.logon_id))
    marked: dict[int, int] = {}
    for fid, session_id in conn.execute(
            select(Finding.id, LogonSession.id).join(LogonSession, match)
            .where(Finding.target == "session").order_by(Finding.id, LogonSession.id)):
        marked.setdefault(fid, session_id)
    return marked


def findings_for_process(engine: Engine, process_id: int) -> list[dict[str, Any]]:
    """The findings on one process, as plain dicts."""
    ids = {fid for _pid, fid in resolve_process_findings(engine, [process_id])}
    return [asdict(f) for f in list_findings(engine) if f.id in ids] if ids else []
