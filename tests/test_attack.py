"""ATT&CK on findings (issue 18): Sigma tags read into v19 technique ids and tactics, every
finding of the demo carrying its technique, the ``tactic=``/``technique=`` filter words,
the Navigator layer and the findings screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable

from proctrail.app.screens.findings import FindingsScreen
from proctrail.app.tui import ProctrailApp
from proctrail.store.db import open_engine
from proctrail.store.detect import attack
from proctrail.store.detect.run import detect
from proctrail.store.queries.findings import list_findings
from tests.test_tui import ingested_demo, screen_text, settle


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo case, detected once for the module (read only by the tests)."""
    url = ingested_demo(f"sqlite:///{tmp_path_factory.mktemp('attack') / 'demo.db'}")
    engine = open_engine(url)
    detect(engine)
    engine.dispose()
    return url


def test_sigma_tags_become_v19_techniques_and_tactics() -> None:
    """Sigma's spellings, revoked ids and the retired defense-evasion all land on v19."""
    stored = attack.finding_tags(["attack.execution", "attack.t1059.001",
                                  "attack.defense_evasion", "attack.T1027", "car.2013-05-004",
                                  "attack.s0002", "attack.g0016"])
    assert attack.techniques_of(stored) == ["T1059.001", "T1027"]
    assert attack.tactics_of(stored) == ["execution", "stealth"]
    assert "car.2013-05-004" in stored.split(",")
    old = attack.finding_tags(["attack.defense-evasion", "attack.t1070.001"])
    assert old == "attack.defense-impairment,attack.t1685.005"
    # A technique without its tactic gets the catalogue's; a tactic alone stays alone.
    assert attack.tactics_of(attack.finding_tags(["attack.t1021.002"])) == ["lateral-movement"]
    assert attack.techniques_of(attack.finding_tags(["attack.persistence"])) == []
    assert attack.label("T1059.001") == "T1059.001 PowerShell"
    assert attack.label("T9999") == "T9999"
    assert attack.fixed_tags("log_cleared") == "attack.defense-impairment,attack.t1685.005"
    assert attack.fixed_tags("pid_reused") == ""


def test_every_demo_finding_names_its_technique(demo: str) -> None:
    rows = list_findings(open_engine(demo))
    assert len(rows) == 17
    assert all(r.techniques and r.tactics for r in rows), \
        [r.title for r in rows if not r.techniques]
    by_title = {r.title: r for r in rows}
    assert by_title["log_cleared"].techniques == ["T1685.005"]
    assert by_title["log_cleared"].technique == "T1685.005 Clear Windows Event Logs"
    assert by_title["clock_changed"].techniques == ["T1070.006"]
    assert by_title["record_gap"].techniques == ["T1070"]
    powershell = by_title["PowerShell With a Hidden Window or an Encoded Command"]
    assert powershell.techniques == ["T1059.001", "T1027", "T1564.003"]
    assert powershell.tactics == ["execution", "stealth"]
    burst = next(r for r in rows if r.kind == "burst")
    assert burst.tactics == ["discovery"] and "T1033" in burst.techniques
    assert all(t in attack.TECHNIQUES for r in rows for t in r.techniques)


async def test_the_findings_screen_names_the_technique(demo: str) -> None:
    """At 80x24 the highlighted finding's line names its technique; at 140 columns the
    table has a technique column."""
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        first = app.screen.current()
        assert first is not None and first.techniques
        text = screen_text(app)
        assert f"· {attack.label(first.techniques[0])}" in text, text
        assert "technique" not in [str(c.label) for c in
                                   app.screen.query_one(DataTable).columns.values()]
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert "technique" in [str(c.label) for c in table.columns.values()]
        text = screen_text(app)
        assert "T1685.005" in text and "T1059.001+2" in text, text


def test_tactic_and_technique_filter_words_keep_processes_with_such_findings(
        demo_case) -> None:
    """``technique=T1059*`` keeps the PowerShell and the reverse shell; ``tactic=`` keeps
    the discovery commands; a glob never reaches across tags; on both databases."""
    from proctrail.store.queries import browse
    from proctrail.store.queries.filters import FilterError, parse_filter, split_search

    detect(demo_case)

    def names(text: str) -> list[str]:
        return sorted(r.name for r in browse.search(demo_case, "", parse_filter(text)))

    assert names("technique=T1059*") == ["powershell.exe", "python3.11"]
    assert names("technique=t1059.00?") == ["powershell.exe", "python3.11"]
    assert names("technique=T1059") == []  # no finding names the parent technique alone
    assert names("technique=T1685.005") == ["wevtutil.exe"]  # its anomaly marks the log
    assert names("tactic=discovery") == ["net.exe", "nltest.exe", "whoami.exe"]
    assert names("tactic=Defense_Impairment") == ["wevtutil.exe"]
    assert names("tactic=lateral-movement") == []
    assert names("tactic=exec* user=alice") == ["powershell.exe", "updater.exe"]
    assert names("technique=T10*5") == ["python3.11", "updater.exe"]  # T1095, T1036.005
    # whoami's burst holds "t1082,attack.t1482": matched only if * crossed a comma.
    assert names("technique=T1082*2") == []
    assert names("technique=T1082*") == ["whoami.exe"]
    assert names("technique=T11*5") == ["curl"]
    text, flt = split_search("whoami technique=T1033")
    assert text == "whoami" and flt.technique == "t1033"
    assert flt.describe() == "technique=t1033"
    with pytest.raises(FilterError, match="not an ATT&CK technique"):
        parse_filter("technique=lateral")
    with pytest.raises(FilterError, match="not an ATT&CK tactic"):
        parse_filter("tactic=T1059")


def test_export_attack_writes_a_navigator_layer_of_the_case(demo: str, tmp_path) -> None:
    """``proctrail export attack --out FILE``: valid JSON of layer format 4.x, one entry per
    technique and tactic, score = findings, the rules in the comment; ``export findings``
    gets technique and tactic columns; the report a technique table."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from proctrail.app.output.report import build_report, to_markdown

    script = Path(sys.executable).with_name("proctrail")
    out = tmp_path / "layer.json"
    done = subprocess.run([str(script), "export", "attack", "--db", demo, "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    layer = json.loads(out.read_text())
    assert layer["domain"] == "enterprise-attack"
    assert layer["versions"]["layer"].startswith("4.") and layer["versions"]["attack"] == "19"
    scores = {(t["techniqueID"], t.get("tactic")): t["score"] for t in layer["techniques"]}
    assert scores[("T1685.005", "defense-impairment")] == 2  # the wevtutil rule, the 1102
    assert scores[("T1070.006", "stealth")] == 3  # a clock change, two jumps
    assert scores[("T1059.001", "execution")] == 1
    assert len({t for t, _ in scores}) == 23
    comment = next(t["comment"] for t in layer["techniques"] if t["techniqueID"] == "T1685.005")
    assert "Windows Event Log Cleared From the Command Line (1)" in comment
    assert "log_cleared (1)" in comment
    done = subprocess.run([str(script), "export", "findings", "--db", demo],
                          capture_output=True, text=True)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(r["techniques"] and r["tactics"] for r in records)
    md = to_markdown(build_report(open_engine(demo)))
    assert "| T1685\\.005 | Clear Windows Event Logs | Defense Impairment | 2 | 1 |" in md


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared/samples/sigma")
                    .is_dir(), reason="SigmaHQ rules not in ../shared/samples")
def test_a_sigmahq_regression_case_carries_its_rules_techniques(tmp_path) -> None:
    """A SigmaHQ rule over its own regression EVTX: the finding carries the rule's
    technique; every technique SigmaHQ's rules name is in the catalogue."""
    import yaml

    from tests.conftest import correlated_case

    sigma = Path(__file__).resolve().parents[2] / "shared/samples/sigma"
    case = (sigma / "regression_data/rules/windows/process_creation/"
            "proc_creation_win_wmic_recon_process")
    rule = next((sigma / "rules").rglob("proc_creation_win_wmic_recon_process.yml"))
    tags = yaml.safe_load(rule.read_text())["tags"]
    expected = [attack.technique_id(t) for t in tags if attack.technique_id(t)]
    engine = correlated_case(f"sqlite:///{tmp_path / 'case.db'}", *case.glob("*.evtx"))
    detect(engine, [rule], builtin=False)
    rows = [r for r in list_findings(engine) if r.kind == "rule"]
    assert rows and all(r.techniques == expected for r in rows), (expected, rows)
    assert rows[0].tactics
    named = {attack.technique_id(t) for f in (sigma / "rules").rglob("*.yml")
             for t in yaml.safe_load(f.read_text()).get("tags") or []
             if attack.technique_id(t)}
    assert len(named) > 250 and named <= set(attack.TECHNIQUES)
