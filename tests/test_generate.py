"""The scenario generator: every format of the demo, and the scale scenario, correlate to
exactly their truth; output is byte-identical for a seed; the story is in the logs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from proctrail.generate.scale import write_scale
from proctrail.generate.scenarios import write_demo
from proctrail.generate.truth import diff_lifetimes
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_processes, export_sessions
from proctrail.store.queries.browse import anomaly_rows

NO_DIFFERENCE = {"missing": [], "extra": [], "different": []}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "demo"
    write_demo(out, formats=("evtx", "xml", "jsonl"))
    return out


def load(where: Path | str, files: list[Path], parser: str = "evtx"):
    """A store (a URL, or a folder for a SQLite file) holding ``files``, correlated."""
    from proctrail.store.readers.base import ReadOptions

    engine = open_engine(where if isinstance(where, str) else f"sqlite:///{where / 'case.db'}")
    report = Ingestor(engine, ReadOptions(parser=parser)).run([str(f) for f in files])
    assert report.clean, [(s.name, s.error, dict(s.skipped)) for s in report.sources]
    correlate(engine)
    return engine


@pytest.mark.parametrize("fmt", ["evtx", "xml", "jsonl"])
def test_demo_correlates_to_its_truth_in_every_format(demo_dir: Path, db_url: str,
                                                      fmt: str) -> None:
    truth = json.loads(demo_dir.with_name("demo.truth.json").read_text())
    files = [p for p in demo_dir.iterdir() if p.suffix == f".{fmt}" or p.suffix == ".log"]
    engine = load(db_url, files)
    exported = list(export_processes(engine))
    assert diff_lifetimes(exported, truth["lifetimes"]) == NO_DIFFERENCE
    assert len(exported) == len(truth["lifetimes"]) > 150
    stated = Counter(f for lt in truth["lifetimes"] for f in lt["flags"])
    assert all(stated[f] for f in ("before_log", "after_log", "start_missing", "end_missing",
                                   "user_changed", "user_changed_wmi", "user_changed_logon"))
    sessions = {(s["host"], s["logon_id"]): s for s in export_sessions(engine)}
    for want in truth["sessions"]:
        got = sessions[(want["host"], want["logon_id"])]
        assert got["user"] == want["user"]
        if "logon_type" in want:
            assert (got["logon_type"], got["source_ip"], got["elevated"]) == (
                want["logon_type"], want["source_ip"], want["elevated"])
    found = Counter((a["host"], a["kind"]) for a in anomaly_rows(engine))
    want_anomalies = Counter()
    for a in truth["anomalies"]:
        want_anomalies[(a["host"], a["kind"])] += a["count"]
    assert found == want_anomalies


def test_the_story_is_in_the_demo(demo_dir: Path, tmp_path: Path) -> None:
    engine = load(tmp_path, [p for p in demo_dir.iterdir() if p.suffix in (".evtx", ".log")])
    procs = list(export_processes(engine))
    by_id = {p["id"]: p for p in procs}

    def one(host: str, name: str, command_line: str | None = None) -> dict:
        (p,) = [p for p in procs if p["host"].startswith(host)
                and p["image"].lower().endswith(name)
                and command_line in (None, p["command_line"])]
        return p

    ps = one("WS01", "powershell.exe")
    assert "-WindowStyle Hidden -enc" in ps["command_line"]
    assert by_id[ps["parent_id"]]["image"].endswith("WINWORD.EXE")
    children = {by_id[p["id"]]["image"].rsplit("\\", 1)[-1] for p in procs
                if p["parent_id"] == ps["id"]}
    assert children == {"regsvr32.exe", "ftp.exe", "updater.exe", "reg.exe"}
    assert "token_changed" in one("OLD2003", "ntbackup.exe")["flags"]
    assert "pid_reused" in one("OLD2003", "cmd.exe")["flags"]
    assert "clock_jump" in one("WS02", "cmd.exe")["flags"]
    # Routine: alice's userinit (winlogon starts it as her), services and updater.exe
    # running across the log's edges.
    assert "user_changed_logon" in one("WS01", "userinit.exe")["flags"]
    assert {"placeholder", "before_log", "after_log"} <= set(one("WS01", "services.exe")["flags"])
    assert "after_log" in one("WS01", "updater.exe")["flags"]
    runas = one("WS01", "cmd.exe", "cmd")
    assert "user_changed" in runas["flags"]
    assert (runas["user"], runas["creator_user"]) == ("CORP\\itadmin", "CORP\\alice")
    explorer = [p for p in procs if p["host"].startswith("WS01")
                and p["image"].lower().endswith("explorer.exe")]
    (bobs,) = [p for p in explorer if "start_missing" in p["flags"]]  # running for days
    assert "placeholder" in bobs["flags"] and bobs["end_user"] == "CORP\\bob"
    assert [c["image"].rsplit("\\", 1)[-1] for c in procs
            if c["parent_id"] == bobs["id"]] == ["OneDrive.exe"]
    # WS02's RDP logon (4624) went with the cleared Security log; Sysmon still ties the
    # admin's processes to a session, now known only by its logon id.
    (rdp,) = [s for s in export_sessions(engine) if s["host"].startswith("WS02")
              and s["logon_id"] == "0x9c4d02"]
    assert rdp["flags"] == ["logon_missing"] and rdp["user"] == "CORP\\itadmin"
    assert rdp["process_count"] >= 6


def test_python_evtx_reads_the_generated_logs_like_the_rust_parser(demo_dir: Path,
                                                                   tmp_path: Path) -> None:
    files = [demo_dir / "OLD2003-Security.evtx", demo_dir / "WS02-Security.evtx"]
    rust = load(tmp_path / "r", files) if (tmp_path / "r").mkdir() is None else None
    python = load(tmp_path / "p", files, "python-evtx") if (tmp_path / "p").mkdir() is None \
        else None
    assert list(export_processes(rust)) == list(export_processes(python))


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_demo(tmp_path / name, formats=("evtx", "xml", "jsonl"))
        write_scale(tmp_path / f"s{name}", 500, 2, seed=3, formats=("evtx", "xml"))
    for a in sorted((tmp_path / "a").iterdir()) + sorted((tmp_path / "sa").iterdir()):
        b = tmp_path / a.parent.name.replace("a", "b") / a.name
        assert a.read_bytes() == b.read_bytes(), a.name
    assert (tmp_path / "a.truth.json").read_bytes() == (tmp_path / "b.truth.json").read_bytes()
    write_demo(tmp_path / "c", seed=7)
    assert (tmp_path / "c" / "WS01-Sysmon.evtx").read_bytes() != (
        tmp_path / "a" / "WS01-Sysmon.evtx").read_bytes()


def test_scale_correlates_to_its_truth_with_pid_reuse(tmp_path: Path) -> None:
    out = tmp_path / "scale"
    files = write_scale(out, 3000, 3, seed=11)
    truth = [json.loads(line) for line in out.with_name("scale.truth.jsonl").open()]
    assert sum("pid_reused" in t["flags"] for t in truth) >= 3
    engine = load(tmp_path, files)
    assert diff_lifetimes(list(export_processes(engine)), truth) == NO_DIFFERENCE


def test_generate_command(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("proctrail")
    done = subprocess.run([str(script), "generate", "scale", "--out", str(tmp_path / "s"),
                           "--processes", "200", "--format", "xml,jsonl"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "truth in" in done.stdout
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "HOST000-Security.jsonl", "HOST000-Security.xml", "HOST000-Sysmon.jsonl",
        "HOST000-Sysmon.xml"]
    bad = subprocess.run([str(script), "generate", "demo", "--out", str(tmp_path / "d"),
                          "--format", "pdf"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown log format 'pdf'" in bad.stderr


def test_sample_logs_are_the_demo_as_checked_in(tmp_path: Path) -> None:
    """``proctrail generate demo --out sample_logs --format mixed --truth ...`` (README)
    rewrites exactly what the repository holds."""
    root = Path(__file__).resolve().parents[1]
    files = write_demo(tmp_path / "sample_logs", formats=("mixed",),
                       truth_path=tmp_path / "truth.json")
    assert sorted(f.name for f in files) == sorted(p.name for p in
                                                   (root / "sample_logs").iterdir())
    for f in files:
        assert f.read_bytes() == (root / "sample_logs" / f.name).read_bytes(), f.name
    assert (tmp_path / "truth.json").read_bytes() == (
        root / "tests/data/sample_logs_truth.json").read_bytes()
    assert sum(f.stat().st_size for f in files) < 2_000_000


def test_scale_memory_stays_flat(tmp_path: Path) -> None:
    import tracemalloc

    peaks = []
    for n in (1_000, 6_000):
        tracemalloc.start()
        write_scale(tmp_path / f"s{n}", n, 1, seed=2)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert max(peaks) < 4_000_000 and peaks[1] < 2 * peaks[0]  # six times the processes


def test_a_slice_is_numbered_from_far_into_the_log_and_holds_its_window() -> None:
    """A host whose files are a slice of long logs: only the window's records, the first
    numbered as the slice says, none missing (no record gap before or in it)."""
    import random

    from proctrail.generate.model import SECOND, SECURITY, SYSMON
    from proctrail.generate.scenarios import anomalies, gap_episodes
    from proctrail.generate.windows import SYSTEM, WindowsHost

    w = WindowsHost("ws09.corp.example", random.Random(5))
    root = w.existing(0x2E8, "C:\\Windows\\System32\\services.exe", "services.exe")
    procs = [w.start(t * 60 * SECOND, "C:\\Windows\\System32\\sc.exe", "sc query", root, SYSTEM)
             for t in range(10)]
    for i, p in enumerate(procs):
        w.exit((i * 60 + 30) * SECOND, p)
    w.window, w.first_records = (200 * SECOND, 500 * SECOND), {SECURITY: 48_000}
    security, sysmon = w.written(SECURITY), w.written(SYSMON)
    assert [r.record_id for r in security] == list(range(48_000, 48_000 + len(security)))
    assert all(200 * SECOND <= r.true_us < 500 * SECOND for r in security + sysmon)
    assert security[0].event_id == 4689 and sysmon[0].event_id == 5  # of the start at 3:00
    assert sysmon[0].record_id > 1 and gap_episodes(w, security) == gap_episodes(w, sysmon) == 0
    assert anomalies([w]) == []
    w.first_records = {SECURITY: 3}  # fewer records before it than the slice leaves out
    with pytest.raises(ValueError, match="a slice beginning at record 3"):
        w.written(SECURITY)
