"""Findings written: bookmarks with a note and a severity on a process or a session.

Correlation renumbers processes and sessions each time it runs, so a finding is anchored
on what does not change: the stored event that started (or ended) the process, or the
session's logon (or logoff) event; placeholders and inferred sessions, which have no
event of their own, by host and PID and image, or host and logon id. Reads go through
:mod:`proctrail.store.queries.findings`.
"""

from __future__ import annotations

import getpass
import time
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from proctrail.store.errors import ProctrailError
from proctrail.store.models import Finding, LogonSession, Process, ProcessSource

SEVERITIES = ("info", "low", "medium", "high", "critical")


class FindingError(ProctrailError, ValueError):
    """A finding cannot be made: a one-line reason."""


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


def take_finding(engine: Engine, finding_id: int) -> dict[str, Any] | None:
    """Remove a finding and return its row as stored (for :func:`restore_finding`), or
    None if there was none."""
    with engine.begin() as conn:
        row = conn.execute(select(Finding.__table__).where(Finding.id == finding_id)).first()
        if row is None:
            return None
        conn.execute(delete(Finding).where(Finding.id == finding_id))
    return dict(row._mapping)


def restore_finding(engine: Engine, row: dict[str, Any]) -> int:
    """Put back a finding :func:`take_finding` removed, under its own id unless another
    finding has taken it since; returns the id it has."""
    values = dict(row)
    with engine.begin() as conn:
        if conn.execute(select(Finding.id).where(Finding.id == values.get("id"))).first():
            values.pop("id")
        return conn.execute(insert(Finding).values(**values)).inserted_primary_key[0]
