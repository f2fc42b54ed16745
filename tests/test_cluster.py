"""Beyond one machine (issue 19): a real ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 read the inputs and correlate the machines of an ingest into the
test PostgreSQL; the case equals a local SQLite ingest of the same files, even when a
worker is killed mid-ingest."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proctrail.store.db import open_engine
from proctrail.store.load import Detect, load_case
from tests.conftest import case_rows

pytest.importorskip("distributed", reason="dask distributed is the 'cluster' extra")

# Three NXLog exports, several hosts each, multi-host Security + Sysmon.
SAMPLES = ("covenant_psremoting_command.zip", "empire_psexec_dcerpc_tcp_svcctl.zip",
           "covenant_sharpsc_create_dcerpc_smb_svcctl.zip")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """A scheduler and workers as separate processes, as a team would run them."""

    def __init__(self, workers: int = 2) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers = [self._worker(i) for i in range(workers)]
        self._wait(workers)

    def _worker(self, i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address,
             "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait(self, workers: int) -> None:
        from distributed import Client

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with Client(self.address, timeout=5) as client:
                    if len(client.nthreads()) >= workers:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the local Dask cluster at {self.address} did not come up")

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            proc.kill()
            proc.wait(30)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    running = LocalCluster()
    try:
        yield running
    finally:
        running.stop()


def _paths(samples: Path) -> list[str]:
    found = [samples / "otrf" / name for name in SAMPLES]
    if not all(p.exists() for p in found):
        pytest.skip("the OTRF samples are absent")
    return [str(p) for p in found]


def _local(paths: list[str], tmp_path: Path) -> dict[str, object]:
    engine = open_engine(str(tmp_path / "local.db"))
    load_case(engine, paths, workers=1, detection=Detect.ALWAYS)
    return case_rows(engine)


def test_a_cluster_ingest_equals_a_local_one(cluster: LocalCluster, samples: Path,
                                             pg_url: str, tmp_path: Path) -> None:
    paths = _paths(samples)
    engine = open_engine(pg_url)
    done = load_case(engine, paths, cluster=cluster.address, detection=Detect.ALWAYS)
    assert done.ingest is not None and done.ingest.cluster_tasks == len(paths)
    got = case_rows(engine)
    # (what the load said, should this ever fail again: CI once saw 0 lifetimes here)
    said = (done.correlation, done.ingest.spool, [(r.name, r.status, r.error)
                                                  for r in done.ingest.sources])
    assert done.detection is not None and done.detection.slices >= 3  # matched there too
    assert got["events"] == 12_022, said
    assert len(got["processes"]) == 251, said  # type: ignore[arg-type]
    assert got == _local(paths, tmp_path)


def test_a_worker_killed_mid_ingest_loses_nothing(cluster: LocalCluster, samples: Path,
                                                  pg_url: str, tmp_path: Path) -> None:
    paths = _paths(samples) * 1  # the same three, once
    engine = open_engine(pg_url)
    killed = threading.Event()

    def kill_one_when_busy() -> None:
        from distributed import Client

        with Client(cluster.address, timeout=10) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(client.processing().values()):  # a task is running somewhere
                    cluster.workers[0].kill()
                    killed.set()
                    return
                time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_when_busy)
    watcher.start()
    done = load_case(engine, paths, cluster=cluster.address, detection=Detect.ALWAYS)
    watcher.join()
    assert killed.is_set()
    assert done.ingest is not None and done.ingest.clean
    assert case_rows(engine) == _local(paths, tmp_path)


def test_an_unreachable_scheduler_is_one_clear_line(tmp_path: Path, samples: Path) -> None:
    paths = _paths(samples)[:1]
    address = f"tcp://127.0.0.1:{_free_port()}"
    done = subprocess.run([sys.executable, "-m", "proctrail.app.cli", "ingest", "--db",
                           str(tmp_path / "c.db"), "--cluster", address, *paths],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"proctrail: error: {address}: no Dask "
                                                   "scheduler answers"), done.stderr


def test_a_file_a_worker_does_not_see_is_left_to_the_command(tmp_path: Path) -> None:
    """Workers read the evidence where they see it; one without the share says so (a
    PostgreSQL task returns None, a read task marks its result missing) and the command
    reads that file itself."""
    from proctrail.store.file_writers import IngestTask, ingest_file
    from proctrail.store.readers.base import ReadOptions
    from proctrail.store.readers.sniff import Input
    from proctrail.store.reading import ReadTask, read_input

    gone = tmp_path / "not-on-this-worker.evtx"
    assert ingest_file(IngestTask("postgresql+psycopg://nobody@/x", str(gone),
                                  ReadOptions(), False)) is None
    gone.write_bytes(b"ElfFile\x00")
    item = Input(str(gone), "", gone.stat().st_size)
    gone.unlink()
    read = read_input(ReadTask(item, ReadOptions()))
    assert read.missing and not read.opened
