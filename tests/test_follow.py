"""Logs that keep arriving (store/follow.py, ``ingest --follow``, ``open --follow``): a
file that grows and files dropped in are stored once, correlated as a fresh case of the
final files would be, and an open TUI shows them without a key pressed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_live_correlation import tables

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.follow import Follower
from proctrail.store.load import load_case
from proctrail.store.models import EventRow, Process, Source

ROOT = Path(__file__).resolve().parents[1]
AUDIT = (ROOT / "sample_logs" / "lnx01-audit.log").read_text(encoding="utf-8").splitlines(
    keepends=True)
HALF = 300  # audit.log's first lines, then the rest appended (a record boundary)


def _start(tmp_path: Path) -> tuple[Path, Follower]:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "audit.log").write_text("".join(AUDIT[:HALF]), encoding="utf-8")
    engine = open_engine(f"sqlite:///{tmp_path / 'case.db'}")
    follower = Follower(engine, [str(logs)])
    load_case(engine, [str(logs)], follower=follower)
    return logs, follower


def _arrive(logs: Path) -> None:
    with open(logs / "audit.log", "a", encoding="utf-8") as out:
        out.write("".join(AUDIT[HALF:]))
    shutil.copy(ROOT / "sample_logs" / "WS01-Sysmon.xml", logs)
    shutil.copy(ROOT / "sample_logs" / "WS02-Security.evtx", logs)


def test_growth_and_new_files_are_stored_once_and_correlated_as_a_fresh_case(
        tmp_path: Path) -> None:
    logs, follower = _start(tmp_path)
    engine = follower.engine
    assert follower.step().files == []  # nothing changed: nothing read
    _arrive(logs)
    step = follower.step()
    assert sorted(Path(f).name for f in step.files) == [
        "WS01-Sysmon.xml", "WS02-Security.evtx", "audit.log"]
    assert step.update is not None and step.update.events == step.stored > 0
    fresh = open_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    load_case(fresh, [str(logs)])
    with engine.connect() as a, fresh.connect() as b:
        count = select(func.count()).select_from(EventRow)
        assert a.execute(count).scalar_one() == b.execute(count).scalar_one()
        # One source row a file: the grown audit.log kept its own, counting all it holds.
        sources = {Path(r.path).name: (r.records_read, r.events_stored, r.duplicates)
                   for r in a.execute(select(Source))}
        assert sources == {Path(r.path).name: (r.records_read, r.events_stored, r.duplicates)
                           for r in b.execute(select(Source))}
        shape = select(Process.id, Process.image, Process.pid, Process.start_us,
                       Process.end_us, Process.parent_id, Process.flags)
        assert sorted(a.execute(shape)) == sorted(b.execute(shape))  # the same ids
    followed = tables(engine)
    correlate(engine)
    assert followed == tables(engine)


def test_a_file_touched_or_rewritten_alike_stores_nothing(tmp_path: Path) -> None:
    logs, follower = _start(tmp_path)
    os.utime(logs / "audit.log", ns=(1, 1))
    step = follower.step()
    assert [Path(f).name for f in step.files] == ["audit.log"]
    assert step.stored == 0 and step.update is None


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out = path.read_text(encoding="utf-8")
        if text in out:
            return out
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not printed: {path.read_text(encoding='utf-8')}")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child")
def test_ingest_follow_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "audit.log").write_text("".join(AUDIT[:HALF]), encoding="utf-8")
    out = tmp_path / "out.txt"
    with open(out, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "proctrail.app.cli", "ingest", "--db", str(tmp_path / "c.db"),
             "--follow", str(logs)], stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(out, "ctrl+c stops", proc)
        _arrive(logs)
        text = _wait_for(out, "+296 events from 3 files", proc)
        # lnx01 fed on; WS01 and WS02 are new machines, correlated whole
        assert "1 machine brought up to date, 2 correlated whole (new" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text(encoding="utf-8")
    assert "stopped: " in text and "nothing half-stored" in text
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
    assert stored == 185 + 150 + 80  # audit.log whole, WS01 Sysmon, WS02 Security: once
    again = subprocess.run([sys.executable, "-m", "proctrail.app.cli", "ingest", "--db",
                            str(tmp_path / "c.db"), str(logs)],
                           capture_output=True, text=True, timeout=120)
    assert " 0 stored" in again.stdout  # nothing was left for a re-run, nothing doubled


async def test_open_follow_refreshes_the_screen_in_place(tmp_path: Path) -> None:
    from proctrail.app.tui import ProctrailApp

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "audit.log").write_text("".join(AUDIT[:HALF]), encoding="utf-8")
    app = ProctrailApp(open_engine(f"sqlite:///{tmp_path / 'case.db'}"), ingest=[str(logs)],
                       follow=True)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if "39 processes" in _screen_text(app):
                break
        assert "39 processes" in _screen_text(app)
        _arrive(logs)
        for _ in range(400):
            await pilot.pause(0.05)
            if "3 host(s)" in _screen_text(app):
                break
        text = _screen_text(app)
        assert "3 host(s)" in text and "39 processes" not in text
        assert app.title.startswith("proctrail · following · +")
        assert "r reloads" not in app.title  # read again by itself, not marked stale


def _screen_text(app: object) -> str:
    from textual.widgets import Static

    screen = app.screen  # type: ignore[attr-defined]
    parts = [str(w.render()) for w in screen.query(Static)]
    return "\n".join(parts)


def test_a_rotated_audit_log_is_read_on_without_doubles(tmp_path: Path) -> None:
    """auditd rotates: audit.log (with lines written since the last look) becomes
    audit.log.1, a new audit.log goes on. Both are read; nothing is stored twice."""
    logs, follower = _start(tmp_path)
    cut = HALF + 60
    while "type=SYSCALL" not in AUDIT[cut]:  # rotate between two events
        cut += 1
    with open(logs / "audit.log", "a", encoding="utf-8") as out:
        out.write("".join(AUDIT[HALF:cut]))
    (logs / "audit.log").rename(logs / "audit.log.1")
    (logs / "audit.log").write_text("".join(AUDIT[cut:]), encoding="utf-8")
    step = follower.step()
    assert sorted(Path(f).name for f in step.files) == ["audit.log", "audit.log.1"]
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "audit.log").write_text("".join(AUDIT), encoding="utf-8")
    fresh = open_engine(f"sqlite:///{tmp_path / 'whole.db'}")
    load_case(fresh, [str(whole)])
    with follower.engine.connect() as a, fresh.connect() as b:
        count = select(func.count()).select_from(EventRow)
        assert a.execute(count).scalar_one() == b.execute(count).scalar_one() == 185
        assert sorted(a.execute(select(Process.id))) == sorted(b.execute(select(Process.id)))
