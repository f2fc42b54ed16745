"""Timeline, table and graph exports, and ``proctrail serve``: each format parsed back and
checked against the sample case, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import networkx as nx
from sqlalchemy import func, select

from proctrail.app.cli import main
from proctrail.app.output.graph import dot_string, xml_safe
from proctrail.store.findings import add_finding
from proctrail.store.graph import process_graph, session_tree
from proctrail.store.models import Base, Host, LogonSession, Process
from proctrail.store.queries import process_summaries
from proctrail.store.queries.timeline import TABLES
from proctrail.store.text import printable
from proctrail.store.timefmt import iso

SCRIPT = shutil.which("proctrail", path=str(Path(sys.executable).parent))


def export(db_url: str, tmp_path: Path, *args: str) -> Path:
    out = tmp_path / f"out-{time.monotonic_ns()}"
    assert main(["export", *args, "--db", db_url, "--out", str(out)]) == 0
    return out


def _count(engine, query) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()


def _alice(engine) -> int:
    """The demo's alice session: logon id 0x5b3f21 on WS01."""
    with engine.connect() as conn:
        return conn.execute(
            select(LogonSession.id).join(Host, Host.id == LogonSession.host_id)
            .where(LogonSession.logon_id == "0x5b3f21", Host.key.like("ws01%"))).scalar_one()


def test_timeline_csv_and_jsonl_hold_every_timed_start_end_logon_and_finding(
        demo_case, db_url: str, tmp_path: Path) -> None:
    engine = demo_case
    with engine.connect() as conn:
        ps_id, ps_start = conn.execute(
            select(Process.id, Process.start_us)
            .where(Process.image.like("%powershell.exe"), Process.start_us.is_not(None))
            .order_by(Process.start_us)).first()
    fid = add_finding(engine, "process", ps_id, note="=cmd|' /C calc'!A0", severity="high")
    rows_csv = list(csv.DictReader(export(db_url, tmp_path, "timeline", "--format", "csv")
                                   .open(newline="", encoding="utf-8")))
    rows_json = [json.loads(line) for line in
                 export(db_url, tmp_path, "timeline").read_text(encoding="utf-8").splitlines()]
    assert len(rows_csv) == len(rows_json) > 0
    for c, j in zip(rows_csv, rows_json, strict=True):
        assert c["message"] == j["message"] and c["timestamp_desc"] == j["timestamp_desc"]
        assert int(c["timestamp"]) == j["timestamp"]

    def n(desc: str) -> int:
        return sum(r["timestamp_desc"] == desc for r in rows_json)

    assert n("Process Start") == _count(engine, select(Process.id)
                                        .where(Process.start_us.is_not(None)))
    assert n("Process End") == _count(engine, select(Process.id)
                                      .where(Process.end_us.is_not(None)))
    s = LogonSession
    assert n("Logon") == _count(engine, select(s.id).where(
        s.logon_event.is_not(None), s.start_us.is_not(None))) > 0
    assert n("Logoff") == _count(engine, select(s.id).where(
        s.logoff_event.is_not(None), s.end_us.is_not(None))) > 0
    descs = {r["timestamp_desc"] for r in rows_json}
    assert {d for d in descs if not d.startswith("Activity: ")} == {
        "Process Start", "Process End", "Logon", "Logoff", "Finding: high"}
    # What processes did (the demo's DNS queries and connections), each naming its process.
    acts = [r for r in rows_json if r["timestamp_desc"].startswith("Activity: ")]
    assert acts and all(r["process_id"] is not None and r["kind"] for r in acts)

    # Timesketch's columns: datetime ISO 8601 UTC, timestamp its microseconds, sorted.
    stamps = []
    for r in rows_json:
        when = datetime.fromisoformat(r["datetime"].replace("Z", "+00:00"))
        assert when.tzinfo is not None and when.utcoffset().total_seconds() == 0
        assert r["datetime"] == iso(r["timestamp"])
        assert int(when.timestamp() * 1_000_000) // 1000 == r["timestamp"] // 1000
        stamps.append(r["timestamp"])
    assert stamps == sorted(stamps)

    starts = [r for r in rows_json if r["timestamp_desc"] == "Process Start"]
    for r in starts:
        name = re.split(r"[\\/]", r["image"])[-1]
        assert r["host"] in r["message"] and name in r["message"]
        assert "\n" not in r["message"]
    ps = next(r for r in starts if r["process_id"] == ps_id)
    assert "powershell.exe (pid" in ps["message"] and ps["command_line"]
    assert ps["message"].startswith("WS01") and "by WINWORD.EXE" in ps["message"]

    finding = next(r for r in rows_json if r["timestamp_desc"] == "Finding: high")
    assert finding["finding_id"] == fid and finding["process_id"] == ps_id
    assert finding["timestamp"] == ps_start and finding["severity"] == "high"
    # A note that a spreadsheet would run is made inert in the CSV, kept in JSON lines.
    assert finding["note"] == "=cmd|' /C calc'!A0"
    assert next(r for r in rows_csv if r["finding_id"] == str(fid))["note"] == \
        "'=cmd|' /C calc'!A0"

    # One host's timeline holds only that host's rows.
    lnx = [json.loads(line) for line in export(db_url, tmp_path, "timeline", "--host",
                                               "LNX01").read_text().splitlines()]
    assert lnx and {r["host"] for r in lnx} == {"lnx01"}


def test_every_table_exports_all_its_rows_with_values_as_stored(
        demo_case, db_url: str, tmp_path: Path) -> None:
    engine = demo_case
    assert set(TABLES) == set(Base.metadata.tables)
    for name in TABLES:
        table = Base.metadata.tables[name]
        rows = [json.loads(line) for line in
                export(db_url, tmp_path, "table", name).read_text().splitlines()]
        with engine.connect() as conn:
            assert len(rows) == conn.execute(select(func.count()).select_from(table)
                                             ).scalar_one(), name
        if rows:
            assert list(rows[0]) == [c.name for c in table.columns]
    with engine.connect() as conn:
        stored = {r.id: r for r in conn.execute(select(Process.id, Process.command_line,
                                                       Process.image, Process.start_us))}
    out = export(db_url, tmp_path, "table", "processes", "--format", "csv")
    back = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert len(back) == len(stored)
    for r in back:
        p = stored[int(r["id"])]
        assert r["command_line"].removeprefix("'") == p.command_line
        assert r["image"] == p.image
        assert r["start_us"] == ("" if p.start_us is None else str(p.start_us))


def test_unknown_table_is_a_one_line_usage_error(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "c.db")
    assert main(["export", "table", "nope", "--db", db]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown table 'nope'" in err[0]
    assert all(name in err[0] for name in TABLES)
    assert main(["export", "table", "--db", db]) == 2
    assert main(["export", "graph", "--db", db, "--format", "csv", "--host", "x"]) == 2
    assert main(["export", "processes", "--db", db, "--format", "dot"]) == 2


def test_graphml_is_the_session_tree_with_its_attributes(
        demo_case, db_url: str, tmp_path: Path) -> None:
    engine = demo_case
    sid = _alice(engine)
    want = session_tree(process_graph(engine), sid)
    assert want.number_of_nodes() > 3 and want.number_of_edges() > 0
    got = nx.read_graphml(export(db_url, tmp_path, "graph", "--session", str(sid)),
                          node_type=int)
    assert set(got.nodes) == set(want.nodes)
    assert set(got.edges) == set(want.edges)
    info = process_summaries(engine, list(want))
    for node, data in got.nodes(data=True):
        p = info[node]
        assert data["image"] == p["image"] and data["pid"] == p["pid"]
        # The demo's hostile command line keeps all but what XML cannot hold (ESC).
        assert data["user"] == p["user"]
        assert data["command_line"] == xml_safe(p["command_line"])
        assert data.get("start") == iso(p["start_us"]) and data.get("end") == iso(p["end_us"])
        assert data["flags"] == ",".join(p["flags"])
        assert data["host"].lower().startswith("ws01") and data["session"] == sid
    images = {d["image"].rsplit("\\", 1)[-1].lower() for _, d in got.nodes(data=True)}
    assert {"winword.exe", "powershell.exe"} <= images
    # The same tree as DOT: one node statement per process, one edge per parent link.
    dot = export(db_url, tmp_path, "graph", "--session", str(sid), "--format", "dot")
    text = dot.read_text()
    assert len(re.findall(r'^  "\d+" \[', text, re.M)) == want.number_of_nodes()
    assert len(re.findall(r'^  "\d+" -> "\d+";$', text, re.M)) == want.number_of_edges()
    assert main(["export", "graph", "--db", db_url, "--session", "999999"]) == 1


QUOTED = r'"(?:[^"\\\n]|\\.)*"'
STATEMENT = re.compile(
    rf"digraph proctrail \{{|\}}|  (?:graph|node|{QUOTED}) \[\w+={QUOTED}(?:, \w+={QUOTED})*\];"
    rf"|  {QUOTED} -> {QUOTED};")
HOSTILE = 'C:\\evil"];\n"x" -> "y\\\x1b[31m&amp;.exe'


def _undot(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


def test_dot_quotes_and_escapes_hostile_log_text(db_url: str, tmp_path: Path,
                                                 xml_log) -> None:
    xml_name = (HOSTILE.replace("&", "&amp;").replace('"', "&quot;")
                .replace("\n", "&#10;").replace("\x1b", "&#x1b;"))
    log = xml_log("evil.xml", [xml_log.event(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x100", "NewProcessName": xml_name, "ProcessId": "0x4",
        "SubjectUserName": 'ev"il\\', "CommandLine": xml_name + " \u202e &#x7; &#x0; end"})])
    assert main(["ingest", "--db", db_url, "--quiet", str(log)]) == 0
    dot = export(db_url, tmp_path, "graph", "--host", "ws1", "--format", "dot")
    text = dot.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines and all(STATEMENT.fullmatch(line) for line in lines), lines
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f\u202e]", text)
    node = next(line for line in lines if 'image="' in line)
    attrs = dict(re.findall(rf"(\w+)=({QUOTED})", node))
    assert _undot(attrs["image"]) == printable(HOSTILE)
    assert _undot(attrs["user"]) == 'ev"il\\'
    assert "\\u202e" in _undot(attrs["command_line"])
    assert _undot(attrs["command_line"]).endswith("\\x07 \\x00 end")  # NUL kept, shown
    assert "&amp;amp;" in attrs["label"]  # Graphviz reads entities in labels: & is &amp;
    assert dot_string('a"b\\c\nd') == '"a\\"b\\\\c\\\\x0ad"'
    if shutil.which("dot"):  # Debian's graphviz, where installed
        done = subprocess.run(["dot", "-Tsvg", str(dot)], capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr
    # GraphML keeps the text, but for what XML cannot hold (ESC), written as \x1b.
    g = nx.read_graphml(export(db_url, tmp_path, "graph", "--host", "ws1"))
    (data,) = (d for _, d in g.nodes(data=True) if d.get("pid") == 0x100)
    assert data["image"] == HOSTILE.replace("\x1b", "\\x1b")


def _listening(port: int) -> list[str]:
    """Local addresses listening on TCP ``port``, from /proc/net/tcp and tcp6."""
    found = []
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, _remote, state = line.split()[1:4]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                found.append(addr)
    return found


def test_serve_shows_the_tui_on_loopback_only(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([SCRIPT, "serve", "--db", str(db), "--port", str(port),
                             "--token", "tok"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve never listened"
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=tok", timeout=10) as r:
            assert r.status == 200
            page = r.read().decode()
        assert "<html" in page.lower() and "proctrail" in page
        assert f"ws://127.0.0.1:{port}/ws" in page
        assert _listening(port) == ["0100007F"]  # 127.0.0.1, and nothing else
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/?token=tok" in out and "warning" not in err


def test_serve_warns_when_it_listens_beyond_loopback(monkeypatch, tmp_path: Path,
                                                     capsys) -> None:
    from proctrail.app import serve as serving
    from proctrail.app.serve import app_command, is_loopback

    seen = {}

    class Fake:
        def __init__(self, args, token: str) -> None:
            seen.update(command=app_command(args), host=args.host, port=args.port,
                        token=token)

        def serve(self) -> None:
            seen["served"] = True

    monkeypatch.setattr(serving, "make_server", Fake)
    db = str(tmp_path / "c.db")
    monkeypatch.setenv("PROCTRAIL_DB", db)  # serve sets it for its app processes
    assert main(["serve", "--db", db, "--port", "8123"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["served"]
    assert "open" in seen["command"] and db not in seen["command"]
    assert "warning" not in capsys.readouterr().err
    assert main(["serve", "--db", db, "--host", "0.0.0.0", "--port", "8123"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert seen["host"] == "0.0.0.0" and len(err) == 1
    assert "warning" in err[0] and "anyone" in err[0]
    assert is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("ws01")
