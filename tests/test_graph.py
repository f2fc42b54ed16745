"""The process graph (networkx) and the ``tree`` command on the demo case."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proctrail.app.tree_text import describe
from proctrail.store.db import open_engine
from proctrail.store.graph import ancestors, process_graph, roots, session_tree, subtree
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_processes, process_summaries

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, dict]]:
    db = tmp_path_factory.mktemp("case") / "c.db"
    engine = open_engine(f"sqlite:///{db}")
    Ingestor(engine).run([str(ROOT / "sample_logs")])
    from proctrail.store.correlate import correlate

    correlate(engine)
    procs = {p["image"].rsplit("\\", 1)[-1].lower(): p for p in export_processes(engine)}
    return str(db), procs


def test_ancestors_subtree_session_and_roots(case) -> None:
    db, procs = case
    engine = open_engine(db)
    graph = process_graph(engine)
    reg = procs["reg.exe"]["id"]
    chain = ancestors(graph, reg)
    info = process_summaries(engine, chain)
    names = [info[n]["image"].rsplit("\\", 1)[-1].lower() for n in chain]
    assert names == ["reg.exe", "updater.exe", "powershell.exe", "winword.exe", "outlook.exe",
                     "explorer.exe", "userinit.exe", "winlogon.exe"]
    ps = procs["powershell.exe"]["id"]
    below = subtree(graph, ps)
    assert len(below) == 10 and reg in below
    alice = session_tree(graph, procs["powershell.exe"]["session_id"])
    assert len(alice) == 14 and roots(alice) == [procs["userinit.exe"]["id"]]
    lnx = process_graph(engine, host="LNX01")
    assert all(graph.nodes[n]["host"] == lnx.nodes[n]["host"] for n in lnx)
    assert len(roots(lnx)) == 3  # three shells whose parents started before the log


def test_tree_command(case) -> None:
    db, procs = case
    out = subprocess.run([SCRIPT, "tree", "--db", db, "--process",
                          str(procs["powershell.exe"]["id"])], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and lines[0].startswith("powershell.exe  7020  CORP\\alice")
    assert any(line.lstrip("│ ").startswith("└─ updater.exe") for line in lines)
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
