"""The ``proctrail`` command as other tools and analysts use it: output, exit codes, JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert SCRIPT, "the proctrail console script is installed with the project"
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_help_explains_itself() -> None:
    top = run("--help")
    assert top.returncode == 0
    assert "ingest" in top.stdout and "stats" in top.stdout
    sub = run("ingest", "--help")
    assert sub.returncode == 0
    for word in ("--db", "--parser", "python-evtx", "auditd", "Exit status", "--tz"):
        assert word in sub.stdout


def test_ingest_then_stats_json_contract(tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    done = run("ingest", "--db", str(db), str(ROOT / "sample_logs"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar without a terminal, no errors
    truth = json.loads((ROOT / "tests/data/sample_logs_truth.json").read_text())
    total, files = truth["events_total"], len(truth["files"])
    assert f"{files} inputs (0 unreadable), {total} records read, {total} stored" in done.stdout
    out = run("stats", "--db", str(db), "--json")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    assert data["events"] == total and data["sources"] == files and data["skipped"] == 0
    assert data["hosts"] == sorted(truth["hosts"], key=str.lower)
    starts = sum(n for c in truth["files"].values() for k, n in c.items()
                 if k == "Security/4688")
    assert {"channel": "Security", "event_id": 4688, "n": starts} in data["counts"]
    assert sum(c["n"] for c in data["counts"]) == total
    assert data["uncorrelated_events"] == 0  # ingest correlated everything it stored
    bare = run("ingest", "--db", str(db), "--no-correlate", "--force",
               str(ROOT / "sample_logs" / "lnx01-audit.log"))
    assert bare.returncode == 0
    assert json.loads(run("stats", "--db", str(db), "--json").stdout)[
        "uncorrelated_events"] == 0  # a forced re-read stored nothing new
    # A second run reads nothing new and still exits 0.
    again = run("ingest", "--db", str(db), str(ROOT / "sample_logs"))
    assert again.returncode == 0 and "already in the store" in again.stdout


def test_default_store_is_proctrail_db_in_the_working_folder(tmp_path: Path) -> None:
    done = run("ingest", str(ROOT / "sample_logs/lnx01-audit.log"), cwd=tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "proctrail.db").is_file()


def test_bad_input_gives_one_line_errors_and_exit_1(tmp_path: Path, samples: Path) -> None:
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01garbage" * 100)
    shutil.copy(samples / "evtx-rs/sysmon.evtx", tmp_path)
    done = run("ingest", "--db", str(tmp_path / "c.db"), str(tmp_path))
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert errors == [f"proctrail: error: {tmp_path / 'junk.bin'}: not a log format proctrail "
                      "reads (EVTX, XML, JSON lines, auditd)"]
    assert "Traceback" not in done.stderr
    assert "358 read, 358 stored, 0 duplicates, 8 skipped (bad chunk header 8)" in done.stdout
    assert "skipped: bad chunk header: 8" in done.stdout


@pytest.mark.parametrize("args", [
    ("ingest", "/no/such/path.evtx"),
    ("ingest",),
    ("ingest", "--parser", "nope", "x"),
    ("ingest", "--tz", "Mars/Olympus", "x"),
    ("frobnicate",),
])
def test_usage_errors_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.strip()


def test_unopenable_store_is_a_clear_error(tmp_path: Path) -> None:
    done = run("ingest", "--db", str(tmp_path / "missing/dir/c.db"),
               str(ROOT / "sample_logs/lnx01-audit.log"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "does not exist" in done.stderr


def test_control_characters_in_names_are_shown_harmlessly(tmp_path: Path) -> None:
    evil = tmp_path / "evil\x1b[31mname.txt"
    evil.write_text("nothing here\n")
    done = run("ingest", "--db", str(tmp_path / "c.db"), str(evil))
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\\x1b[31m" in done.stderr


def test_export_to_a_terminal_shows_escape_sequences_without_running_them(
        tmp_path: Path, xml_log) -> None:
    import os
    import pty

    log = xml_log("evil.xml", [xml_log.event(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x100", "NewProcessName": "C:\\w\\a.exe", "ProcessId": "0x4",
        "CommandLine": "x &#x1b;]0;owned&#x07; &#x9b;31m \u2028 y"})])
    db = str(tmp_path / "c.db")
    assert run("ingest", "--db", db, "--quiet", str(log)).returncode == 0
    for fmt in ("csv", "jsonl"):
        leader, follower = pty.openpty()
        done = subprocess.run([SCRIPT, "export", "processes", "--db", db, "--format", fmt],
                              stdout=follower, stderr=subprocess.PIPE, timeout=60)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        assert done.returncode == 0, done.stderr
        text = shown.decode()
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
        assert "\u2028" not in text and "\\x9b31m" in text
    # To a pipe or a file the text stays exact.
    piped = run("export", "processes", "--db", db, "--format", "jsonl")
    assert any("\x9b31m \u2028 y" in json.loads(line)["command_line"]
               for line in piped.stdout.split("\n") if line)


def test_a_rerun_that_stores_nothing_keeps_the_correlation(tmp_path: Path) -> None:
    """Rebuilding a big case for nothing took 30 s on 1.19M records: a re-run that stores
    nothing new says so and keeps the correlation (its generation unchanged)."""
    from proctrail.store.db import open_engine
    from proctrail.store.queries.browse import generation

    db = str(tmp_path / "c.db")
    log = str(ROOT / "sample_logs" / "lnx01-audit.log")
    first = run("ingest", "--db", db, log)
    assert first.returncode == 0 and "correlated:" in first.stdout
    before = generation(open_engine(db))
    again = run("ingest", "--db", db, log)
    assert again.returncode == 0 and "correlated:" not in again.stdout
    assert "nothing new since the last correlation" in again.stdout
    assert generation(open_engine(db)) == before
    more = run("ingest", "--db", db, str(ROOT / "sample_logs" / "WS02-Security.evtx"))
    assert "correlated:" in more.stdout and generation(open_engine(db)) == before + 1


def test_version_is_printed() -> None:
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("proctrail ")


def test_open_after_ingest_still_takes_its_first_look(tmp_path: Path) -> None:
    """A case read by 'ingest' (no detections) and opened with the same paths: nothing is
    new, so it is not correlated again, but the built-in detections still run."""
    from proctrail.store.db import open_engine
    from proctrail.store.load import Detect, load_case
    from proctrail.store.queries.browse import generation
    from proctrail.store.queries.findings import list_findings

    db = str(tmp_path / "c.db")
    assert run("ingest", "--db", db, str(ROOT / "sample_logs")).returncode == 0
    engine = open_engine(db)
    before = generation(engine)
    assert list_findings(engine) == []
    done = load_case(engine, [str(ROOT / "sample_logs")], detection=Detect.IF_NONE)
    assert done.correlation is None and generation(engine) == before
    assert done.detection is not None and done.detection.findings > 0
    assert list_findings(engine)
