"""Machines correlated by a pool of worker processes give the rows one process gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

import proctrail.store.correlate as correlation
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine, shareable
from proctrail.store.ingest import Ingestor
from proctrail.store.tasks import Inline, Processes, local_executor

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"processes": "id", "sessions": "id", "process_sources": "process_id, event_pk",
          "anomalies": "host_id, kind, start_us, event_pk, detail"}


def digest(engine) -> dict[str, tuple[int, str]]:
    """Each correlated table's rows (anomalies without their serial ids), hashed."""
    out = {}
    with engine.connect() as conn:
        for table, order in TABLES.items():
            cols = ("host_id, channel_id, kind, start_us, end_us, event_pk, detail"
                    if table == "anomalies" else "*")
            rows = [repr(tuple(r)) for r in conn.execute(
                text(f"SELECT {cols} FROM {table} ORDER BY {order}"))]
            out[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


def both_ways(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict]:
    engine = open_engine(url)
    monkeypatch.setattr(correlation, "PARALLEL_MIN_EVENTS", 0)
    one = correlate(engine, workers=1)
    serial = digest(engine)
    seen: list[int] = []
    two = correlate(engine, workers=2, progress=seen.append)
    assert (one.processes, one.sessions, one.flags, one.anomalies, one.unplaced) == \
        (two.processes, two.sessions, two.flags, two.anomalies, two.unplaced)
    assert seen and seen == sorted(seen)  # progress as machines come back
    return serial, digest(engine)


def test_the_demo_correlates_the_same_in_two_processes(db_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite and on PostgreSQL: the workers open the store by its URL."""
    Ingestor(open_engine(db_url)).run([str(ROOT / "sample_logs")])
    serial, parallel = both_ways(db_url, monkeypatch)
    assert serial == parallel and serial["processes"][0] > 40


def test_a_multi_host_collection_correlates_the_same(samples: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Security + Sysmon of several hosts exported by NXLog (OTRF), unplaced events and
    all: every row equal."""
    url = f"sqlite:///{tmp_path / 'otrf.db'}"
    names = ("empire_psremoting_stager.zip", "empire_wmic_add_user_backdoor.zip",
             "cmd_dumping_ntds_dit_file_volume_shadow_copy.zip")
    Ingestor(open_engine(url)).run([str(samples / "otrf" / n) for n in names])
    serial, parallel = both_ways(url, monkeypatch)
    assert serial == parallel and serial["processes"][0] >= 50


def test_small_cases_and_memory_stores_stay_in_this_process(tmp_path: Path) -> None:
    assert isinstance(local_executor(1), Inline)
    pool = local_executor(2)
    try:
        assert isinstance(pool, Processes) and list(pool.map(abs, [-3, 2, -1])) == [3, 2, 1]
    finally:
        pool.close()
    assert not shareable(open_engine("sqlite://"))
    assert shareable(open_engine(f"sqlite:///{tmp_path / 'c.db'}"))
