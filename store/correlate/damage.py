"""``checksum_mismatch``: one anomaly per damaged chunk that ingest found (EVTX CRC32s,
record framing; :mod:`proctrail.store.damage`), on the host and channel of the records
stored from it, spanning their times, opening the first of them.

Where none of its records was stored from that input (duplicates of a copy ingested
before, or all unreadable), what ingest read in its range names the host, channel and
times; where it read none either, the input's records just before and after it do; and
failing those, the host is ``unknown``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from proctrail.store.correlate.integrity import Found
from proctrail.store.damage import DamagedChunk, damaged_chunks
from proctrail.store.hosts import named_id
from proctrail.store.models import Channel, EventRow, Host

KIND = "checksum_mismatch"
UNKNOWN_HOST = "unknown"  # as ingest names the host of records that carry none


@dataclass
class _Seen:
    """The stored records of one chunk's range."""

    hosts: Counter[int] = field(default_factory=Counter)
    channels: set[int] = field(default_factory=set)
    first_pk: int | None = None
    start_us: int | None = None
    end_us: int | None = None
    count: int = 0

    def add(self, pk: int, host: int, channel: int, ts: int | None) -> None:
        self.hosts[host] += 1
        self.channels.add(channel)
        if self.first_pk is None:
            self.first_pk = pk
        if ts is not None:
            self.start_us = ts if self.start_us is None else min(self.start_us, ts)
            self.end_us = ts if self.end_us is None else max(self.end_us, ts)
        self.count += 1


def damage_anomalies(conn: Connection) -> list[Found]:
    """One ``checksum_mismatch`` per damaged chunk of the case (``conn`` may write: a host
    is made where the records of a chunk were read on one no stored record names)."""
    groups: dict[tuple[int, ...], list[DamagedChunk]] = {}
    for c in damaged_chunks(conn):
        groups.setdefault(c.sources, []).append(c)
    found: list[Found] = []
    for sources, group in groups.items():
        for c, s in zip(group, _sweep(conn, sources, group), strict=True):
            found.append(_anomaly(conn, sources, c, s))
    return found


def _sweep(conn: Connection, sources: tuple[int, ...], group: list[DamagedChunk]
           ) -> list[_Seen]:
    """The stored records of each chunk's range, in one pass over the input's records in
    record order (ranges sorted by start; a running maximum of their ends bounds the walk
    back, so ranges that overlap are served too)."""
    seen = [_Seen() for _ in group]
    ranged = sorted((c.row.first_record, c.row.last_record, i) for i, c in enumerate(group)
                    if c.row.first_record is not None and c.row.last_record is not None)
    if not ranged:
        return seen
    starts = [r[0] for r in ranged]
    reach: list[int] = []
    for _first, last, _i in ranged:
        reach.append(max(last, reach[-1]) if reach else last)
    query = (select(EventRow.id, EventRow.record_id, EventRow.host_id, EventRow.channel_id,
                    EventRow.ts_us)
             .where(EventRow.source_id.in_(sources),
                    EventRow.record_id.between(starts[0], reach[-1]))
             .order_by(EventRow.record_id, EventRow.id)
             .execution_options(yield_per=10_000))  # the statement's: conn goes on writing
    for pk, rid, host, channel, ts in conn.execute(query):
        at = bisect_right(starts, rid) - 1
        while at >= 0 and reach[at] >= rid:
            first, last, i = ranged[at]
            if first <= rid <= last:
                seen[i].add(pk, host, channel, ts)
            at -= 1
    return seen


def _anomaly(conn: Connection, sources: tuple[int, ...], c: DamagedChunk, s: _Seen
             ) -> Found:
    d = c.row
    records = (f"records {d.first_record}..{d.last_record}" if d.first_record is not None
               else "its records")
    if s.count:
        host = s.hosts.most_common(1)[0][0]
        channel = next(iter(s.channels)) if len(s.channels) == 1 else None
        start, end, pk = s.start_us, s.end_us, s.first_pk
        told = f"{s.count} of them stored, as read"
    elif d.host is not None:
        host, channel = _named(conn, Host, d.host), _named(conn, Channel, d.channel)
        start, end, pk = d.start_us, d.end_us, None
        told = f"{d.records} of them read, none stored from this file"
    else:
        host, channel, start, end = _neighbours(conn, sources, d.first_record, d.last_record)
        pk = None
        told = "none of them read (host and times of the records around it)"
    checks = d.checks.replace(",", ", ")
    detail = (f"{c.name}: chunk {d.chunk} (at {d.file_offset:#x}) fails {checks}; "
              f"{records} cannot be trusted, {told}" + (f"; {d.detail}" if d.detail else ""))
    return Found(host, channel, KIND, start, end, pk, detail)


def _neighbours(conn: Connection, sources: tuple[int, ...], first: int | None,
                last: int | None) -> tuple[int, int | None, int | None, int | None]:
    """Host, channel and times of the input's stored records just before and after a
    range; the ``unknown`` host where it stored none."""
    columns = (EventRow.host_id, EventRow.channel_id, EventRow.ts_us)
    mine = EventRow.source_id.in_(sources)
    rows = [conn.execute(select(*columns).where(mine, EventRow.record_id < first)
                         .order_by(EventRow.record_id.desc()).limit(1)).first()
            if first is not None else None,
            conn.execute(select(*columns).where(mine, EventRow.record_id > last)
                         .order_by(EventRow.record_id).limit(1)).first()
            if last is not None else None]
    near = [r for r in rows if r is not None]
    if not near:
        return _named(conn, Host, UNKNOWN_HOST), None, None, None
    return (near[0].host_id, near[0].channel_id if len({r.channel_id for r in near}) == 1
            else None, near[0].ts_us, near[-1].ts_us)


def _named(conn: Connection, model: type[Host] | type[Channel], name: str | None
           ) -> int | None:
    return None if name is None else named_id(conn, model, name)
