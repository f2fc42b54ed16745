"""Damage found in inputs at ingest (EVTX chunks whose checksums or record framing fail):
kept with its source, read back by correlation (``checksum_mismatch`` anomalies), by
``stats`` and by the report.

Readers report a damaged chunk before its records; ingest notes the host, channel and
times of the records it reads in that chunk's range (:class:`DamageTally`), so that the
anomaly finds its host even where none of them was stored (all duplicates of a copy
ingested before).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select

from proctrail.store.bulk import dialect_insert
from proctrail.store.events import Damage, Event
from proctrail.store.models import Source, SourceDamage


@dataclass
class _Read:
    """What was read in one damaged chunk's range."""

    damage: Damage
    hosts: Counter[str] = field(default_factory=Counter)
    channels: set[str] = field(default_factory=set)
    start_us: int | None = None
    end_us: int | None = None
    records: int = 0

    def row(self) -> dict[str, Any]:
        d = self.damage
        return {"chunk": d.chunk, "file_offset": d.offset, "checks": ",".join(d.checks)[:128],
                "first_record": d.first_record, "last_record": d.last_record,
                "detail": d.detail,
                "host": self.hosts.most_common(1)[0][0] if self.hosts else None,
                "channel": next(iter(self.channels)) if len(self.channels) == 1 else None,
                "start_us": self.start_us, "end_us": self.end_us, "records": self.records}


class DamageTally:
    """The damaged chunks of one input, and what was read in each one's record range."""

    def __init__(self) -> None:
        self.found: list[_Read] = []
        self.watching = False  # a range to note records in: :meth:`see` is worth calling
        self._ranges: list[tuple[int, int, _Read]] = []  # sorted by first record id
        self._starts: list[int] = []

    def add(self, damage: Damage) -> None:
        read = _Read(damage)
        self.found.append(read)
        if damage.first_record is not None and damage.last_record is not None:
            self._ranges.append((damage.first_record, damage.last_record, read))
            self._ranges.sort(key=lambda r: r[0])
            self._starts = [r[0] for r in self._ranges]
            self.watching = True

    def see(self, event: Event) -> None:
        """Note a record read: in the damaged range that starts last at or before its id."""
        rid = event.record_id
        if rid is None:
            return
        at = bisect_right(self._starts, rid) - 1
        if at < 0 or rid > self._ranges[at][1]:
            return
        read = self._ranges[at][2]
        read.hosts[event.host] += 1
        read.channels.add(event.channel)
        read.records += 1
        ts = event.ts_us
        if ts is not None:
            read.start_us = ts if read.start_us is None else min(read.start_us, ts)
            read.end_us = ts if read.end_us is None else max(read.end_us, ts)

    def rows(self) -> list[dict[str, Any]]:
        """``source_damage`` rows without their source (the spool keeps them so)."""
        return [r.row() for r in self.found]


def damage_of(row: dict[str, Any]) -> Damage:
    """The damage a ``source_damage`` row (or a spooled one) tells."""
    return Damage(row["chunk"], row["file_offset"], tuple(row["checks"].split(",")),
                  row["first_record"], row["last_record"], row["detail"])


def store_damage(conn: Connection, engine: Engine, source_id: int,
                 rows: list[dict[str, Any]]) -> None:
    """Keep damage with its source; a chunk kept already (a forced re-read) stays as it is."""
    if rows:
        conn.execute(dialect_insert(engine, SourceDamage).on_conflict_do_nothing(),
                     [dict(r, source_id=source_id) for r in rows])


@dataclass(slots=True)
class DamagedChunk:
    """One damaged chunk of one content, with every source that holds that content."""

    name: str  # the first source's path (archive!member)
    sources: tuple[int, ...]
    row: Row[Any]  # the source_damage row (its columns by name)


def damaged_chunks(conn: Connection) -> list[DamagedChunk]:
    """Every damaged chunk of the case, once per content (the same file read again under
    another name with ``--force`` is the same chunk), in source and chunk order."""
    query = (select(*SourceDamage.__table__.c, Source.path, Source.member, Source.sha256)
             .join(Source, Source.id == SourceDamage.source_id)
             .order_by(Source.id, SourceDamage.chunk))
    rows = conn.execute(query).all()
    digests = {r.sha256 for r in rows if r.sha256}
    holders: dict[str, list[int]] = {}
    if digests:
        for source_id, digest in conn.execute(select(Source.id, Source.sha256)
                                              .where(Source.sha256.in_(digests))
                                              .order_by(Source.id)):
            holders.setdefault(digest, []).append(source_id)
    out: dict[tuple[str, int], DamagedChunk] = {}
    for r in rows:
        key = (r.sha256 or f"#{r.source_id}", r.chunk)
        if key not in out:
            out[key] = DamagedChunk(f"{r.path}!{r.member}" if r.member else r.path,
                                    tuple(holders.get(r.sha256, [r.source_id])), r)
    return list(out.values())


def damage_by_source(engine: Engine) -> dict[int, int]:
    """How many damaged chunks each source has (sources without any left out)."""
    query = select(SourceDamage.source_id, func.count()).group_by(SourceDamage.source_id)
    with engine.connect() as conn:
        return {source_id: n for source_id, n in conn.execute(query)}
