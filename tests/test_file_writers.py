"""A parallel ingest into PostgreSQL: each worker process ingests whole files on a
connection of its own (store/file_writers.py), one writer per stream of files; the case
equals one writer's SQLite case, and a re-run stores nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

import proctrail.store.ingest as ingest_module
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor, Progress
from tests.conftest import case_rows

SAMPLES = ("covenant_psremoting_command.zip", "empire_psexec_dcerpc_tcp_svcctl.zip",
           "covenant_sharpsc_create_dcerpc_smb_svcctl.zip")


def test_workers_write_their_own_files_and_the_case_is_one_writers(
        samples: Path, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(samples / "otrf" / name) for name in SAMPLES]
    if not all(Path(p).exists() for p in paths):
        pytest.skip("the OTRF samples are absent")
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 0)  # small files pay here too
    engine = open_engine(pg_url)
    heard: list[Progress] = []
    report = Ingestor(engine, workers=2, progress=heard.append).run(paths)
    assert report.clean and report.stored_by_workers == 3 and report.cluster_tasks == 0
    assert report.total("stored") == 12_022
    assert sorted(p.index for p in heard if p.done) == [1, 2, 3]
    again = Ingestor(engine, workers=2).run(paths)
    assert again.total("stored") == 0 and {s.status for s in again.sources} == {"already"}
    correlate(engine)
    local = open_engine(f"sqlite:///{tmp_path / 'one.db'}")
    Ingestor(local, workers=1).run(paths)
    correlate(local)
    assert case_rows(engine) == case_rows(local)


def test_sqlite_and_small_runs_keep_one_writer(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1] / "sample_logs"
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    report = Ingestor(engine, workers=2).run([str(root)])
    assert report.stored_by_workers == 0 and report.total("stored") == 696


def test_a_worker_whose_connections_died_between_files_connects_anew(pg_url: str) -> None:
    """A worker keeps its engine from file to file (opening one a file cost small files
    2.5x); when the server dropped its pooled connections meanwhile (restarted, or an
    administrator's pg_terminate_backend), the next file connects anew, not spools."""
    from sqlalchemy import create_engine, text

    from proctrail.store.file_writers import IngestTask, ingest_file
    from proctrail.store.readers.base import ReadOptions

    root = Path(__file__).resolve().parents[1] / "sample_logs"
    first = ingest_file(IngestTask(pg_url, str(root / "lnx01-audit.log"), ReadOptions(),
                                   False))
    assert first is not None and first.total("stored") == 185
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    admin.dispose()
    assert killed >= 1  # the worker's pooled connections
    second = ingest_file(IngestTask(pg_url, str(root / "WS01-Security.xml"), ReadOptions(),
                                    False))
    assert second is not None and second.spool is None and second.clean
    assert second.total("stored") > 0
