"""Faults with nothing lost: the database server stopped mid-ingest (spool, then resume),
an ingest killed with SIGKILL (re-run finishes it), a full disk and a read-only store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import pytest
from pg_server import PgServer, pg_bindir
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from proctrail.generate.scale import write_scale
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import EventRow, Source
from proctrail.store.queries import stats

SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def big_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six EVTX files of three hosts, about 35k records: seconds of ingest."""
    out = tmp_path_factory.mktemp("scale") / "logs"
    write_scale(out, 9_000, 3, seed=7, truth_path=out.parent / "truth.jsonl")
    return out


@pytest.fixture(scope="module")
def reference(big_logs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What one clean ingest of ``big_logs`` stores and correlates."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ref') / 'ref.db'}"
    engine = open_engine(url)
    Ingestor(engine).run([str(big_logs)])
    correlate(engine)
    return {"events": stats(engine)["events"], "processes": export_processes(url)}


def export_processes(url: str) -> list[dict]:
    done = cli("export", "processes", "--db", url)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    for row in rows:  # the file path a source came from is the same file either way
        for src in row["sources"]:
            src["file"] = Path(src["file"]).name
    return rows


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def start_ingest(url: str, logs: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([SCRIPT, "ingest", "--db", url, "--quiet", str(logs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def wait_for_rows(url: str, proc: subprocess.Popen[str], at_least: int = 1) -> int:
    """Poll the store until the running ingest has committed ``at_least`` events."""
    engine = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the ingest ended before it could be interrupted"
            try:
                with engine.connect() as conn:
                    n = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
            except Exception:  # the schema is not there yet
                n = 0
            if n >= at_least:
                return n
            time.sleep(0.02)
    finally:
        engine.dispose()
    raise AssertionError("no events were committed within a minute")


def counters_agree(engine) -> set[str]:
    """Every committed batch went in with its source's counters: each source's count of
    stored events is what the store holds of it. Returns the sources' statuses."""
    with engine.connect() as conn:
        rows = conn.execute(select(Source.id, Source.status, Source.events_stored)).all()
        per_source = dict(conn.execute(select(EventRow.source_id, func.count())
                                       .group_by(EventRow.source_id)).all())
    for r in rows:
        assert per_source.get(r.id, 0) == r.events_stored, r
    return {r.status for r in rows}


@pytest.fixture
def own_pg():
    """A PostgreSQL server of this test alone, to stop and start at will."""
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PgServer(port=55433, durable=True).start()  # its own folder: pytest's are root-only
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "case"'))
    admin.dispose()
    try:
        yield server
    finally:
        server.remove()


def ingest_until_server_stops(server: PgServer, url: str, logs: Path, env: dict[str, str],
                              mode: str) -> tuple[int, str]:
    """An ingest whose server is stopped (``mode``) once it has stored a batch: it ends
    with exit status 3. Returns the events stored before the stop, and its stderr."""
    proc = start_ingest(url, logs, env)
    stored_before = wait_for_rows(url, proc)
    server.stop(mode)  # the server goes away under the running ingest
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    return stored_before, err


def test_server_stopped_mid_ingest_spools_and_resume_loses_and_doubles_nothing(
        own_pg: PgServer, big_logs: Path, reference: dict, tmp_path: Path) -> None:
    url, env = own_pg.url("case"), {"PROCTRAIL_SPOOL": str(tmp_path / "spool")}
    stored_before, err = ingest_until_server_stops(own_pg, url, big_logs, env, "fast")
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "the database went away" in lines[0] and "proctrail ingest --resume" in lines[0]
    spools = sorted((tmp_path / "spool").glob("*.spool.gz"))
    assert len(spools) == 1 and str(spools[0]) in lines[0]
    assert spools[0].stat().st_size > 0

    # While it is still down, a resume says so and keeps the spool.
    down = cli("ingest", "--resume", "--db", url, env=env)
    assert down.returncode != 0 and "Traceback" not in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
    assert spools[0].exists()

    own_pg.start()
    engine = open_engine(url)
    assert 0 < stats(engine)["events"] < reference["events"]
    assert stats(engine)["events"] >= stored_before
    done = cli("ingest", "--resume", "--db", url, env=env)
    assert done.returncode == 0, done.stderr
    assert "replayed from the spool" in done.stdout
    assert not spools[0].exists()
    assert stats(engine)["events"] == reference["events"]
    assert counters_agree(engine) == {"complete"}
    assert export_processes(url) == reference["processes"]
    # The same command again reads nothing twice.
    again = cli("ingest", "--db", url, str(big_logs), env=env)
    assert again.returncode == 0, again.stderr
    assert stats(engine)["events"] == reference["events"]
    engine.dispose()


def test_server_down_then_back_the_next_plain_ingest_replays_first(
        own_pg: PgServer, big_logs: Path, reference: dict, tmp_path: Path) -> None:
    url, env = own_pg.url("case"), {"PROCTRAIL_SPOOL": str(tmp_path / "spool")}
    # "immediate": a crash of the server, not a polite shutdown
    ingest_until_server_stops(own_pg, url, big_logs, env, "immediate")
    own_pg.start()
    done = cli("ingest", "--db", url, str(big_logs), env=env)
    assert done.returncode == 0, done.stderr
    assert not list((tmp_path / "spool").glob("*.spool.gz"))
    engine = open_engine(url)
    assert stats(engine)["events"] == reference["events"]
    assert export_processes(url) == reference["processes"]
    engine.dispose()


def test_killed_mid_ingest_the_store_is_consistent_and_a_rerun_finishes(
        db_url: str, big_logs: Path, reference: dict, tmp_path: Path) -> None:
    env = {"PROCTRAIL_SPOOL": str(tmp_path / "spool")}
    open_engine(db_url).dispose()  # the schema first, so the poll can count
    proc = start_ingest(db_url, big_logs, env)
    wait_for_rows(db_url, proc, at_least=5000)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    engine = open_engine(db_url)
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    counters_agree(engine)  # a file being read when it died is "running", with its batches
    assert 0 < stats(engine)["events"] < reference["events"]

    done = cli("ingest", "--db", db_url, "--quiet", str(big_logs), env=env)
    assert done.returncode == 0, done.stderr
    assert counters_agree(engine) == {"complete"}
    assert stats(engine)["events"] == reference["events"]
    assert export_processes(db_url) == reference["processes"]
    engine.dispose()


@pytest.fixture
def small_disk():
    """A real filesystem of a few MB (tmpfs), to fill up and to remount read-only."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (CI and the dev machines are root)")
    where = Path(tempfile.mkdtemp(prefix="proctrail-disk-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def sqlite_consistent(path: Path) -> list[tuple[int, str, int]]:
    """Integrity checked; every source's counter equals its stored events."""
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sources = raw.execute("SELECT id, status, events_stored FROM sources").fetchall()
        per = dict(raw.execute("SELECT source_id, count(*) FROM events GROUP BY source_id"))
    for sid, _status, stored in sources:
        assert per.get(sid, 0) == stored
    return sources


def test_disk_full_is_one_clear_line_and_the_store_stays_sound(
        small_disk: Path, big_logs: Path, reference: dict) -> None:
    db = small_disk / "case.db"
    done = cli("ingest", "--db", str(db), "--quiet", str(big_logs))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "the disk is full" in lines[0] and str(db) in lines[0]
    assert "Traceback" not in done.stderr
    sources = sqlite_consistent(db)
    assert any(status == "running" for _sid, status, _n in sources)
    # With room again, the same command finishes the job: nothing lost, nothing doubled.
    remount(small_disk, "size=400m")
    again = cli("ingest", "--db", str(db), "--quiet", str(big_logs))
    assert again.returncode == 0, again.stderr
    assert {status for _sid, status, _n in sqlite_consistent(db)} == {"complete"}
    engine = open_engine(str(db))
    assert stats(engine)["events"] == reference["events"]
    engine.dispose()
    assert export_processes(str(db)) == reference["processes"]


@pytest.mark.parametrize("wal", ["left by the last run", "checkpointed away"])
def test_a_read_only_store_reads_and_refuses_writes_in_one_line(
        small_disk: Path, wal: str) -> None:
    db = small_disk / "case.db"
    logs = Path(__file__).resolve().parents[1] / "sample_logs"
    assert cli("ingest", "--db", str(db), "--quiet", str(logs / "WS01-Security.xml")
               ).returncode == 0
    if wal == "checkpointed away":  # a case copied alone onto write-protected media
        with closing(sqlite3.connect(db)) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for extra in small_disk.glob("case.db-*"):
            extra.unlink()
    remount(small_disk, "ro")
    shown = cli("stats", "--db", str(db), "--json")
    assert shown.returncode == 0, shown.stderr
    events = json.loads(shown.stdout)["events"]
    assert cli("export", "processes", "--db", str(db)).returncode == 0
    for args in (("ingest", "--db", str(db), str(logs / "WS01-Sysmon.xml")),
                 ("correlate", "--db", str(db))):
        done = cli(*args)
        assert done.returncode == 1
        errors = [line for line in done.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and "read-only" in errors[0], done.stderr
        assert "Traceback" not in done.stderr
    remount(small_disk, "rw")
    assert json.loads(cli("stats", "--db", str(db), "--json").stdout)["events"] == events
    sqlite_consistent(db)


def test_spool_files_are_the_owners_alone(tmp_path: Path, monkeypatch) -> None:
    """A spool holds log text: its folder 0700 (tightened if it was wider), files 0600,
    whatever the umask."""
    import stat

    from proctrail.store.db import open_engine
    from proctrail.store.spool import SpoolWriter
    root = tmp_path / "spool"
    root.mkdir(mode=0o755)
    monkeypatch.setenv("PROCTRAIL_SPOOL", str(root))
    old = os.umask(0)
    try:
        writer = SpoolWriter(open_engine(f"sqlite:///{tmp_path / 'case.db'}"))
        writer.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(writer.path.stat().st_mode) == 0o600
