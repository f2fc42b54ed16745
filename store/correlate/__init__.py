"""Correlation: process lifetimes (and, next, sessions, trees and anomalies) from events."""

from __future__ import annotations

import orjson
from sqlalchemy import Engine, select

from proctrail.store.correlate.extract import ProcEvent, extract
from proctrail.store.correlate.lifetimes import Lifetime, build_lifetimes
from proctrail.store.models import Channel, EventRow

__all__ = ["Lifetime", "ProcEvent", "build_lifetimes", "lifetimes_from_store", "process_events"]


def process_events(engine: Engine) -> list[ProcEvent]:
    """Every process start and end in the store, read as :class:`ProcEvent`."""
    out: list[ProcEvent] = []
    query = (
        select(EventRow.id, EventRow.host_id, Channel.name, EventRow.event_id,
               EventRow.record_id, EventRow.ts_us, EventRow.kind, EventRow.data)
        .join(Channel, Channel.id == EventRow.channel_id)
        .where(EventRow.kind.in_(("process_start", "process_end")))
    )
    with engine.connect() as conn:
        for row in conn.execute(query):
            found = extract(row.id, row.host_id, row.name, row.event_id, row.record_id,
                            row.ts_us, row.kind, orjson.loads(row.data))
            if found is not None:
                out.append(found)
    return out


def lifetimes_from_store(engine: Engine) -> list[Lifetime]:
    """The process lifetimes of everything in the store (recomputed, so repeatable)."""
    return build_lifetimes(process_events(engine))
