"""The investigator TUI driven by keyboard with Pilot on the demo case, hostile text shown
harmlessly, and snapshots of the main screens at 80x24 and 120x40."""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from proctrail.app.screens.detail import DetailScreen
from proctrail.app.screens.findings import FindingsScreen
from proctrail.app.screens.lists import AncestorsScreen
from proctrail.app.screens.overview import OverviewScreen
from proctrail.app.screens.sessions import SessionsScreen
from proctrail.app.screens.tree import TreeScreen
from proctrail.app.tui import ProctrailApp
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.queries.findings import list_findings
from proctrail.widgets.process_tree import ProcessTree

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "sample_logs"
TRUTH = json.loads((ROOT / "tests/data/sample_logs_truth.json").read_text())
PROCESSES = f"{len(TRUTH['lifetimes'])} processes"


def ingested_demo(url: str) -> str:
    engine = open_engine(url)
    Ingestor(engine).run([str(LOGS)])
    correlate(engine)
    engine.dispose()
    return url


@pytest.fixture
def demo_url(tmp_path: Path) -> str:
    """The demo case in SQLite: the snapshots' store."""
    return ingested_demo(f"sqlite:///{tmp_path / 'demo.db'}")


@pytest.fixture
def any_demo_url(db_url: str) -> str:
    """The demo case, once in SQLite and once in PostgreSQL."""
    return ingested_demo(db_url)


async def settle(pilot) -> None:
    """Let workers finish and their results reach the screen."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app) -> str:
    """The screen's text, line by line, from an SVG screenshot."""
    svg = app.export_screenshot()
    lines: dict[float, list[tuple[float, str]]] = defaultdict(list)
    for m in re.finditer(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", m.group(3))).replace("\xa0", " ")
        lines[float(m.group(2))].append((float(m.group(1)), text))
    return "\n".join("".join(t for _, t in sorted(v)) for _, v in sorted(lines.items()))


def cursor_row(app):
    return app.screen.query_one(ProcessTree).cursor_node.data


async def test_main_path_session_to_parent_chain_bookmark_and_export(
        any_demo_url: str, tmp_path: Path, monkeypatch) -> None:
    demo_url = any_demo_url
    monkeypatch.chdir(tmp_path)
    app = ProctrailApp(open_engine(demo_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        text = screen_text(app)
        assert PROCESSES in text and f"{len(TRUTH['hosts'])} host(s)" in text
        assert "log_cleared" in text and "clock_jump" in text and "record_gap" in text

        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        table = app.screen.query_one("DataTable")
        alice = next(i for i, r in enumerate(app.screen.rows.values())
                     if r.logon_id == "0x5b3f21")
        table.move_cursor(row=alice)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen)
        assert "CORP\\alice Interactive" in screen_text(app)

        # Find the scriptlet regsvr32 deep in the tree, then walk up.
        await pilot.press("slash", *"regsvr32", "enter")
        await settle(pilot)
        assert cursor_row(app).name == "regsvr32.exe"
        await pilot.press("p")
        await settle(pilot)
        assert cursor_row(app).name == "powershell.exe"
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AncestorsScreen)
        names = [r.name for r in app.screen.rows.values()]
        assert names == ["winlogon.exe", "userinit.exe", "explorer.exe", "OUTLOOK.EXE",
                         "WINWORD.EXE", "powershell.exe"]
        assert "logon session: CORP\\alice Interactive from 127.0.0.1" in screen_text(app)

        # Details of powershell (the last row, where the cursor sits), then bookmark it.
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        assert "-WindowStyle Hidden -enc" in text  # the full command line, wrapped
        assert app.screen.detail.row.name == "powershell.exe"
        assert [c.name for c in app.screen.detail.chain][:2] == ["WINWORD.EXE", "OUTLOOK.EXE"]
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("tab", "shift+tab")  # the severity list, keyboard only
        app.screen.query_one("#severity").value = "high"
        app.screen.query_one("#note").focus()
        await pilot.press(*"hidden powershell from Word", "enter")
        await settle(pilot)
        (finding,) = list_findings(app.engine)
        assert (finding.severity, finding.note, finding.process_id) == (
            "high", "hidden powershell from Word", app.screen.detail.row.id)
        # The detail reloads and lists the finding.
        assert [f["note"] for f in app.screen.detail.findings] == ["hidden powershell from Word"]

        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")  # default: Markdown, proctrail-findings.md
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#format").value = "json"
        await pilot.pause()
        app.screen.query_one("#path").focus()
        await pilot.press("enter")
        await settle(pilot)

    md = (tmp_path / "proctrail-findings.md").read_text()
    assert "hidden powershell from Word" in md and "[high]" in md
    assert "WINWORD.EXE" in md and "OUTLOOK.EXE" in md  # the ancestor chain
    assert "Logon session: CORP\\\\alice, Interactive" in md
    assert "4688, record" in md and "CommandLine: powershell.exe -NoP" in md
    (record,) = json.loads((tmp_path / "proctrail-findings.json").read_text())
    assert record["process"]["image"].endswith("powershell.exe")
    assert [a["image"].rsplit("\\", 1)[-1] for a in record["ancestors"]] == [
        "WINWORD.EXE", "OUTLOOK.EXE", "explorer.exe", "userinit.exe", "winlogon.exe"]
    assert {(e["channel"], e["event_id"]) for e in record["evidence"]} >= {
        ("Security", 4688), ("Microsoft-Windows-Sysmon/Operational", 1)}
    assert record["session"]["user"] == "CORP\\alice"


async def test_hostile_text_is_shown_literally(case_of, xml_log) -> None:
    ev = xml_log.event
    log = xml_log("hostile.xml", [ev(4688, 1, "2024-05-01T10:00:00Z", {
        "NewProcessId": "0x100", "NewProcessName": r"C:\w\[bold red]pwn[/].exe",
        "ProcessId": "0x4", "SubjectUserName": "[link=http://evil]bob[/link]",
        "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7",
        "CommandLine": "cmd /c &#x1b;[31mRED&#x1b;]0;owned&#x07; [bold red]x[/]"})])
    engine = case_of(log)
    app = ProctrailApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_search("pwn")
        await settle(pilot)
        listing = screen_text(app)
        assert "[bold red]pwn[/].exe" in listing
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        text = screen_text(app)
        svg = app.export_screenshot()
    assert "[bold red]pwn[/].exe" in text and "[link=http://evil]bob[/link]" in text
    assert "\\x1b[31mRED\\x1b]0;owned\\x07 [bold red]x[/]" in text
    assert "\x1b" not in svg and "\x07" not in svg
    assert 'href="http://evil"' not in svg


async def test_opening_with_paths_ingests_with_progress_then_shows_the_case(
        db_url: str) -> None:
    app = ProctrailApp(open_engine(db_url), ingest=[str(LOGS)])
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(50):
            await settle(pilot)
            if isinstance(app.screen, OverviewScreen) and PROCESSES in screen_text(app):
                break
        assert isinstance(app.screen, OverviewScreen)
        assert PROCESSES in screen_text(app)
        # A first look includes the built-in rules' findings and the integrity anomalies.
        from proctrail.store.queries import export_findings
        kinds = {f["kind"] for f in export_findings(app.engine)}
        assert kinds == {"rule", "anomaly", "burst"}  # WS02's five discovery commands


async def test_lazy_tree_expands_collapses_and_jumps_outside_the_session(
        any_demo_url: str) -> None:
    demo_url = any_demo_url
    app = ProctrailApp(open_engine(demo_url))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        alice = next(s for s in __import__("proctrail.store.queries.browse", fromlist=["x"])
                     .session_rows(app.engine) if s.logon_id == "0x5b3f21")
        app.open_tree(session=alice.id)
        await settle(pilot)
        tree = app.screen.query_one(ProcessTree)
        assert len(tree.nodes_by_id) == 1  # only userinit, nothing below it loaded
        await pilot.press("e")
        await settle(pilot)
        # The session on demand, and what it started in another: runas's cmd and mstsc
        # run as itadmin.
        assert len(tree.nodes_by_id) == alice.processes + 2 == 13
        await pilot.press("c")
        await pilot.pause()
        assert not tree.root.children[0].is_expanded
        await pilot.press("p")  # userinit's parent, winlogon, is in no user session
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen) and app.screen.host == "WS01.corp.example"
        assert cursor_row(app).name == "winlogon.exe"


def _at(screen_name: str, size: tuple[int, int]):
    async def run_before(pilot) -> None:
        await settle(pilot)
        app = pilot.app
        if screen_name == "sessions":
            await pilot.press("2")
        elif screen_name in ("tree", "detail"):
            from proctrail.store.queries import browse
            alice = next(s for s in browse.session_rows(app.engine) if s.logon_id == "0x5b3f21")
            app.open_tree(session=alice.id)
            await settle(pilot)
            await pilot.press("slash", *"regsvr32", "enter")
            await settle(pilot)
            if screen_name == "detail":
                await pilot.press("p", "enter")
        await settle(pilot)
        app.clear_notifications()  # toasts time out: keep them out of the pictures
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen_name", ["overview", "sessions", "tree", "detail"])
def test_snapshots(snap_compare, demo_url: str, screen_name: str,
                   size: tuple[int, int]) -> None:
    app = ProctrailApp(open_engine(demo_url))
    assert snap_compare(app, terminal_size=size, run_before=_at(screen_name, size))


async def test_a_wide_level_opens_a_page_at_a_time(case_of, xml_log) -> None:
    ev = xml_log.event
    log = xml_log("wide.xml", [
        ev(4688, i, f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z", {
            "NewProcessId": hex(8 + 4 * i), "NewProcessName": r"C:\w\job.exe",
            "ProcessId": "0x4", "SubjectLogonId": "0x3e7"}) for i in range(1, 2501)])
    engine = case_of(log)
    app = ProctrailApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_tree(host="ws1")
        await settle(pilot)
        tree = app.screen.query_one(ProcessTree)
        (roots,) = tree.root.children  # one group: System (PID 4) is a root of the boot chain
        assert roots.data.key == "started" and roots.is_expanded
        (holder,) = roots.children  # PID 4, known only from its 2,500 children
        assert holder.data.children == 2500
        tree.move_cursor(holder)
        await pilot.pause()
        await pilot.press("l")
        await settle(pilot)
        assert len(holder.children) == 1001  # a page, and the "more" line
        for loaded in (2001, 2500):
            tree.move_cursor(holder.children[-1])
            await pilot.pause()
            await pilot.press("enter")
            await settle(pilot)
            assert len(holder.children) == loaded
        assert len(tree.nodes_by_id) == 2501


async def test_tree_filter_shows_matches_with_their_ancestors(any_demo_url: str) -> None:
    demo_url = any_demo_url
    from proctrail.store.queries import browse

    app = ProctrailApp(open_engine(demo_url))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        alice = next(s for s in browse.session_rows(app.engine) if s.logon_id == "0x5b3f21")
        app.open_tree(session=alice.id)
        await settle(pilot)
        await pilot.press("f", *"image=*\\regsvr32.exe", "enter")
        await settle(pilot)
        tree = app.screen.query_one(ProcessTree)
        shown = sorted(n.data.name for n in tree.nodes_by_id.values())
        assert shown == sorted(["userinit.exe", "explorer.exe", "OUTLOOK.EXE", "WINWORD.EXE",
                                "powershell.exe", "regsvr32.exe"])
        assert cursor_row(app).name == "userinit.exe"
        await pilot.press("f", "ctrl+u", "enter")  # an empty filter: everything again
        await settle(pilot)
        assert len(tree.nodes_by_id) == 1  # back to the lazy tree, root only
        await pilot.press("f", *"flags=user_changed_logon", "enter")  # routine: unmarked,
        await settle(pilot)  # but still a fact a filter finds
        assert [n.data.name for n in tree.nodes_by_id.values()] == ["userinit.exe"]


def otrf_case(samples: Path, tmp_path: Path, *names: str) -> str:
    url = f"sqlite:///{tmp_path / 'otrf.db'}"
    engine = open_engine(url)
    Ingestor(engine).run([str(samples / "otrf" / n) for n in names])
    correlate(engine)
    engine.dispose()
    return url


async def test_a_real_multi_host_case_keeps_its_screens_when_another_host_arrives(
        samples: Path, tmp_path: Path) -> None:
    """NXLog's export of a PowerShell-remoting intrusion over three hosts at 80x24: one
    WORKSTATION6 (its classic PowerShell log says WORKSTATION6, the rest the FQDN), the
    remote shell in the attacker's network logon; then another case's hosts, one sorting
    first, are ingested and correlated: the open detail still shows the same process."""
    url = otrf_case(samples, tmp_path, "empire_psremoting_stager.zip")
    app = ProctrailApp(open_engine(url))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "3 host(s)" in text and "WORKSTATION6 " in text  # a unique short name
        await pilot.press("2")
        await settle(pilot)
        rows = list(app.screen.rows.values())
        assert not any(r.host == "WORKSTATION6" for r in rows)  # one machine, by its FQDN
        remote = next(i for i, r in enumerate(rows) if r.logon_id == "0x2da8840")
        assert rows[remote].user == "THESHIRE.LOCAL\\pgustavo" and rows[remote].processes == 4
        app.screen.query_one("DataTable").move_cursor(row=remote)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen)
        assert "pgustavo Network on WORKSTATION6.theshire.local" in screen_text(app)
        await pilot.press("slash", *"wsmprovhost", "enter")
        await settle(pilot)
        assert cursor_row(app).name == "wsmprovhost.exe"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        shown = app.screen.detail.row
        assert shown.user == "THESHIRE\\pgustavo"  # Sysmon and 4688 name the NetBIOS domain

        engine = open_engine(url)  # a colleague adds another case's hosts, one sorting first
        Ingestor(engine).run([str(samples / "otrf" /
                                   "cmd_dumping_ntds_dit_file_volume_shadow_copy.zip")])
        correlate(engine)
        engine.dispose()
        app.screen.reload()
        await settle(pilot)
        assert app.screen.detail.row == shown
        assert "wsmprovhost.exe" in screen_text(app)


def test_snapshot_of_a_real_case_tree(snap_compare, samples: Path, tmp_path: Path) -> None:
    """The remote shell's session on WORKSTATION6 (OTRF, NXLog), at 80x24."""
    url = otrf_case(samples, tmp_path, "empire_psremoting_stager.zip")

    async def run_before(pilot) -> None:
        from proctrail.store.queries import browse
        await settle(pilot)
        remote = next(s for s in browse.session_rows(pilot.app.engine)
                      if s.logon_id == "0x2da8840")
        pilot.app.open_tree(session=remote.id)
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(ProctrailApp(open_engine(url)), terminal_size=(80, 24),
                        run_before=run_before)


async def test_findings_come_a_page_at_a_time(demo_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """48,677 Sigma findings took the UI 5 s to put in one table: a page at a time, m for
    more, the status says how many of how many."""
    from textual.widgets import DataTable

    from proctrail.store.detect.run import detect

    detect(open_engine(demo_url))
    total = len(list_findings(open_engine(demo_url)))
    assert total > 3
    monkeypatch.setattr(FindingsScreen, "PAGE", 2)
    app = ProctrailApp(open_engine(demo_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        assert f"first 2 of {total} findings · m: more · enter: open" in screen_text(app)
        await pilot.press("m")
        await pilot.pause()
        assert table.row_count == 4
        for _ in range(total):
            await pilot.press("m")
        await pilot.pause()
        assert table.row_count == total and f"{total} finding(s)" in screen_text(app)
