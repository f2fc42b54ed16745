"""The ``proctrail`` command as other tools and analysts use it: output, exit codes, JSON."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
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
    """A case read by 'ingest --no-detect' and opened with the same paths: nothing is
    new, so it is not correlated again, but the built-in detections still run."""
    from proctrail.store.db import open_engine
    from proctrail.store.load import Detect, load_case
    from proctrail.store.queries.browse import generation
    from proctrail.store.queries.findings import list_findings

    db = str(tmp_path / "c.db")
    done = run("ingest", "--db", db, "--no-detect", str(ROOT / "sample_logs"))
    assert done.returncode == 0 and "detect:" not in done.stdout
    engine = open_engine(db)
    before = generation(engine)
    assert list_findings(engine) == []
    done = load_case(engine, [str(ROOT / "sample_logs")], detection=Detect.IF_NONE)
    assert done.correlation is None and generation(engine) == before
    assert done.detection is not None and done.detection.findings > 0
    assert list_findings(engine)


# --- issue 17: the command line as people expect it ------------------------------------

ESC_LINE = "whoami \x1b]0;owned\x07 \x1b[2J done"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo case, ingested (with its detections) once for this module's tests, plus
    one hostile process whose command line carries escape sequences."""
    from conftest import event_xml

    folder = tmp_path_factory.mktemp("case")
    evil = folder / "evil.xml"
    evil.write_text("<Events>" + event_xml(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x100", "NewProcessName": "C:\\w\\evil.exe", "ProcessId": "0x4",
        "CommandLine": ESC_LINE.replace("\x1b", "&#x1b;").replace("\x07", "&#x07;")},
        host="evilhost") + "</Events>", encoding="utf-8")
    db = str(folder / "c.db")
    done = run("ingest", "--db", db, str(ROOT / "sample_logs"), str(evil))
    assert done.returncode == 0, done.stderr
    return db


def cli(*args: str) -> tuple[int, str, str]:
    """``proctrail ARGS`` in this process: exit status, stdout, stderr."""
    import contextlib
    import io

    from proctrail.app.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def lifetime(db: str, where: str) -> tuple:
    """(id, host name, pid, process_guid, start_us) of the first process matching."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT p.id, h.name, p.pid, p.process_guid, p.start_us FROM processes p "
            f"JOIN hosts h ON h.id = p.host_id WHERE {where} ORDER BY p.id").fetchone()


def test_db_without_a_command_opens_the_tui_as_open_does(tmp_path: Path, monkeypatch) -> None:
    from proctrail.app.cli import open_case

    opened: list[argparse.Namespace] = []
    monkeypatch.setattr(open_case, "run", lambda args: opened.append(args) or 0)
    db = str(tmp_path / "x.db")
    assert cli("--db", db)[0] == 0
    assert cli("open", "--db", db)[0] == 0
    bare, explicit = (vars(a) for a in opened)
    assert bare["command"] == explicit["command"] == "open"
    assert bare["db"] == explicit["db"] == db and bare["paths"] == explicit["paths"] == []
    # Before a command, --db is that command's.
    code, out, _ = cli("--db", db, "stats", "--json")
    assert code == 0 and json.loads(out)["events"] == 0 and Path(db).is_file()


def test_bare_proctrail_opens_a_case_only_where_there_is_one(tmp_path: Path,
                                                             monkeypatch) -> None:
    from proctrail.app.cli import default_command

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROCTRAIL_DB", raising=False)
    assert default_command(None, terminal=True) is None  # help, no empty proctrail.db
    assert default_command("c.db", terminal=False) == ["open", "--db", "c.db"]
    monkeypatch.setenv("PROCTRAIL_DB", str(tmp_path / "env.db"))
    assert default_command(None, terminal=True) == ["open"]
    assert default_command(None, terminal=False) is None  # a script never gets a TUI
    monkeypatch.delenv("PROCTRAIL_DB")
    (tmp_path / "proctrail.db").touch()
    assert default_command(None, terminal=True) == ["open"]
    code, out, _ = cli()  # not a terminal: the help, as before
    assert code == 0 and "usage: proctrail" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proctrail.db"]


def test_every_option_of_every_command_has_help() -> None:
    from proctrail.app.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name or 'proctrail'} {'/'.join(a.option_strings) or a.dest}"
               for name, p in [("", parser), *subs.choices.items()] for a in p._actions
               if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
               and not (a.help or "").strip()]
    assert missing == []
    assert len(subs.choices) >= 13


def test_tree_finds_a_process_by_guid_or_host_pid_time(case: str) -> None:
    pid_, host, pid, guid, start = lifetime(case, "p.process_guid IS NOT NULL "
                                                  "AND p.image LIKE '%cmd.exe'")
    when = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(start // 1_000_000))
    short = host.split(".")[0].lower()
    by_id = cli("tree", "--db", case, "--process", str(pid_), "--json")
    assert by_id[0] == 0 and json.loads(by_id[1])["roots"] == [pid_]
    for spec in (guid, guid.strip("{}").upper(), f"{short}:{pid}:{when}",
                 f"{host.upper()}:{pid}:{when[:13]}"):
        code, out, err = cli("tree", "--db", case, "--process", spec, "--json")
        assert code == 0, err
        assert json.loads(out)["roots"] == [pid_], spec
    code, out, err = cli("tree", "--db", case, "--process", f"{short}:{pid}:1999-01-01")
    assert code == 1 and out == "" and err.count("\n") == 1 and "no process" in err
    code, _, err = cli("tree", "--db", case, "--process", "nonsense")
    assert code == 2 and "HOST:PID:TIME" in err and err.count("\n") == 1


def test_tree_lists_the_candidates_of_an_ambiguous_process(case: str) -> None:
    import sqlite3

    with sqlite3.connect(case) as conn:
        host, pid, n = conn.execute(
            "SELECT h.name, p.pid, count(*) FROM processes p JOIN hosts h ON h.id = p.host_id"
            " WHERE p.pid IS NOT NULL AND p.start_us IS NOT NULL GROUP BY 1, 2"
            " HAVING count(*) > 1 ORDER BY 1, 2").fetchone()
        ids = {r[0] for r in conn.execute(
            "SELECT p.id FROM processes p JOIN hosts h ON h.id = p.host_id "
            "WHERE h.name = ? AND p.pid = ?", (host, pid))}
    code, out, err = cli("tree", "--db", case, "--process", f"{host}:{pid}:2026-11-02")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"names {n} processes" in err
    assert all(str(i) in err for i in ids)


def test_tree_cmdline_is_printable_and_cut(case: str) -> None:
    evil = lifetime(case, "p.image LIKE '%evil.exe'")
    code, out, _ = cli("tree", "--db", case, "--host", "evilhost", "--cmdline")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07 \\x1b[2J done" in out
    code, out, _ = cli("tree", "--db", case, "--host", "ws0*", "--cmdline")
    lines = out.splitlines()
    assert code == 0 and all(len(line) <= 160 for line in lines)
    assert any(line.endswith("…") for line in lines)  # the long ones are cut
    assert "WS01" in out or "explorer.exe" in out
    whole = json.loads(cli("tree", "--db", case, "--process", str(evil[0]), "--json")[1])
    assert whole["processes"][0]["command_line"] == ESC_LINE  # JSON: the exact text


def test_tree_host_takes_globs_and_short_names(case: str) -> None:
    def hosts(pattern: str) -> set[str]:
        code, out, err = cli("tree", "--db", case, "--host", pattern, "--json")
        assert code == 0, err
        return {p["host"] for p in json.loads(out)["processes"]}

    assert hosts("ws0*") == {"WS01.corp.example", "WS02.corp.example"}
    assert hosts("ws01") == {"WS01.corp.example"}
    assert hosts("WS0?.CORP.*") == {"WS01.corp.example", "WS02.corp.example"}


def test_tree_json_contract(case: str) -> None:
    code, out, _ = cli("tree", "--db", case, "--host", "ws01", "--json")
    data = json.loads(out)
    assert code == 0 and set(data) == {"roots", "processes"}
    procs = {p["id"]: p for p in data["processes"]}
    assert set(next(iter(procs.values()))) == {
        "id", "parent", "children", "depth", "host", "pid", "image", "user",
        "command_line", "start", "end", "flags"}
    assert [p["id"] for p in data["processes"] if p["parent"] is None] == data["roots"]
    for p in data["processes"]:
        for child in p["children"]:
            assert procs[child]["parent"] == p["id"]
            assert procs[child]["depth"] == p["depth"] + 1
    some = next(p for p in data["processes"] if p["parent"] is not None)
    chain = json.loads(cli("tree", "--db", case, "--process", str(some["id"]),
                           "--ancestors", "--json")[1])
    assert chain["processes"][-1]["id"] == some["id"]
    assert [p["depth"] for p in chain["processes"]] == list(range(len(chain["processes"])))


def test_detect_and_report_json(case: str) -> None:
    code, out, _ = cli("detect", "--db", case, "--json")
    found = json.loads(out)
    assert code == 0 and out.count("\n") == 1
    assert set(found) == {"rules", "events", "findings", "seconds", "slices", "refused",
                          "by_rule"}
    assert found["findings"] == sum(r["findings"] for r in found["by_rule"]) > 0
    code, out, _ = cli("report", "--db", case, "--json")
    summary = json.loads(out)
    assert code == 0
    assert summary["findings"]["total"] == found["findings"]
    assert sum(summary["findings"]["by_severity"].values()) == found["findings"]
    assert set(summary["findings"]["by_severity"]) == {
        "info", "low", "medium", "high", "critical"}
    assert summary["anomalies"]["total"] == sum(summary["anomalies"]["by_kind"].values())
    assert {"evilhost", "WS01.corp.example"} <= set(summary["hosts"])
    assert summary["processes"] > 0 and summary["first"].endswith("Z")


def test_config_is_an_option_wherever_proctrail_toml_is_read(case: str,
                                                              tmp_path: Path) -> None:
    from proctrail.app.redact import MASK

    secret = tmp_path / "secret.toml"
    secret.write_text('[redact]\nenabled = true\npatterns = [\'(whoami )(\\S+)\']\n')
    piped = cli("export", "processes", "--db", case, "--config", str(secret))[1]
    masked = [json.loads(line)["command_line"] for line in piped.splitlines()]
    assert ESC_LINE not in masked and ESC_LINE.replace("\x1b]0;owned\x07", MASK) in masked
    for command in ("ingest", "correlate", "detect", "export", "tree", "report", "open",
                    "serve"):
        extra = {"export": ["processes"], "tree": ["--host", "x"],
                 "ingest": [str(ROOT / "sample_logs/lnx01-audit.log")]}.get(command, [])
        code, _, err = cli(command, "--db", case, *extra, "--config",
                           str(tmp_path / "absent.toml"))
        assert code == 2 and "absent.toml" in err, command


def test_open_reads_paths_in_with_the_config_given(tmp_path: Path, monkeypatch) -> None:
    """``open --config FILE PATH``: the app (and so its loading screen, which hands
    ``app.config`` to ``load_case``) reads with FILE's settings, not ./proctrail.toml."""
    from proctrail.app.tui import ProctrailApp

    settings = tmp_path / "case.toml"
    settings.write_text('[track]\ninclude = ["*cmd.exe"]\n')
    seen: list[object] = []
    monkeypatch.setattr(ProctrailApp, "run", lambda app: seen.append(app.config))
    log = str(ROOT / "sample_logs/lnx01-audit.log")
    assert cli("open", "--db", str(tmp_path / "c.db"), "--config", str(settings), log)[0] == 0
    (config,) = seen
    assert config.include == ["*cmd.exe"]  # type: ignore[attr-defined]


def test_ingest_detects_unless_told_not_to(tmp_path: Path) -> None:
    log = str(ROOT / "sample_logs")
    db = str(tmp_path / "c.db")
    done = run("ingest", "--db", db, log)
    assert done.returncode == 0
    line = next(x for x in done.stdout.splitlines() if x.startswith("detect: rules:"))
    assert not line.endswith(" 0 findings")
    again = run("ingest", "--db", db, log)
    assert "nothing new to detect on: findings kept" in again.stdout
    bare = str(tmp_path / "bare.db")
    skipped = run("ingest", "--db", bare, "--no-detect", log)
    assert skipped.returncode == 0 and "detect:" not in skipped.stdout
    assert json.loads(run("report", "--db", bare, "--json").stdout)["findings"]["total"] == 0


def test_export_printable_to_a_pipe_or_a_file(case: str, tmp_path: Path) -> None:
    for target in ("processes", "timeline"):
        exact = cli("export", target, "--db", case, "--format", "csv")[1]
        assert "\x1b]0;owned\x07" in exact  # a pipe: the exact text
        shown = cli("export", target, "--db", case, "--format", "csv", "--printable")[1]
        assert "\x1b" not in shown and "\x07" not in shown
        assert "\\x1b]0;owned\\x07" in shown
    out = tmp_path / "g.dot"
    assert cli("export", "graph", "--db", case, "--host", "evilhost", "--format", "dot",
               "--out", str(out), "--printable")[0] == 0
    assert "\x1b" not in out.read_text() and "\\x1b" in out.read_text()
    assert cli("export", "processes", "--db", case, "--out", str(out))[0] == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert ESC_LINE in [r["command_line"] for r in records]  # a file: the exact text


def test_correlation_summary_says_how_4648s_linked(capsys) -> None:
    from proctrail.app.cli.summary import print_correlation
    from proctrail.store.correlate import CorrelationReport

    print_correlation(CorrelationReport(3, 2, {}, {}, {}, {"linked": 5, "no such host": 2}))
    out = capsys.readouterr().out
    assert ("explicit credentials (4648): 5 of 7 linked to the session they opened "
            "(not linked: no such host: 2)") in out
    print_correlation(CorrelationReport(3, 2, {}, {}, {}))
    assert "explicit credentials" not in capsys.readouterr().out
