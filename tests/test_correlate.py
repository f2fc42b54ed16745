"""Correlation in the store: sessions, saved lifetimes, the export contract, repeatability."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_processes, export_sessions, stats

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "sample_logs"
SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))
PROCESS_KEYS = {"id", "host", "pid", "process_guid", "image", "command_line", "user",
                "end_user", "logon_id", "session_id", "start", "end", "duration_s",
                "exit_status", "parent_id", "parent_pid", "parent_image", "flags", "sources"}
SESSION_KEYS = {"id", "host", "logon_id", "user", "logon_type", "source_ip", "workstation",
                "start", "end", "elevated", "process_count", "flags"}


def demo(url: str, files: list[Path]):
    engine = open_engine(url)
    for f in files:  # one ingest per file: correlation must carry across files
        Ingestor(engine).run([str(f)])
    correlate(engine)
    return engine


def shape(engine) -> list[tuple]:
    by_id = {p["id"]: p for p in export_processes(engine)}
    return sorted(
        (p["host"], p["pid"], p["image"], p["start"], p["end"], tuple(p["flags"]),
         by_id[p["parent_id"]]["image"] if p["parent_id"] else None,
         tuple(sorted((s["channel"], s["record_id"]) for s in p["sources"])))
        for p in by_id.values())


def test_files_in_any_order_give_the_same_lifetimes(db_url: str, tmp_path: Path) -> None:
    files = sorted(LOGS.iterdir())
    first = shape(demo(db_url, files))
    second = shape(demo(f"sqlite:///{tmp_path / 'b.db'}", files[::-1]))  # SQLite, reversed
    assert first == second
    engine = open_engine(db_url)
    correlate(engine)  # and running it again changes nothing
    assert shape(engine) == first


def test_process_export_links_parents_sessions_and_evidence(db_url: str) -> None:
    engine = demo(db_url, [LOGS])
    procs = list(export_processes(engine))
    assert all(set(p) >= PROCESS_KEYS for p in procs)
    ps = next(p for p in procs if p["image"].lower().endswith("powershell.exe"))
    assert isinstance(ps["pid"], int) and ps["logon_id"] == "0x5b3f21"
    assert ps["parent_image"].lower().endswith("winword.exe")
    assert ps["start"].endswith("Z") and ps["duration_s"] > 0
    assert {(s["channel"], s["role"], s["event_id"]) for s in ps["sources"]} == {
        ("Security", "start", 4688), ("Microsoft-Windows-Sysmon/Operational", "start", 1),
        ("Security", "end", 4689), ("Microsoft-Windows-Sysmon/Operational", "end", 5),
        ("Microsoft-Windows-Sysmon/Operational", "activity", 22),  # its DNS query
        ("Microsoft-Windows-Sysmon/Operational", "activity", 3)}  # and connection
    assert all(s["file"].endswith((".xml", ".log")) for s in ps["sources"])
    sessions = {s["id"]: s for s in export_sessions(engine)}
    assert all(set(s) >= SESSION_KEYS for s in sessions.values())
    alice = sessions[ps["session_id"]]
    assert (alice["user"], alice["logon_type"], alice["logon_id"]) == (
        "CORP\\alice", "Interactive", "0x5b3f21")
    assert alice["end"] is not None and alice["process_count"] == sum(
        p["session_id"] == alice["id"] for p in procs)
    system = [s for s in sessions.values() if s["logon_id"] == "0x3e7"]
    assert len(system) == len({s["host"] for s in sessions.values()
                               if s["host"] != "lnx01"})  # one SYSTEM session a host
    (ws01,) = [s for s in system if s["host"] == "WS01.corp.example"]
    assert ws01["elevated"] and ws01["logon_type"] == "Service"  # 4624 type 5 and 4672
    # Every start/end event of the case is behind exactly one lifetime.
    behind = [(s["channel"], s["record_id"], s["file"]) for p in procs for s in p["sources"]
              if s["role"] in ("start", "end")]
    kinds = stats(engine)["kinds"]
    assert len(behind) == len(set(behind)) == kinds["process_start"] + kinds["process_end"]


def test_cli_ingest_correlates_and_exports(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    done = subprocess.run([SCRIPT, "ingest", "--db", db, str(LOGS)], capture_output=True,
                          text=True, timeout=300)
    truth = json.loads((ROOT / "tests/data/sample_logs_truth.json").read_text())
    assert done.returncode == 0
    assert f"correlated: {len(truth['lifetimes'])} process lifetimes, " in done.stdout
    out = subprocess.run([SCRIPT, "export", "processes", "--db", db, "--host", "LNX01"],
                         capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows and {r["host"] for r in rows} == {"lnx01"}
    out = subprocess.run([SCRIPT, "export", "sessions", "--db", db, "--format", "csv"],
                         capture_output=True, text=True, timeout=300)
    table = list(csv.DictReader(io.StringIO(out.stdout)))
    assert set(table[0]) >= SESSION_KEYS
    assert {(r["host"], r["user"], r["logon_type"]) for r in table} >= {
        ("WS01.corp.example", "CORP\\alice", "Interactive"), ("lnx01", "alice", "ssh")}
