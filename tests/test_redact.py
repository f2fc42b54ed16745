"""--redact: secrets in command lines masked in exports and in the TUI, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


SHAPES = {  # a real shape each: what --redact shows
    "net user admin P@ssw0rd! /add": f"net user admin {MASK} /add",
    r"net.exe use Z: \\srv\c$ S3cret! /user:corp\admin":
        rf"net.exe use Z: \\srv\c$ {MASK} /user:corp\admin",
    r"PsExec64.exe \\srv -u corp\admin -p Passw0rd! cmd":
        rf"PsExec64.exe \\srv -u corp\admin -p {MASK} cmd",
    "sqlcmd -S db01 -U sa -P Sup3rSecret -Q select": f"sqlcmd -S db01 -U sa -P {MASK} -Q select",
    "mysql -u root -psecret456 db": f"mysql -u root -p{MASK} db",
    "mysql -u root --password=secret456 db": f"mysql -u root --password={MASK} db",
    "psql postgresql://app:pgs3cret@db:5432/x": f"psql postgresql://app:{MASK}@db:5432/x",
    "PGPASSWORD=pgs3cret psql -h db": f"PGPASSWORD={MASK} psql -h db",
    "mongosh mongodb://root:m0ngo@h/admin": f"mongosh mongodb://root:{MASK}@h/admin",
    "mongosh --username root --password m0ngo": f"mongosh --username root --password {MASK}",
    "curl -u bob:pa55 https://x": f"curl -u bob:{MASK} https://x",
    "curl --user bob:pa55 https://x": f"curl --user bob:{MASK} https://x",
    "wget --password=w9et https://x": f"wget --password={MASK} https://x",
    "wget --http-password w9et https://x": f"wget --http-password {MASK} https://x",
    'curl -H "Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.sig" https://x':
        f'curl -H "Authorization: Bearer {MASK}" https://x',
    'curl -H "Authorization: Basic Ym9iOnBhNTU=" https://x':
        f'curl -H "Authorization: Basic {MASK}" https://x',
    'curl -H "X-Api-Key: abcd1234efgh" https://x': f'curl -H "X-Api-Key: {MASK}" https://x',
    "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE aws s3 ls": f"AWS_ACCESS_KEY_ID={MASK} aws s3 ls",
    "aws s3 ls --profile AKIAIOSFODNN7EXAMPLE": f"aws s3 ls --profile AKIA{MASK}",
    "aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY":
        f"aws configure set aws_secret_access_key {MASK}",
    'az storage blob list --connection-string "Proto=https;AccountName=a;AccountKey=Zm9v==;"':
        f'az storage blob list --connection-string "Proto=https;AccountName=a;AccountKey={MASK};"',
    "azcopy copy https://a.blob.core.windows.net/c?sv=2020&sig=abcDEF%3D x":
        f"azcopy copy https://a.blob.core.windows.net/c?sv=2020&sig={MASK} x",
    "az login -u bob@corp.com -p AzP4ss!": f"az login -u bob@corp.com -p {MASK}",
    "curl https://maps.googleapis.com/x?key=AIzaSyA1234567890abcdefghijklmnopqrstuv":
        f"curl https://maps.googleapis.com/x?key=AIza{MASK}",
    r'echo {"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----"}':
        r'echo {"private_key": "-----BEGIN PRIVATE KEY-----' + MASK + '-----END PRIVATE KEY-----"}',
    'sqlcmd -Q x "Server=db;User Id=sa;Password=hunter2;"':
        f'sqlcmd -Q x "Server=db;User Id=sa;Password={MASK};"',
    "echo -----BEGIN RSA PRIVATE KEY-----MIIEpAIBAAKCAQEA-----END RSA PRIVATE KEY-----":
        f"echo -----BEGIN RSA PRIVATE KEY-----{MASK}-----END RSA PRIVATE KEY-----",
    "app --jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl":
        f"app --jwt eyJhbGciOiJIUzI1NiJ9.{MASK}",
    "tool --password hunter2": f"tool --password {MASK}",
    "Connect-X -Password Hunter2": f"Connect-X -Password {MASK}",
    "plink -pw hunter2 host": f"plink -pw {MASK} host",
    "tool --token=abc123": f"tool --token={MASK}",
    "$p = ConvertTo-SecureString 'Hunter2' -AsPlainText -Force":
        f"$p = ConvertTo-SecureString '{MASK}' -AsPlainText -Force",
}
NOT_SECRETS = [  # a PID, a port, a path, a flag, a prompt: evidence, kept as is
    "WerFault.exe -u -p 5424 -s 120",
    r"psexec -p C:\Windows\System32\cmd.exe",
    "psexec -u a -p /usr/bin/x",
    "psexec -u a -p -s cmd",
    "svchost.exe -k netsvcs -p",
    "svchost.exe -k netsvcs -p -s Schedule",
    "ssh -p 2222 root@h",
    "dir /p",
    "xcopy /p a b",
    "mysql -u root -p db",
    "runas /user:corp\\admin cmd.exe",
    "net user admin * /add",
    "net user bob",
    "msbuild x.sln /p:Configuration=Release",
    "cmd /c dir", "net use Z: /delete", "ping 10.0.0.1",
]


def test_each_real_shape_is_masked_and_its_look_alikes_are_not() -> None:
    redact = Redactor()
    wrong = {text: redact(text) for text, want in SHAPES.items() if redact(text) != want}
    assert wrong == {}
    assert {text: redact(text) for text in NOT_SECRETS if redact(text) != text} == {}
    for masked in SHAPES.values():  # redacting what is shown changes nothing
        assert redact(masked) == masked


@pytest.mark.parametrize("text", [
    "a" * 200_000, "-p " * 70_000, "curl " + "x " * 100_000, "net user " + "/x " * 60_000,
    "'" * 200_000, "--password" * 20_000, "eyJ" + "a." * 100_000, "http://" + "a:" * 100_000,
    "-----BEGIN PRIVATE KEY-----" + "-" * 200_000, "psexec " + "-u " * 70_000,
    "Authorization: " + '"' * 200_000])
def test_hostile_lines_are_redacted_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    Redactor()(text)
    assert time.perf_counter() - started < 1.0


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
