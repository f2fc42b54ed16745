"""Findings: bookmarks with a note and a severity on a process or a session, kept in the store.

Correlation renumbers processes and sessions each time it runs, so a finding is anchored
on what does not change: the stored event that started (or ended) the process, or the
session's logon (or logoff) event; placeholders and inferred sessions, which have no
event of their own, by host and PID and image, or host and logon id.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, or_, select
from sqlalchemy.orm import Session as OrmSession

from proctrail.store.errors import ProctrailError
from proctrail.store.hosts import Machine, join_machine
from proctrail.store.models import Finding, LogonSession, Process, ProcessSource

SEVERITIES = ("info", "low", "medium", "high", "critical")


class FindingError(ProctrailError, ValueError):
    """A finding cannot be made: a one-line reason."""


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


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def add_finding(engine: Engine, target: str, target_id: int, note: str = "",
                severity: str = "medium", source: str = "analyst",
                author: str | None = None) -> int:
    """Mark process or session ``target_id``; returns the finding's id."""
    if severity not in SEVERITIES:
        raise FindingError(f"unknown severity {severity!r}: use {', '.join(SEVERITIES)}")
    with engine.begin() as conn:
        if target == "process":
            p = conn.execute(select(Process.host_id, Process.pid, Process.image)
                             .where(Process.id == target_id)).first()
            if p is None:
                raise FindingError(f"no process {target_id} in the store")
            anchor = conn.execute(
                select(ProcessSource.event_pk)
                .where(ProcessSource.process_id == target_id,
                       ProcessSource.role.in_(("start", "end")))
                .order_by(ProcessSource.role.desc(), ProcessSource.event_pk)).scalars().first()
            row = {"host_id": p.host_id, "pid": p.pid, "image": p.image, "logon_id": "",
                   "anchor_event": anchor}
        elif target == "session":
            s = conn.execute(select(LogonSession.host_id, LogonSession.logon_id,
                                    LogonSession.logon_event, LogonSession.logoff_event)
                             .where(LogonSession.id == target_id)).first()
            if s is None:
                raise FindingError(f"no session {target_id} in the store")
            row = {"host_id": s.host_id, "pid": None, "image": "", "logon_id": s.logon_id,
                   "anchor_event": s.logon_event or s.logoff_event}
        else:
            raise FindingError(f"a finding marks a process or a session, not {target!r}")
        return conn.execute(insert(Finding).values(
            target=target, severity=severity, note=note, source=source,
            author=_author() if author is None else author,
            created_us=time.time_ns() // 1000, **row)).inserted_primary_key[0]


def delete_finding(engine: Engine, finding_id: int) -> bool:
    """Remove a finding; False if there was none."""
    with engine.begin() as conn:
        return conn.execute(delete(Finding).where(Finding.id == finding_id)).rowcount > 0


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
