"""The list screens at 80x24 as a user sees them (issue 17): the overview says what to
look at first, the sessions table shows when and how much, the findings table names the
image and the host; delete asks first and undoes. On the demo and on a real OTRF case."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path

import pytest
from textual.widgets import DataTable

from proctrail.app.screens.detail import DetailScreen
from proctrail.app.screens.dialogs import ConfirmDialog
from proctrail.app.screens.findings import FindingsScreen
from proctrail.app.screens.overview import OverviewScreen
from proctrail.app.screens.sessions import SessionsScreen
from proctrail.app.tui import ProctrailApp
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.detect.run import detect
from proctrail.store.ingest import Ingestor
from proctrail.store.queries.findings import list_findings, short_hosts
from proctrail.store.queries.sessions import is_person, session_group
from proctrail.store.timefmt import exact
from proctrail.widgets.columns import cut, cut_user, fit_columns

ROOT = Path(__file__).resolve().parents[1]
OTRF = ("empire_psremoting_stager.zip", "cmd_mshta_vbscript_execute_psh.zip")


def case(url: str, *paths: Path) -> str:
    """Ingest, correlate and detect ``paths`` into ``url``."""
    engine = open_engine(url)
    Ingestor(engine).run([str(p) for p in paths])
    correlate(engine)
    detect(engine)
    engine.dispose()
    return url


@pytest.fixture
def demo(tmp_path: Path) -> str:
    return case(f"sqlite:///{tmp_path / 'demo.db'}", ROOT / "sample_logs")


@pytest.fixture
def otrf(samples: Path, tmp_path: Path) -> str:
    """Two OTRF intrusions over four hosts, with the built-in rules' findings."""
    return case(f"sqlite:///{tmp_path / 'otrf.db'}", *(samples / "otrf" / n for n in OTRF))


async def settle(pilot) -> None:
    """Let workers finish and their results reach the screen."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_lines(app) -> list[str]:
    """The screen's text, line by line, from an SVG screenshot."""
    svg = app.export_screenshot()
    lines: dict[float, list[tuple[float, str]]] = defaultdict(list)
    for m in re.finditer(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", m.group(3))).replace("\xa0", " ")
        lines[float(m.group(2))].append((float(m.group(1)), text))
    return ["".join(t for _, t in sorted(v)).rstrip("\n") for _, v in sorted(lines.items())]


def table_lines(app) -> list[str]:
    """The table's lines on screen, its header first."""
    lines = screen_lines(app)
    header = next(i for i, line in enumerate(lines) if re.match(r"\s*(severity|host|what)", line))
    return lines[header:-1]


async def test_findings_name_image_and_host_most_severe_detections_first(otrf: str) -> None:
    app = ProctrailApp(open_engine(otrf))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        lines = table_lines(app)
        rows = list(app.screen.rows.values())
    assert lines[0].split() == ["severity", "on", "host", "rule", "or", "note"]
    first = lines[1]
    assert first.split()[:3] == ["high", "powershell.exe", "WORKSTATION6"]
    assert "PowerShell With a Hidden" in first and "theshire" not in first
    assert not any("process 8" in line for line in lines)  # no opaque ids
    assert rows[0].kind == "rule" and rows[0].image == "powershell.exe"
    # High detections, then high anomalies, ..., low anomalies (record gaps) last.
    last_high_rule = max(i for i, r in enumerate(rows) if r.severity == "high"
                         and r.kind != "anomaly")
    first_low = min(i for i, r in enumerate(rows) if r.severity == "low")
    first_high_anomaly = min(i for i, r in enumerate(rows) if r.severity == "high"
                             and r.kind == "anomaly")
    assert last_high_rule < first_high_anomaly < first_low
    assert rows[first_high_anomaly].marks in ("Security", "System")  # the log, not an id


async def test_sessions_show_start_and_processes_people_first(otrf: str) -> None:
    app = ProctrailApp(open_engine(otrf))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        lines = table_lines(app)
        rows = list(app.screen.rows.values())
        await pilot.press("s")  # s still sorts: by start time
        await settle(pilot)
        by_start = list(app.screen.rows.values())
    assert lines[0].split() == ["host", "user", "type", "start", "procs", "flags"]
    assert re.search(r"WORKSTATION6 +THESHIRE.LOCAL\\pgustavo +Network +09-\d\d "
                     r"\d\d:\d\d +4\b", "\n".join(lines))  # the remote shell's session
    assert is_person(rows[0].user) and session_group(rows[0].logon_type, rows[0].user) <= 1
    machines = [i for i, r in enumerate(rows) if r.user.endswith("$")]
    people = [i for i, r in enumerate(rows) if is_person(r.user)]
    assert machines and max(people) < min(machines)
    starts = [r.start_us for r in by_start if r.start_us is not None]
    assert starts == sorted(starts)


async def test_overview_lists_the_top_findings_before_the_hosts(otrf: str) -> None:
    app = ProctrailApp(open_engine(otrf))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        lines = screen_lines(app)
        text = "\n".join(lines)
        findings = next(i for i, line in enumerate(lines) if line.lstrip().startswith("Findings"))
        assert re.search(r"Findings +8 +5 high · 3 low \(3 logs cleared\)", text)
        assert lines[findings + 1].split()[:3] == ["powershell.exe", "1", "WORKSTATION6"]
        assert "PowerShell With a Hidden" in lines[findings + 1]
        assert lines[findings + 2].split()[:3] == ["mshta.exe", "1", "WORKSTATION5"]
        assert lines[findings + 3].split() == ["Security", "3", "WORKSTATION5", "log_cleared"]
        hosts = next(i for i, line in enumerate(lines) if "1,631 events" in line)
        assert findings < hosts
        assert ".000000" not in text and " UTC → " in text
        await pilot.press("down", "down", "enter")  # the first listed finding
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.detail.row.name == "powershell.exe"


async def test_delete_asks_and_undo_puts_the_same_finding_back(demo: str) -> None:
    engine = open_engine(demo)
    before = list_findings(engine)
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("down")
        target = app.screen.current()
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "Delete finding: PowerShell" in " ".join(screen_lines(app))
        assert app.screen.question.plain == (
            f"Delete finding: {target.title} on {target.marks}? y/n")
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert len(list_findings(engine)) == len(before)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        after = list_findings(engine)
        assert len(after) == len(before) - 1 and target.id not in {f.id for f in after}
        assert str(target.id) not in app.screen.rows
        await pilot.press("u")
        await settle(pilot)
        assert list_findings(engine) == before  # the same row, the same id
        assert app.screen.current().id == target.id  # and the cursor on it again
    engine.dispose()


async def test_demo_lists_fit_and_move_like_less(demo: str) -> None:
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        rows = list(app.screen.rows.values())
        assert session_group(rows[0].logon_type, rows[0].user) == 0
        assert rows[-1].logon_type == "cron"  # scheduled jobs last
        assert rows[0].user == "CORP\\bob" and rows[0].logon_type == "Interactive"
        table = app.screen.query_one(DataTable)
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("G", "g")
        assert table.cursor_row == 0
        keys = {b.key: b.description for _ns, b, _on, _tip in
                app.screen.active_bindings.values()}
        assert keys["home"] == "First row" and keys["end"] == "Last row"
        assert keys["pagedown"] == "Page down"
        await pilot.press("escape", "3")
        await settle(pilot)
        lines = table_lines(app)
        assert lines[1].split()[0] in ("critical", "high")
        assert all(len(line) <= 80 for line in lines)


def test_narrow_text_helpers() -> None:
    assert cut("powershell.exe", 8) == "powersh…"
    assert cut("1234567890", 5, middle=True) == "12…90"
    assert cut_user("THESHIRE.LOCAL\\pgustavo", 13) == "THE…\\pgustavo"
    assert cut_user("NT AUTHORITY\\NETWORK SERVICE", 10) == "NETWORK S…"
    assert fit_columns([], 80) == {}
    assert short_hosts(["MORDORDC.mordor.local", "MORDORDC.theshire.local", "Pedro01",
                        "WORKSTATION5", "WORKSTATION5.mordor.local"]) == {
        "MORDORDC.mordor.local": "MORDORDC.mordor",
        "MORDORDC.theshire.local": "MORDORDC.theshire", "Pedro01": "Pedro01",
        "WORKSTATION5": "WORKSTATION5", "WORKSTATION5.mordor.local": "WORKSTATION5.mordor"}
    assert session_group("Interactive", "Window Manager\\DWM-1") == 2
    assert session_group("Network", "CORP\\WS01$") == 2
    assert session_group("Network", "CORP\\alice") == 1
    assert session_group("cron", "root") == 3
    assert exact(1_575_510_571_000_000) == "2019-12-05 01:49:31 UTC"
    assert exact(1_689_813_284_326_000) == "2023-07-20 00:34:44.326 UTC"
