"""Files -> readers -> batched inserts, with progress callbacks and nothing lost.

Each batch is one transaction that also advances its source's counters, so a store is
consistent wherever an ingest stops; the natural key makes a re-run add nothing twice.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from proctrail.store.bulk import BulkInsert, dialect_insert
from proctrail.store.damage import DamageTally, damage_of, store_damage
from proctrail.store.events import Damage, Skip
from proctrail.store.failures import server_unreachable, store_failure, transient
from proctrail.store.hosts import named_id
from proctrail.store.locks import LOCK_NAMES
from proctrail.store.models import Channel, EventRow, Host, Source
from proctrail.store.pg_load import events_load, restore_events_table
from proctrail.store.readers.base import ReaderError, ReadOptions
from proctrail.store.readers.sniff import Input, iter_inputs
from proctrail.store.reading import ReadResult, ReadTask, Row, read_input, read_rows
from proctrail.store.spool import SpooledSource, SpoolLock, SpoolWriter, pending, read_spool
from proctrail.store.tasks import Executor, default_workers, executor, local_executor
from proctrail.store.text import first_line

BATCH = 5000
STORE_ATTEMPTS = 5  # a batch the server rolled back for another's locks, run again
# The event columns an ingest writes, in the order of each row's parameters.
ROW_COLUMNS = ("source_id", "host_id", "channel_id", "provider", "event_id", "record_id",
               "ts_us", "ts_key", "received_us", "kind", "data")


@dataclass
class SourceReport:
    """What happened to one input."""

    name: str
    format: str = ""
    parser: str = ""
    status: str = "complete"  # complete | already | failed | spooled
    records_read: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    skip_examples: list[str] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)  # chunks failing their checksums

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass
class IngestReport:
    """The summary of one ingest run."""

    sources: list[SourceReport] = field(default_factory=list)
    seconds: float = 0.0
    spool: Path | None = None  # where what could not be stored was kept
    spool_reason: str = ""  # why: the database's own words
    replayed: list[SourceReport] = field(default_factory=list)  # from earlier spools
    cluster_tasks: int = 0  # inputs read on a Dask cluster's workers
    stored_by_workers: int = 0  # files workers ingested into PostgreSQL themselves
    here: int = 0  # files a cluster could not take (not on its shares, or it went away)

    def total(self, attr: str) -> int:
        return sum(getattr(s, attr) for s in self.sources)

    @property
    def skipped(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for s in self.sources:
            out.update(s.skipped)
        return out

    @property
    def damaged(self) -> int:
        """Chunks whose checksums or record framing fail (their records are stored)."""
        return sum(len(s.damage) for s in self.sources)

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


class Ingestor:
    """Reads inputs into one store; when the database goes away mid-run, into a spool."""

    def __init__(
        self,
        engine: Engine,
        opts: ReadOptions | None = None,
        *,
        batch_size: int = BATCH,
        force: bool = False,
        progress: ProgressCallback | None = None,
        workers: int | None = 1,
        follow: bool = False,
        cluster: str | None = None,
        keys: bool = True,
    ) -> None:
        self.engine = engine
        # A Dask scheduler's address: inputs are read on its workers (:mod:`.cluster`).
        self.cluster = cluster
        self.cluster_tasks = 0  # inputs the cluster read
        # Whether this run drops and restores a fresh PostgreSQL case's foreign keys
        # (:mod:`.pg_load`); a cluster worker's run leaves them to the command.
        self.keys = keys
        # A followed file grows: its new content is read into the source row its path
        # already has (the events it held are there, not doubled), not into a new one.
        self.follow = follow
        self.workers = workers  # None: the cores; inputs read in worker processes
        self.opts = opts or ReadOptions()
        self.batch_size = batch_size
        self.force = force
        self.progress = progress
        self._hosts: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._events_insert = BulkInsert(engine, EventRow, ROW_COLUMNS, ignore_existing=True)
        self._total_records = 0
        self._spool: SpoolWriter | None = None
        self._spool_reason = ""
        self._current: SpooledSource | None = None
        self._current_spooled = False
        self._sources_seen = 0
        self._stored_base = 0  # events of the current input stored by an earlier run
        self._tally = DamageTally()  # the current input's damaged chunks
        self._digests: dict[str, str] = {}  # inputs hashed ahead of their turn
        # One writer thread: the database stores a batch while the next one is read (both
        # drivers release the GIL while the database works). At most two batches in memory.
        self._writer = ThreadPoolExecutor(max_workers=1)
        self._pending: tuple[Future[int], list[Row]] | None = None

    # -- statements ------------------------------------------------------------------------

    def _lookup_id(self, conn: Connection, model: type[Host] | type[Channel],
                   cache: dict[str, int], name: str) -> int:
        """The id of a host or channel (:func:`~proctrail.store.hosts.named_id`), cached by
        spelling."""
        found = cache[name] = named_id(conn, model, name)
        return found

    def _went_away(self, exc: SQLAlchemyError) -> bool:
        return server_unreachable(exc, self.engine.dialect.name)

    def _start_spool(self, exc: SQLAlchemyError) -> None:
        self._spool_reason = first_line(exc)
        self._spool = SpoolWriter(self.engine)

    # -- the run ---------------------------------------------------------------------------

    def run(self, paths: Iterable[str]) -> IngestReport:
        """Ingest every input below ``paths``; one report line per input. Spools left by
        an earlier run that lost its database are replayed first."""
        # Everything alive now (SQLAlchemy's compiled state, the readers' tables) lives for
        # the whole run: out of the collector's way, it stops rescanning them every batch.
        # Back in its reach after the run: a long-lived process (the TUI following logs, a
        # cluster's worker) runs many ingests, and garbage frozen would never be freed. (A
        # caller that froze its own objects keeps them so: unfreezing is all or nothing.)
        outer = gc.get_freeze_count()
        gc.freeze()
        try:
            return self._run(paths)
        finally:
            if not outer:
                gc.unfreeze()

    def _run(self, paths: Iterable[str]) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        if self.keys:
            with contextlib.suppress(SQLAlchemyError):  # (away: the spool takes over below)
                restore_events_table(self.engine)  # what a load that died dropped: back first
        report.replayed = self.replay_spools()
        items = list(iter_inputs(list(paths), self.store_files()))
        pool = self._file_writers(items)
        if pool is not None:
            # Into PostgreSQL, workers (local, or a cluster's) ingest whole files each on a
            # connection of its own (ingests of different files into one case may run at
            # once): this only schedules.
            from proctrail.store.file_writers import ingest_in_workers

            with events_load(self.engine):  # keys and indexes back once every worker is done
                ingest_in_workers(self, items, report, pool)
            report.seconds = time.perf_counter() - started
            return report
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proctrail-store")
        ahead = _ReadAhead(self, items)
        # A fresh PostgreSQL case: the events' keys checked and indexes built once, at the end.
        with events_load(self.engine) if self.keys else contextlib.nullcontext():
            try:
                for index, item in enumerate(items, 1):
                    if isinstance(item, ReaderError):
                        report.sources.append(SourceReport(item.path, status="failed",
                                                           error=item.reason))
                        continue
                    report.sources.append(self._ingest_one(item, index, len(items),
                                                           ahead.result(index - 1)))
            finally:
                ahead.close()
                report.cluster_tasks = self.cluster_tasks
                self._writer.shutdown(wait=True)
                if self._spool is not None:
                    self._spool.close()
                    report.spool, report.spool_reason = self._spool.path, self._spool_reason
        report.seconds = time.perf_counter() - started
        return report

    def _file_writers(self, items: list[Input | ReaderError]) -> Executor | None:
        """The workers that ingest whole files into a PostgreSQL case themselves: the
        cluster's, or local processes when several inputs add up to a parallel run (as
        :class:`_ReadAhead` decides); None: one writer here."""
        if self.engine.dialect.name != "postgresql" or not self.keys or self.follow:
            return None  # (not keys: this is a worker's run; follow: a path's own source row)
        if self.cluster:
            return executor(None, self.cluster)
        inputs = [i for i in items if isinstance(i, Input)]
        files = len({i.path for i in inputs})
        workers = self.workers if self.workers is not None else default_workers()
        if workers < 2 or files < 2 or sum(i.size for i in inputs) < PARALLEL_MIN_BYTES:
            return None
        return local_executor(min(workers, files))

    def store_files(self) -> frozenset[Path]:
        """The SQLite store's own files, never read as logs when a folder holds them."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return frozenset()
        base = Path(database).resolve()
        return frozenset(Path(f"{base}{suffix}") for suffix in (
            "", "-wal", "-shm", "-journal", *(f".{name}.lock" for name in LOCK_NAMES)))

    def _ingest_one(self, item: Input, index: int, inputs: int,
                    read: ReadResult | None = None) -> SourceReport:
        """One input: detect, claim a source row, stream batches; two transactions at least.
        ``read``: the input already read into rows by a worker (:mod:`.reading`)."""
        result = SourceReport(item.name, parser=self.opts.parser)
        source_id: int | None = None
        self._stored_base = 0
        self._tally = DamageTally()
        try:
            digest = self._digests.pop(item.name, None) or item.sha256()
            with contextlib.nullcontext() if read is not None else item.open() as stream:
                if read is None:
                    fmt, records = read_rows(item, stream, self.opts, self._tally)
                else:
                    if not read.opened:
                        raise ReaderError(item.name, read.error or "unreadable")
                    fmt, records = read.format, _replayed(read, item.name)
                    self._tally = read.tally
                result.format = fmt
                if fmt != "evtx":
                    result.parser = fmt
                self._sources_seen += 1
                self._current = SpooledSource(self._sources_seen, item.path, item.member,
                                              digest, item.size, fmt, result.parser)
                self._current_spooled = False
                if self._spool is None:
                    try:
                        source_id = self._claim_source(item, digest, result)
                    except SQLAlchemyError as exc:
                        if not self._went_away(exc):
                            raise
                        self._start_spool(exc)
                    else:
                        if source_id is None:
                            return result
                self._consume(records, source_id, result, index, inputs)
        except ReaderError as exc:
            result.status, result.error = "failed", exc.reason
        except (OSError, EOFError, ValueError) as exc:
            result.status, result.error = "failed", f"read error ({exc})"
        except SQLAlchemyError as exc:
            raise store_failure(exc, self.engine, f"storing {item.name}") from exc
        try:  # what was read before a reader failed still lands
            self._settle(result)
        except SQLAlchemyError as exc:
            raise store_failure(exc, self.engine, f"storing {item.name}") from exc
        if result.status == "failed":
            if self._spool is not None and self._current is not None:
                self._spool_end(result)
            else:
                if source_id is not None and self._tally.found:  # kept with what was read
                    with self.engine.begin() as conn:
                        store_damage(conn, self.engine, source_id, self._tally.rows())
                self._record_failure(item, source_id, result)
        elif self._spool is not None:
            result.status = "spooled"
        return result

    def already(self, digest: str) -> bool:
        """Whether content with this SHA-256 is stored complete (and not forced again)."""
        with self.engine.connect() as conn:
            return conn.execute(select(Source.id).where(
                Source.sha256 == digest, Source.status == "complete").limit(1)).first() \
                is not None

    def _claim_source(self, item: Input, digest: str, result: SourceReport) -> int | None:
        """The source row to fill, or None when this content is already in the store."""
        values = dict(status="running", started_us=_now_us(), finished_us=None,
                      records_read=0, events_stored=0, duplicates=0, skipped=0,
                      skip_reasons="{}", error=None, format=result.format, parser=result.parser)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Source.id, Source.status, Source.path, Source.member,
                       Source.events_stored)
                .where(Source.sha256 == digest)
            ).all()
            if not self.force and any(row.status == "complete" for row in rows):
                result.status = "already"
                return None
            if self.follow:
                rows = conn.execute(
                    select(Source.id, Source.status, Source.path, Source.member,
                           Source.events_stored)
                    .where(Source.path == item.path, Source.member == item.member)
                    .order_by(Source.id.desc()).limit(1)).all() or rows
                values.update(sha256=digest, size=item.size)
            for row in rows:
                if row.path == item.path and row.member == item.member:
                    # An interrupted (or forced) earlier read stored some of it already:
                    # the row keeps counting every event of this input in the store.
                    self._stored_base = row.events_stored or 0
                    conn.execute(update(Source).where(Source.id == row.id).values(
                        **dict(values, events_stored=self._stored_base)))
                    return row.id
            self._stored_base = 0
            return self._insert_source(conn, item, digest, values)

    def _insert_source(self, conn: Connection, item: Input | SpooledSource, digest: str,
                       values: dict[str, Any]) -> int:
        row = dict(values, path=item.path, member=item.member, sha256=digest, size=item.size)
        return conn.execute(dialect_insert(self.engine, Source), row).inserted_primary_key[0]

    def _record_failure(self, item: Input | SpooledSource, source_id: int | None,
                        result: SourceReport) -> None:
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

    def _consume(self, records: Iterable[Row | Skip | Damage], source_id: int | None,
                 result: SourceReport, index: int, inputs: int) -> None:
        """Store ``records`` (:func:`~proctrail.store.reading.read_rows`, read here or by a
        worker) in batches, counting skips and damage."""
        batch: list[Row] = []
        for item in records:
            if isinstance(item, Skip):
                result.skipped[item.reason] += 1
                if len(result.skip_examples) < 5:
                    result.skip_examples.append(f"{item.reason}: {item.detail}")
                continue
            if isinstance(item, Damage):  # tallied as it was read
                result.damage.append(item)
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._flush(batch, source_id, result, index, inputs)
                batch = []
        self._flush(batch, source_id, result, index, inputs, final=True)
        if self.progress:
            self.progress(Progress(result.name, index, inputs, result.records_read,
                                   self._total_records, done=True))

    def _flush(self, batch: list[Row], source_id: int | None, result: SourceReport,
               index: int, inputs: int, final: bool = False) -> None:
        """Hand a batch to the writer thread, which stores it in one transaction with its
        source's counters (and, last, its status) while the next batch is read; into the
        spool instead once the database has gone away."""
        self._settle(result)
        if self._spool is None and source_id is not None:
            read = result.records_read + len(batch)
            # Counters as of this batch, taken here: the reader goes on changing ``result``.
            counters = dict(read=read, before=self._stored_base + result.stored,
                            skipped=result.skipped_total,
                            skip_reasons=orjson.dumps(dict(result.skipped)).decode(),
                            damage=self._tally.rows() if final else [])
            self._pending = (self._writer.submit(self._store, batch, source_id, counters,
                                                 final), batch)
            if final:
                self._settle(result)
        elif self._spool is not None:
            self._spool_batch(batch, result)
        if final and self._spool is not None:
            self._spool_end(result)
        self._total_records += len(batch)
        if self.progress and batch:
            self.progress(Progress(result.name, index, inputs, result.records_read,
                                   self._total_records))

    def _settle(self, result: SourceReport) -> None:
        """Wait for the batch in the writer thread; count it, or spool it if the database
        went away under it (its commit may have happened: replay ignores what exists)."""
        if self._pending is None:
            return
        future, batch = self._pending
        self._pending = None
        try:
            stored = future.result()
        except SQLAlchemyError as exc:
            if not self._went_away(exc):
                raise
            self._start_spool(exc)
            self._spool_batch(batch, result)
            return
        result.records_read += len(batch)
        result.stored += stored
        result.duplicates += len(batch) - stored

    def _store(self, batch: list[Row], source_id: int, counters: dict[str, Any],
               final: bool) -> int:
        """The writer thread's transaction: a batch and its source's counters; run again
        when the server rolled it back for another transaction's locks (two ingests making
        the same new hosts in another order, or one putting a fresh case's keys and
        indexes back: :mod:`.pg_load`)."""
        attempt = 1
        while True:
            hosts, channels = set(self._hosts), set(self._channels)
            try:
                return self._store_once(batch, source_id, counters, final)
            except Exception as exc:
                if not transient(exc) or attempt == STORE_ATTEMPTS:
                    raise
                # Ids learned in the rolled-back transaction were rolled back with it.
                for cache, before in ((self._hosts, hosts), (self._channels, channels)):
                    for name in set(cache) - before:
                        del cache[name]
                time.sleep(0.1 * attempt)
                attempt += 1

    def _store_once(self, batch: list[Row], source_id: int, counters: dict[str, Any],
                    final: bool) -> int:
        with self.engine.begin() as conn:
            stored = self._events_insert.execute(
                conn, [self._db_row(conn, row, source_id) for row in batch])
            store_damage(conn, self.engine, source_id, counters["damage"])
            in_store = counters["before"] + stored
            values = dict(records_read=counters["read"], events_stored=in_store,
                          duplicates=max(0, counters["read"] - in_store),
                          skipped=counters["skipped"], skip_reasons=counters["skip_reasons"])
            if final:
                values.update(status="complete", finished_us=_now_us())
            conn.execute(update(Source).where(Source.id == source_id).values(**values))
        return stored

    # -- the spool -------------------------------------------------------------------------

    def _spool_batch(self, batch: list[Row], result: SourceReport) -> None:
        assert self._spool is not None and self._current is not None
        if not self._current_spooled:
            self._current.stored_before = self._stored_base + result.stored
            self._spool.source(self._current)
            self._current_spooled = True
        self._spool.events(self._current.key, batch)
        result.records_read += len(batch)

    def _spool_end(self, result: SourceReport) -> None:
        assert self._spool is not None and self._current is not None
        if not self._current_spooled:
            self._spool_batch([], result)
        src = self._current
        src.records_read = result.records_read
        src.skipped = dict(result.skipped)
        src.status = "failed" if result.status == "failed" else "complete"
        src.error = result.error
        src.damage = self._tally.rows()
        self._spool.end(src)

    def replay_spools(self) -> list[SourceReport]:
        """Store what earlier runs spooled for this case, then remove their spool files.
        Rows go in with insert-or-ignore, so nothing is doubled; a spool another process
        is writing or replaying is left alone."""
        done: list[SourceReport] = []
        for path in pending(self.engine):
            lock = SpoolLock(path)
            if not lock.acquire():
                continue
            try:
                done.extend(self._replay(path))
                path.unlink()
            except SQLAlchemyError as exc:
                raise store_failure(exc, self.engine, f"replaying the spool {path} (it is "
                                    "kept for the next run)") from exc
            finally:
                lock.release()
        return done

    def _replay(self, path: Path) -> list[SourceReport]:
        ids: dict[int, int | None] = {}
        reports: dict[int, SourceReport] = {}
        for rec in read_spool(path):
            if rec.kind == "source" and rec.source is not None:
                src = rec.source
                report = SourceReport(src.path + (f"!{src.member}" if src.member else ""),
                                      format=src.format, parser=src.parser)
                report.stored = 0
                reports[src.key] = report
                ids[src.key] = self._claim_spooled(src, report)
            elif rec.kind == "events" and ids.get(rec.key) is not None:
                source_id = ids[rec.key]
                assert source_id is not None
                with self.engine.begin() as conn:
                    stored = self._events_insert.execute(
                        conn, [self._db_row(conn, tuple(row), source_id) for row in rec.rows])
                reports[rec.key].stored += stored
                reports[rec.key].records_read += len(rec.rows)
            elif rec.kind == "end" and rec.source is not None and ids.get(rec.key):
                self._finish_spooled(rec.source, ids[rec.key], reports[rec.key])
        return list(reports.values())

    def _claim_spooled(self, src: SpooledSource, report: SourceReport) -> int | None:
        """The source row a spooled input fills (the one its first part went into), or None
        when its content has since been stored completely."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(Source.id, Source.status, Source.path, Source.member)
                                .where(Source.sha256 == src.sha256)).all()
            if any(row.status == "complete" for row in rows):
                report.status = "already"
                return None
            for row in rows:
                if row.path == src.path and row.member == src.member:
                    conn.execute(update(Source).where(Source.id == row.id)
                                 .values(status="running"))
                    return row.id
            values = dict(status="running", started_us=_now_us(), finished_us=None,
                          records_read=0, events_stored=0, duplicates=0, skipped=0,
                          skip_reasons="{}", error=None, format=src.format, parser=src.parser)
            return self._insert_source(conn, src, src.sha256, values)

    def _finish_spooled(self, src: SpooledSource, source_id: int | None,
                        report: SourceReport) -> None:
        report.skipped.update(src.skipped)
        report.damage = [damage_of(row) for row in src.damage]
        if source_id is not None and src.damage:
            with self.engine.begin() as conn:
                store_damage(conn, self.engine, source_id, src.damage)
        report.duplicates = report.records_read - report.stored
        if src.status == "failed":
            report.status, report.error = "failed", src.error
            self._record_failure(src, source_id, report)
            return
        stored = src.stored_before + report.stored
        with self.engine.begin() as conn:
            conn.execute(update(Source).where(Source.id == source_id).values(
                status="complete", finished_us=_now_us(), records_read=src.records_read,
                events_stored=stored, duplicates=src.records_read - stored,
                skipped=sum(src.skipped.values()),
                skip_reasons=orjson.dumps(src.skipped).decode()))

    # -- rows ------------------------------------------------------------------------------

    def _db_row(self, conn: Connection, row: Row, source_id: int) -> tuple[Any, ...]:
        """A read row as insert parameters, in :data:`ROW_COLUMNS` order."""
        host, channel = row[0], row[1]
        host_id = self._hosts.get(host) or self._lookup_id(conn, Host, self._hosts, host)
        channel_id = (self._channels.get(channel)
                      or self._lookup_id(conn, Channel, self._channels, channel))
        return (source_id, host_id, channel_id, *row[2:])


def _replayed(read: ReadResult, name: str) -> Iterator[Row | Skip | Damage]:
    """A worker's rows in file order, then its failure, raised where the serial path
    raises it: what was stored before it stays, the rest of the batch with it does not."""
    yield from read.items
    if read.error is not None:
        raise ReaderError(name, read.error)


# Inputs read by worker processes: each at most this big (its rows come back whole, about
# three times its size in memory) and at least a MiB (a smaller input costs the writer
# more, claim, store and commit, than its read: a worker would only add a hash ahead), and
# together at least this much (below it a pool's start costs more than it gives). The
# rows in flight (workers + 1 inputs) stay within READ_AHEAD_BUDGET: with more workers,
# the biggest input a worker takes is smaller.
PARALLEL_MAX_INPUT = 64 << 20
PARALLEL_MIN_INPUT = 1 << 20
PARALLEL_MIN_BYTES = 32 << 20
READ_AHEAD_BUDGET = 768 << 20


def _seen(read: ReadResult) -> ReadResult | None:
    """A worker's read, or None when the file was not there for it (a cluster worker
    without the share): the writer reads it itself."""
    return None if read.missing else read


class _ReadAhead:
    """Inputs read into rows by a pool of workers, a few ahead of the writer, in input
    order. An input whose content the store already holds complete (and ``--force`` is
    not given) is hashed here and not read at all; archives of unknown size, big and small
    inputs and small runs are read by the writer itself, as with one worker."""

    def __init__(self, ingestor: Ingestor, items: list[Input | ReaderError]) -> None:
        self.ingestor = ingestor
        workers = ingestor.workers if ingestor.workers is not None else default_workers()
        biggest = min(PARALLEL_MAX_INPUT, READ_AHEAD_BUDGET // (3 * (workers + 1)))
        # Asked for a cluster: every input it can take goes there, small ones too.
        least = 0 if ingestor.cluster else PARALLEL_MIN_INPUT
        self.wanted = [i for i, item in enumerate(items)
                       if isinstance(item, Input) and item.kind != "gzip"
                       and least <= item.size <= biggest]
        total = sum(items[i].size for i in self.wanted)  # type: ignore[union-attr]
        self.wanted_set = set(self.wanted)
        self.pool: Executor | None = None
        self.order: deque[int] = deque()  # inputs handed to the pool, their results due
        self.buffer: dict[int, ReadResult] = {}
        self.decided = -1  # the last input the pool's task list has passed
        self.results: Iterator[ReadResult] = iter(())
        if not ingestor.cluster and (len(self.wanted) < 2 or total < PARALLEL_MIN_BYTES):
            return
        if not self.wanted:
            return
        pool = executor(workers, ingestor.cluster)
        if pool.workers < 2 and not ingestor.cluster:
            pool.close()
            return
        self.pool = pool
        self.items = items
        self.results = pool.map(read_input, self._tasks())

    def _tasks(self) -> Iterator[ReadTask]:
        ingestor = self.ingestor
        for i in self.wanted:
            item = self.items[i]
            assert isinstance(item, Input)
            self.decided = i
            if not ingestor.force:
                try:
                    digest = item.sha256()
                except (ReaderError, OSError, EOFError, ValueError):
                    continue  # the writer reads it itself and says why
                ingestor._digests[item.name] = digest
                if ingestor.already(digest):
                    continue
            self.order.append(i)
            yield ReadTask(item, ingestor.opts)

    def result(self, i: int) -> ReadResult | None:
        """The worker's read of input ``i`` (inputs are asked for in order), or None: the
        writer reads it itself."""
        if self.pool is None or i not in self.wanted_set:
            return None
        try:
            while i not in self.buffer and self.decided < i:
                read = next(self.results, None)
                if read is None:
                    break
                self.buffer[self.order.popleft()] = read
            if i in self.buffer:
                return _seen(self.buffer.pop(i))
            if self.order and self.order[0] == i:
                self.order.popleft()
                return _seen(next(self.results))
        except BrokenProcessPool:  # a worker died (killed, out of memory): read the rest here
            self.close()
            self.pool = None
        return None

    def close(self) -> None:
        if self.pool is not None:
            self.ingestor.cluster_tasks += getattr(self.pool, "submitted", 0)
            self.pool.close()
            self.pool = None
