"""Files -> readers -> batched inserts, with progress callbacks and nothing lost.

Each batch is one transaction that also advances its source's counters, so a store is
consistent wherever an ingest stops; the natural key makes a re-run add nothing twice.
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from proctrail.store.bulk import BulkInsert, dialect_insert
from proctrail.store.db import StoreError
from proctrail.store.events import Event, Skip
from proctrail.store.models import Channel, EventRow, Host, Source
from proctrail.store.readers.base import ReaderError, ReadOptions
from proctrail.store.readers.sniff import Input, iter_inputs, open_records

BATCH = 5000
NAME_MAX = 255  # host and channel names, as the schema keeps them
# The event columns an ingest writes, in the order of each row's parameters.
ROW_COLUMNS = ("source_id", "host_id", "channel_id", "provider", "event_id", "record_id",
               "ts_us", "ts_key", "received_us", "kind", "data")


@dataclass
class SourceReport:
    """What happened to one input."""

    name: str
    format: str = ""
    parser: str = ""
    status: str = "complete"  # complete | already | failed
    records_read: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    skip_examples: list[str] = field(default_factory=list)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass
class IngestReport:
    """The summary of one ingest run."""

    sources: list[SourceReport] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, attr: str) -> int:
        return sum(getattr(s, attr) for s in self.sources)

    @property
    def skipped(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for s in self.sources:
            out.update(s.skipped)
        return out

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status == "failed"]

    @property
    def clean(self) -> bool:
        """Everything was read: no file failed, no record skipped."""
        return not self.failed and not self.skipped


@dataclass
class Progress:
    """Where an ingest is: the input being read and the counts so far."""

    name: str
    index: int
    inputs: int
    records: int
    total_records: int
    done: bool = False


ProgressCallback = Callable[[Progress], None]


def _now_us() -> int:
    return time.time_ns() // 1000


def synthetic_record_id(event: Event, occurrence: int = 0) -> int:
    """A stable negative id for a record that carries none, so re-ingest dedups it.

    ``occurrence`` tells apart records of one file that are identical in every field
    (Sysmon repeats registry and process-access events within a millisecond): the n-th
    copy gets its own id, and the same file read again gives the same ids.
    """
    key = orjson.dumps(
        [event.host, event.channel, event.event_id, event.ts_us, event.fields, occurrence],
        option=orjson.OPT_SORT_KEYS,
    )
    return -(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 1)


class _Occurrences:
    """How often each synthetic id was seen lately in one source (bounded memory).

    Identical records share a timestamp, so they arrive close together: a window of the
    most recent ids is enough to number them.
    """

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self.seen: OrderedDict[int, int] = OrderedDict()

    def next(self, base: int) -> int:
        count = self.seen.pop(base, 0)
        self.seen[base] = count + 1
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return count


class Ingestor:
    """Reads inputs into one store."""

    def __init__(
        self,
        engine: Engine,
        opts: ReadOptions | None = None,
        *,
        batch_size: int = BATCH,
        force: bool = False,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.engine = engine
        self.opts = opts or ReadOptions()
        self.batch_size = batch_size
        self.force = force
        self.progress = progress
        self._hosts: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._events_insert = BulkInsert(engine, EventRow, ROW_COLUMNS, ignore_existing=True)
        self._total_records = 0
        self._occurrences = _Occurrences()

    # -- statements ------------------------------------------------------------------------

    def _lookup_id(self, conn: Connection, model: type[Host] | type[Channel],
                   cache: dict[str, int], name: str) -> int:
        """The id of a host or channel, made on first sight; cached by spelling and key.
        Names are cut at 255 characters (no real host or channel name is longer; the event
        keeps the whole of a hostile one)."""
        stored = name[:NAME_MAX]
        key = stored.lower()
        found = cache.get(key)
        if found is None:
            conn.execute(dialect_insert(self.engine, model).values(key=key, name=stored)
                         .on_conflict_do_nothing())
            found = conn.execute(select(model.id).where(model.key == key)).scalar_one()
            cache[key] = found
        cache[name] = found
        return found

    # -- the run ---------------------------------------------------------------------------

    def run(self, paths: Iterable[str]) -> IngestReport:
        """Ingest every input below ``paths``; one report line per input."""
        started = time.perf_counter()
        # Everything alive now (SQLAlchemy's compiled state, the readers' tables) lives for
        # the whole run: out of the collector's way, it stops rescanning them every batch.
        gc.freeze()
        report = IngestReport()
        items = list(iter_inputs(list(paths), self._store_files()))
        for index, item in enumerate(items, 1):
            if isinstance(item, ReaderError):
                report.sources.append(SourceReport(item.path, status="failed", error=item.reason))
                continue
            report.sources.append(self._ingest_one(item, index, len(items)))
        report.seconds = time.perf_counter() - started
        return report

    def _store_files(self) -> frozenset[Path]:
        """The SQLite store's own files, never read as logs when a folder holds them."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return frozenset()
        base = Path(database).resolve()
        return frozenset(Path(f"{base}{suffix}")
                         for suffix in ("", "-wal", "-shm", "-journal"))

    def _ingest_one(self, item: Input, index: int, inputs: int) -> SourceReport:
        """One input: detect, claim a source row, stream batches; two transactions at least."""
        result = SourceReport(item.name, parser=self.opts.parser)
        source_id: int | None = None
        try:
            digest = item.sha256()
            with item.open() as stream:
                fmt, records = open_records(item, stream, self.opts)
                result.format = fmt
                if fmt != "evtx":
                    result.parser = fmt
                source_id = self._claim_source(item, digest, result)
                if source_id is None:
                    return result
                self._consume(records, source_id, result, index, inputs)
        except ReaderError as exc:
            result.status, result.error = "failed", exc.reason
        except (OSError, EOFError, ValueError) as exc:
            result.status, result.error = "failed", f"read error ({exc})"
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreError(f"{item.name}: store write failed: {reason}") from exc
        if result.status == "failed":
            self._record_failure(item, source_id, result)
        return result

    def _claim_source(self, item: Input, digest: str, result: SourceReport) -> int | None:
        """The source row to fill, or None when this content is already in the store."""
        values = dict(status="running", started_us=_now_us(), finished_us=None,
                      records_read=0, events_stored=0, duplicates=0, skipped=0,
                      skip_reasons="{}", error=None, format=result.format, parser=result.parser)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Source.id, Source.status, Source.path, Source.member)
                .where(Source.sha256 == digest)
            ).all()
            if not self.force and any(row.status == "complete" for row in rows):
                result.status = "already"
                return None
            for row in rows:
                if row.path == item.path and row.member == item.member:
                    conn.execute(update(Source).where(Source.id == row.id).values(**values))
                    return row.id
            return self._insert_source(conn, item, digest, values)

    def _insert_source(self, conn: Connection, item: Input, digest: str,
                       values: dict[str, Any]) -> int:
        row = dict(values, path=item.path, member=item.member, sha256=digest, size=item.size)
        return conn.execute(dialect_insert(self.engine, Source), row).inserted_primary_key[0]

    def _record_failure(self, item: Input, source_id: int | None, result: SourceReport) -> None:
        """Keep an unreadable input in the case, with its reason, so it shows in stats."""
        values = dict(status="failed", finished_us=_now_us(), error=result.error,
                      format=result.format, parser=result.parser)
        with self.engine.begin() as conn:
            if source_id is not None:
                conn.execute(update(Source).where(Source.id == source_id).values(**values))
                return
            found = conn.execute(select(Source.id).where(
                Source.path == item.path, Source.member == item.member,
                Source.status == "failed")).scalars().first()
            if found is not None:
                conn.execute(update(Source).where(Source.id == found).values(**values))
            else:
                self._insert_source(conn, item, "", dict(values, started_us=_now_us()))

    def _consume(self, records: Iterable[Event | Skip], source_id: int, result: SourceReport,
                 index: int, inputs: int) -> None:
        batch: list[Event] = []
        self._occurrences = _Occurrences()
        for item in records:
            if isinstance(item, Skip):
                result.skipped[item.reason] += 1
                if len(result.skip_examples) < 5:
                    result.skip_examples.append(f"{item.reason}: {item.detail}")
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._flush(batch, source_id, result, index, inputs)
                batch = []
        self._flush(batch, source_id, result, index, inputs, final=True)
        if self.progress:
            self.progress(Progress(result.name, index, inputs, result.records_read,
                                   self._total_records, done=True))

    def _flush(self, batch: list[Event], source_id: int, result: SourceReport,
               index: int, inputs: int, final: bool = False) -> None:
        """One transaction: a batch of events and its source's counters (and, last, status)."""
        with self.engine.begin() as conn:
            rows = [self._row(conn, event, source_id) for event in batch]
            stored = self._events_insert.execute(conn, rows)
            result.records_read += len(batch)
            result.stored += stored
            result.duplicates += len(batch) - stored
            progress = dict(records_read=result.records_read, events_stored=result.stored,
                            duplicates=result.duplicates, skipped=result.skipped_total,
                            skip_reasons=orjson.dumps(dict(result.skipped)).decode())
            if final:
                progress.update(status="complete", finished_us=_now_us())
            conn.execute(update(Source).where(Source.id == source_id).values(**progress))
        self._total_records += len(batch)
        if self.progress and batch:
            self.progress(Progress(result.name, index, inputs, result.records_read,
                                   self._total_records))

    def _row(self, conn: Connection, event: Event, source_id: int) -> tuple[Any, ...]:
        """One event as insert parameters, in :data:`ROW_COLUMNS` order."""
        record_id = event.record_id
        if record_id is None:
            record_id = synthetic_record_id(event)
            occurrence = self._occurrences.next(record_id)
            if occurrence:
                record_id = synthetic_record_id(event, occurrence)
        ts = event.ts_us
        host = event.host or self.opts.default_host
        host_id = self._hosts.get(host) or self._lookup_id(conn, Host, self._hosts, host)
        channel_id = (self._channels.get(event.channel)
                      or self._lookup_id(conn, Channel, self._channels, event.channel))
        return (
            source_id,
            host_id,
            channel_id,
            event.provider,
            event.event_id,
            record_id,
            ts,
            ts // 1_000_000 if ts is not None else 0,
            event.received_us,
            event.kind,
            orjson.dumps(event.fields).decode(),
        )
