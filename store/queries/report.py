"""The case's scope for a report: what was read (each source with its SHA-256, format,
parser, status and counts), the hosts with their first and last event, the time span,
and the integrity anomalies. Hosts, span and anomalies are :mod:`browse`'s reads."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select

from proctrail.store.damage import damage_by_source, damaged_chunks
from proctrail.store.models import Source
from proctrail.store.queries.browse import anomaly_rows, overview


def source_rows(engine: Engine) -> list[dict[str, Any]]:
    """Every input read into the case, in path and member order, with its chunks that fail
    their checksums (``damaged_chunks``)."""
    query = (select(Source.id, Source.path, Source.member, Source.sha256, Source.size,
                    Source.format, Source.parser, Source.status, Source.records_read,
                    Source.events_stored, Source.duplicates, Source.skipped,
                    Source.skip_reasons, Source.error)
             .order_by(Source.path, Source.member, Source.id))
    damaged = damage_by_source(engine)
    with engine.connect() as conn:
        return [{"path": r.path, "member": r.member, "sha256": r.sha256, "size": r.size,
                 "format": r.format, "parser": r.parser, "status": r.status,
                 "records": r.records_read, "stored": r.events_stored,
                 "duplicates": r.duplicates, "skipped": r.skipped,
                 "skip_reasons": orjson.loads(r.skip_reasons or "{}"), "error": r.error or "",
                 "damaged_chunks": damaged.get(r.id, 0)}
                for r in conn.execute(query)]


def case_scope(engine: Engine) -> dict[str, Any]:
    """``{"sources", "hosts", "first_us", "last_us", "events", "processes", "sessions",
    "anomalies", "damaged_chunks"}``: hosts as :func:`browse.overview` gives them (name,
    first/last event, events, processes, sessions), anomalies as
    :func:`browse.anomaly_rows`, damaged chunks counted once per content (as
    ``checksum_mismatch`` anomalies are)."""
    case = overview(engine)
    with engine.connect() as conn:
        damaged = damaged_chunks(conn)
    return {"sources": source_rows(engine), "hosts": case.hosts, "first_us": case.first_us,
            "last_us": case.last_us, "events": case.events, "processes": case.processes,
            "sessions": case.sessions, "anomalies": anomaly_rows(engine),
            "damaged_chunks": len(damaged)}
