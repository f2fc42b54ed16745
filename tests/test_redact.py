"""--redact: secrets in command lines masked in exports and in the TUI, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proctrail.app.redact import MASK, Redactor

SECRETS = {
    r"psexec.exe \\srv -u admin -p Passw0rd! cmd": r"psexec.exe \\srv -u admin -p ******** cmd",
    r"net use \\srv\c$ S3cret! /user:corp\admin": r"net use \\srv\c$ ******** /user:corp\admin",
    'sqlcmd -Q x "Server=db;User Id=sa;Password=hunter2;"':
        'sqlcmd -Q x "Server=db;User Id=sa;Password=********;"',
    "curl -u bob:pa55 https://x": "curl -u bob:******** https://x",
    "git clone https://bob:tok3n@example.com/x": "git clone https://bob:********@example.com/x",
    "mimikatz.exe /password:abc": "mimikatz.exe /password:********",
}
HARMLESS = ["cmd /c dir", "net use Z: /delete", "ping 10.0.0.1", "reg add HKCU\\x /v p /d 1"]


def test_patterns_mask_secrets_and_nothing_else() -> None:
    redact = Redactor()
    for text, masked in SECRETS.items():
        assert redact(text) == masked
    for text in HARMLESS:
        assert redact(text) == text
    extra = Redactor([r"(--license\s+)(\S+)"])
    assert extra("app --license ABCD-1234") == f"app --license {MASK}"
    with pytest.raises(ValueError, match="needs two groups"):
        Redactor([r"secret"])


def test_export_and_tui_mask_with_redact(tmp_path: Path, xml_log) -> None:
    ev = xml_log.event
    log = xml_log("net.xml", [ev(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x100", "NewProcessName": r"C:\w\net.exe", "ProcessId": "0x4",
        "CommandLine": r"net use \\srv\c$ S3cret! /user:corp\admin"})])
    db = str(tmp_path / "c.db")
    script = Path(sys.executable).with_name("proctrail")
    assert subprocess.run([str(script), "ingest", "--db", db, str(log)],
                          capture_output=True).returncode == 0
    plain = subprocess.run([str(script), "export", "processes", "--db", db],
                           capture_output=True, text=True).stdout
    masked = subprocess.run([str(script), "export", "processes", "--db", db, "--redact"],
                            capture_output=True, text=True).stdout
    assert "S3cret!" in plain and "S3cret!" not in masked and MASK in masked
    (row,) = [json.loads(line) for line in masked.splitlines() if "net.exe" in line]
    assert row["command_line"] == rf"net use \\srv\c$ {MASK} /user:corp\admin"
    bad = subprocess.run([str(script), "export", "processes", "--db", db,
                          "--redact-pattern", "(x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a regular expression" in bad.stderr


async def test_detail_screen_masks_command_lines(case_of, xml_log) -> None:
    from proctrail.app.screens.detail import DetailScreen
    from proctrail.app.tui import ProctrailApp
    from proctrail.store.queries import export_processes

    ev = xml_log.event
    log = xml_log("p.xml", [ev(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x100", "NewProcessName": r"C:\w\psexec.exe", "ProcessId": "0x4",
        "CommandLine": r"psexec.exe \\srv -u admin -p Passw0rd! cmd"})])
    engine = case_of(log)
    (proc,) = [p for p in export_processes(engine) if p["image"].endswith("psexec.exe")]
    app = ProctrailApp(engine, redactor=Redactor())
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        app.open_detail(proc["id"])
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        assert isinstance(app.screen, DetailScreen)
        svg = app.export_screenshot()
    assert "Passw0rd" not in svg and "********" in svg


def test_search_under_redaction_reads_no_masked_secret(xml_log, tmp_path) -> None:
    """Was an oracle: with --redact, '-P Sup3rS' found the process and '-P Sup3rX' did
    not, so a secret could be read one character at a time."""
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor
    from proctrail.store.queries import browse

    ev = xml_log.event
    path = xml_log("s.xml", [ev(4688, 1, "2024-03-01T10:00:00Z", {
        "NewProcessId": "0x10", "ProcessId": "0x4",
        "NewProcessName": "C:\\Program Files\\SQL\\sqlcmd.exe",
        "CommandLine": "sqlcmd -S db01 -U sa -P Sup3rSecret -Q select"})])
    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    Ingestor(engine).run([str(path)])
    correlate(engine)
    redact = Redactor()
    assert "Sup3rSecret" not in redact("sqlcmd -S db01 -U sa -P Sup3rSecret")
    assert len(browse.search(engine, "-P Sup3rS")) == 1  # no redaction: the raw text
    for probe in ("-P Sup3rS", "Sup3r", "-P Sup3rX"):
        assert browse.search(engine, probe, None, 1000, None, redact) == []
    assert [r.name for r in browse.search(engine, "-S db01", None, 1000, None, redact)] == [
        "sqlcmd.exe"]  # what is shown still matches
    assert len(browse.search(engine, "sqlcmd", None, 1000, None, redact)) == 1
