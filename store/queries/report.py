"""The case's scope for a report: what was read (each source with its SHA-256, format,
parser, status and counts), the hosts with their first and last event, the time span,
the integrity anomalies, the ATT&CK techniques the findings name, and what processes did.
Hosts, span and anomalies are :mod:`browse`'s reads; activity is :mod:`activity`'s."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine, select

from proctrail.store.damage import damage_by_source, damaged_chunks
from proctrail.store.detect.attack import TACTICS, TECHNIQUES, tactic_name, technique_name
from proctrail.store.models import Source
from proctrail.store.queries.activity import activity_counts, lsass_access, stack_destinations
from proctrail.store.queries.browse import anomaly_rows, overview
from proctrail.store.queries.findings import FindingRow, list_findings


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


@dataclass
class TechniqueCount:
    """One technique of a case: its findings, the hosts and rules behind them."""

    id: str
    name: str
    tactics: list[str]  # shortnames: the findings' own tactics of this technique
    findings: int = 0
    hosts: set[str] = field(default_factory=set)
    rules: dict[str, int] = field(default_factory=dict)  # title -> findings


def technique_counts(rows: Iterable[FindingRow]) -> list[TechniqueCount]:
    """Every technique the findings name (each finding counted once per technique it
    names), most findings first, then by id. A technique's tactics are those of its
    findings that the catalogue files it under (all of the finding's if it knows none)."""
    counts: dict[str, TechniqueCount] = {}
    tactics: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        for tid in r.techniques:
            known = TECHNIQUES.get(tid)
            c = counts.setdefault(tid, TechniqueCount(tid, technique_name(tid), []))
            c.findings += 1
            c.hosts.add(r.host)
            c.rules[r.title] = c.rules.get(r.title, 0) + 1
            tactics[tid] |= {t for t in r.tactics if known is None or t in known.tactics} \
                or set(known.tactics if known else ())
    for tid, c in counts.items():
        c.tactics = [t for t in TACTICS if t in tactics[tid]]
    return sorted(counts.values(), key=lambda c: (-c.findings, c.id))


def technique_rows(rows: Iterable[FindingRow]) -> list[dict[str, Any]]:
    """A report's technique table: technique, name, tactic(s), findings, hosts."""
    return [{"technique": c.id, "name": c.name,
             "tactic": ", ".join(tactic_name(t) for t in c.tactics),
             "findings": c.findings, "hosts": len(c.hosts)}
            for c in technique_counts(rows)]


def case_scope(engine: Engine) -> dict[str, Any]:
    """``{"sources", "hosts", "first_us", "last_us", "events", "processes", "sessions",
    "anomalies", "damaged_chunks", "techniques"}``: hosts as :func:`browse.overview` gives
    them (name, first/last event, events, processes, sessions), anomalies as
    :func:`browse.anomaly_rows`, damaged chunks counted once per content (as
    ``checksum_mismatch`` anomalies are), techniques as :func:`technique_rows`."""
    case = overview(engine)
    with engine.connect() as conn:
        damaged = damaged_chunks(conn)
    return {"sources": source_rows(engine), "hosts": case.hosts, "first_us": case.first_us,
            "last_us": case.last_us, "events": case.events, "processes": case.processes,
            "sessions": case.sessions, "anomalies": anomaly_rows(engine),
            "damaged_chunks": len(damaged),
            "techniques": technique_rows(list_findings(engine))}


def activity_scope(engine: Engine, destinations: int = 10) -> dict[str, Any]:
    """What processes did, for a report: ``kinds`` (:func:`activity_counts`, kinds with
    records only), the ``destinations`` rarest destinations (:func:`stack_destinations`)
    and the processes that opened lsass (:func:`lsass_access`)."""
    return {"kinds": activity_counts(engine),
            "destinations": stack_destinations(engine, True, destinations),
            "lsass": lsass_access(engine)}
