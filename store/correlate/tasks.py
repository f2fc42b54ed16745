"""Correlation as plain tasks: one machine of a case is a function of the store's URL,
the machine's host ids and the clock fixes, returning its rows. Any executor
(:mod:`proctrail.store.tasks`) runs them; the single writer stores what comes back in
machine order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from proctrail.store.correlate.clock import ClockFixes
from proctrail.store.correlate.pipeline import STREAM_KINDS, run_machine
from proctrail.store.correlate.rows import Rows, RowSink


@dataclass(frozen=True)
class MachineTask:
    """What a worker needs to correlate one machine: nothing but data."""

    url: str
    members: tuple[int, ...]
    fixes: ClockFixes | None
    tracked: Callable[[str], bool] | None = None
    kinds: tuple[str, ...] = STREAM_KINDS


def correlate_machine(task: MachineTask) -> Rows:
    """One machine's lifetimes and sessions as rows (read on a connection of its own)."""
    engine = create_engine(task.url, poolclass=NullPool)
    sink = RowSink(task.tracked)
    try:
        with engine.connect() as conn:
            sink.rows.events = run_machine(conn, list(task.members), sink, task.fixes,
                                           kinds=task.kinds)
    finally:
        engine.dispose()
    return sink.rows
