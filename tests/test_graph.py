"""The process graph (networkx) and the ``tree`` command on the demo case."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proctrail.app.output.tree_text import describe
from proctrail.store.db import open_engine
from proctrail.store.graph import process_graph, roots, session_tree, subtree
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_processes, process_summaries
from proctrail.store.queries.browse import chain as ancestors

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, dict]]:
    db = tmp_path_factory.mktemp("case") / "c.db"
    engine = open_engine(f"sqlite:///{db}")
    Ingestor(engine).run([str(ROOT / "sample_logs")])
    from proctrail.store.correlate import correlate

    correlate(engine)
    procs = {p["image"].rsplit("\\", 1)[-1].lower(): p for p in export_processes(engine)
             if p["host"] == "WS01.corp.example" and p["command_line"] != "cmd"}
    return str(db), procs


def test_ancestors_subtree_session_and_roots(case) -> None:
    db, procs = case
    engine = open_engine(db)
    graph = process_graph(engine)
    reg = procs["reg.exe"]["id"]
    chain = [row.id for row in ancestors(engine, reg)]
    info = process_summaries(engine, chain)
    names = [info[n]["image"].rsplit("\\", 1)[-1].lower() for n in chain]
    assert names == ["reg.exe", "powershell.exe", "winword.exe", "outlook.exe",
                     "explorer.exe", "userinit.exe", "winlogon.exe"]
    ps = procs["powershell.exe"]["id"]
    below = subtree(graph, ps)
    assert len(below) == 6 and reg in below  # regsvr32, ftp, updater (and its echo), reg
    alice = session_tree(graph, procs["powershell.exe"]["session_id"])
    assert len(alice) == 11 and roots(alice) == [procs["userinit.exe"]["id"]]
    lnx = process_graph(engine, host="LNX01")
    assert all(graph.nodes[n]["host"] == lnx.nodes[n]["host"] for n in lnx)
    # cron and sshd started before the log: placeholders, the roots of everything else
    assert [procs_by_id(engine)[r]["pid"] for r in roots(lnx)] == [612, 812]


def procs_by_id(engine) -> dict[int, dict]:
    return {p["id"]: p for p in export_processes(engine)}


def test_tree_command(case) -> None:
    db, procs = case
    out = subprocess.run([SCRIPT, "tree", "--db", db, "--process",
                          str(procs["powershell.exe"]["id"])], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    pid = procs["powershell.exe"]["pid"]
    assert out.returncode == 0 and lines[0].startswith(f"powershell.exe  {pid}  CORP\\alice")
    assert any(line.lstrip("│ ").startswith("├─ updater.exe") for line in lines)
    chain = subprocess.run([SCRIPT, "tree", "--db", db, "--process",
                            str(procs["reg.exe"]["id"]), "--ancestors"],
                           capture_output=True, text=True).stdout.splitlines()
    assert chain[0].startswith("winlogon.exe") and "placeholder" in chain[0]
    assert chain[-1].strip().startswith("└─ reg.exe")
    missing = subprocess.run([SCRIPT, "tree", "--db", db, "--process", "99999"],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.startswith("proctrail: error: no process")


def test_tree_lines_are_harmless() -> None:
    line = describe({"image": "C:\\x\\evil\x1b]0;pwned\x07.exe", "pid": 1, "user": "[b]u[/b]",
                     "start_us": 0, "end_us": None, "flags": []})
    assert "\x1b" not in line and "\x07" not in line and "\\x1b]0;pwned\\x07" in line
