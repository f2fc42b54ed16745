"""Inputs read by worker processes are stored exactly as the writer stores what it reads."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

import proctrail.store.ingest as ingest
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor

ROOT = Path(__file__).resolve().parents[1]
SOURCE_COLUMNS = ("id, path, member, sha256, size, status, records_read, events_stored, "
                  "duplicates, skipped, skip_reasons, error, format, parser")


def digest(url: str) -> dict[str, tuple[int, str]]:
    out = {}
    with open_engine(url).connect() as conn:
        for table in ("events", "sources", "source_damage", "hosts", "channels"):
            cols = SOURCE_COLUMNS if table == "sources" else "*"
            rows = [repr(tuple(r)) for r in conn.execute(
                text(f"SELECT {cols} FROM {table} ORDER BY id"))]
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


@pytest.fixture
def inputs(tmp_path: Path, samples: Path) -> Path:
    """The demo, a damaged EVTX, a file cut short, a zip with a log and junk, junk."""
    folder = tmp_path / "in"
    shutil.copytree(ROOT / "sample_logs", folder)
    for name in ("sample_with_a_bad_chunk_magic.evtx", "Application_no_crc32.evtx",
                 "sample-with-zero-data-size-event.evtx", "sysmon.evtx"):
        shutil.copy(samples / "evtx-rs" / name, folder)
    whole = (samples / "evtx-rs" / "security.evtx").read_bytes()
    (folder / "cut.evtx").write_bytes(whole[: len(whole) * 2 // 3 + 1000])
    (folder / "junk.bin").write_bytes(b"\x00\x01garbage" * 100)
    with zipfile.ZipFile(folder / "pack.zip", "w") as zf:
        zf.write(folder / "WS02-Sysmon.evtx", "inner/WS02-Sysmon.evtx")
        zf.writestr("inner/notes.txt", "not a log\n")
    return folder


def ingest_with(url: str, workers: int, folder: Path) -> ingest.IngestReport:
    return Ingestor(open_engine(url), workers=workers).run([str(folder)])


def test_workers_store_what_the_writer_stores(inputs: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "PARALLEL_MIN_INPUT", 1)
    read_by_workers: list[str] = []
    real = ingest.read_input

    def counted(task: ingest.ReadTask) -> ingest.ReadResult:  # runs in this process
        read_by_workers.append(task.item.name)
        return real(task)

    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    serial = ingest_with(one, 1, inputs)
    monkeypatch.setattr(ingest, "read_input", counted)
    monkeypatch.setattr(ingest, "executor", lambda workers, cluster=None: _InProcess())
    parallel = ingest_with(two, 2, inputs)
    assert len(read_by_workers) >= 8  # every small input went through the task
    assert digest(one) == digest(two)
    assert [(s.name, s.status, s.records_read, s.stored, dict(s.skipped), s.error,
             len(s.damage)) for s in serial.sources] == \
        [(s.name, s.status, s.records_read, s.stored, dict(s.skipped), s.error,
          len(s.damage)) for s in parallel.sources]
    assert serial.failed and serial.skipped and serial.damaged  # the hard cases are there
    # A second run hashes ahead and reads only what failed (as the writer alone would).
    read_by_workers.clear()
    again = ingest_with(two, 2, inputs)
    assert {s.status for s in again.sources} == {"already", "failed"}
    assert sorted(read_by_workers) == sorted(s.name for s in again.failed)


def test_real_worker_processes_store_the_same(inputs: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "PARALLEL_MIN_INPUT", 1)
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    ingest_with(one, 1, inputs)
    ingest_with(two, 2, inputs)
    assert digest(one) == digest(two)


class _InProcess:
    """An executor with two 'workers' that runs tasks here, so a test can watch them."""

    workers = 2

    def map(self, fn, tasks):
        return (fn(task) for task in tasks)

    def close(self) -> None:
        pass


class _DiesAfterOne:
    """A pool whose worker dies after its first task: what a kill -9 or the OOM killer
    does to a real one (``BrokenProcessPool`` on the next result)."""

    workers = 2

    def map(self, fn, tasks):
        from concurrent.futures.process import BrokenProcessPool

        tasks = iter(tasks)
        yield fn(next(tasks))
        raise BrokenProcessPool("a worker died")

    def close(self) -> None:
        pass


def test_a_dead_worker_loses_nothing(inputs: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer reads what the pool did not deliver; the store is the serial one."""
    import proctrail.store.correlate as correlation
    from proctrail.store.correlate import correlate

    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "PARALLEL_MIN_INPUT", 1)
    monkeypatch.setattr(correlation, "PARALLEL_MIN_EVENTS", 0)
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    ingest_with(one, 1, inputs)
    correlate(open_engine(one), workers=1)
    monkeypatch.setattr(ingest, "executor", lambda workers, cluster=None: _DiesAfterOne())
    monkeypatch.setattr(correlation, "local_executor", lambda workers: _DiesAfterOne())
    report = ingest_with(two, 2, inputs)
    assert not report.spool
    correlate(open_engine(two), workers=2)
    assert digest(one) == digest(two)
    with open_engine(one).connect() as a, open_engine(two).connect() as b:
        for table in ("processes", "sessions", "process_sources"):
            query = text(f"SELECT * FROM {table} ORDER BY 1, 2")
            assert a.execute(query).all() == b.execute(query).all(), table


def test_the_rows_in_flight_stay_within_a_budget(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers + 1 inputs' rows are in memory at once: with more workers, a worker takes
    only smaller inputs (the rest the writer streams), so 16 workers cannot hold 17
    inputs of 64 MiB."""
    from proctrail.store.readers.sniff import Input

    monkeypatch.setattr(ingest, "executor", lambda workers, cluster=None: _InProcess())
    items: list = [Input(str(tmp_path / f"{n}.evtx"), size=n << 20) for n in (10, 30, 60, 90)]
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    two = ingest._ReadAhead(Ingestor(engine, workers=2), items)
    sixteen = ingest._ReadAhead(Ingestor(engine, workers=16), items)
    assert two.wanted == [0, 1, 2] and sixteen.wanted == [0]


def test_small_inputs_stay_with_the_writer(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An input under a MiB costs the writer more (claim, store, commit) than its read:
    handing it to a worker only adds the pool's start and a hash ahead. Measured on the
    attack samples ×10 (1,790 files of 0.1-8 MiB): 5.1 s through the pool, 4.1 s with
    the small ones read by the writer."""
    from proctrail.store.readers.sniff import Input

    monkeypatch.setattr(ingest, "executor", lambda workers, cluster=None: _InProcess())
    small = [Input(str(tmp_path / f"s{n}.evtx"), size=68 << 10) for n in range(600)]
    big = [Input(str(tmp_path / f"b{n}.evtx"), size=20 << 20) for n in range(2)]
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    mixed = ingest._ReadAhead(Ingestor(engine, workers=2), [*small, *big])
    assert mixed.wanted == [600, 601] and mixed.pool is not None
    only_small = ingest._ReadAhead(Ingestor(engine, workers=2), small)
    assert only_small.wanted == [] and only_small.pool is None
    assert ingest.READ_AHEAD_BUDGET >= 17 * 3 * (10 << 20)
