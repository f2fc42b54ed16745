"""The process tree at 80x24: a host's roots in groups (the boot chain first, then
placeholders, then orphans), and a filtered tree that says so for as long as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctrail.app.screens.tree import TreeScreen
from proctrail.app.tui import ProctrailApp
from proctrail.store.db import open_engine
from proctrail.store.queries import browse
from proctrail.widgets.process_tree import Group, ProcessTree
from tests.test_tui import ingested_demo, otrf_case, screen_text, settle


@pytest.fixture
def demo(tmp_path: Path) -> str:
    return ingested_demo(f"sqlite:///{tmp_path / 'demo.db'}")


def top_level(app: ProctrailApp) -> list[tuple[str, int, bool]]:
    tree = app.screen.query_one(ProcessTree)
    return [(n.data.key, n.data.count, n.is_expanded) for n in tree.root.children
            if isinstance(n.data, Group)]


async def test_a_host_tree_opens_on_its_boot_chain(demo: str) -> None:
    """The demo's WS02 logs no boot, but services.exe and winlogon.exe are known from
    their children: they are the roots, not 'placeholders' among others."""
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_tree(host="WS02")
        await settle(pilot)
        assert top_level(app) == [("started", 2, True)]
        tree = app.screen.query_one(ProcessTree)
        names = [n.data.name for n in tree.root.children[0].children]
        assert sorted(names) == ["services.exe", "winlogon.exe"]
        assert "2 roots" in screen_text(app)


async def test_a_real_host_tree_groups_roots_placeholders_and_orphans(
        samples: Path, tmp_path: Path) -> None:
    """OTRF's Pedro01 (an NXLog export that starts mid-log): 117 parentless processes.
    The services.exe that started the services comes first and open (beside winlogon and
    lsass, known from what opened them); the placeholders (creators known from their
    children, targets from Sysmon 10) are counted, closed, and open on enter."""
    url = otrf_case(samples, tmp_path, "cmd_stop_event_logging_controlset001_minint_key.zip")
    app = ProctrailApp(open_engine(url))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_tree(host="pedro01")
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen)
        # Since targets of Sysmon 10 are placeholders (issue: who opened lsass), lsass and
        # winlogon are roots beside services, 110 more svchosts and the like placeholders,
        # and the 8 once seen only by their end were targets first: no orphans.
        assert top_level(app) == [("started", 3, True), ("placeholder", 114, False)]
        text = screen_text(app)
        assert "3 roots  114 placeholders" in text
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        first = next(i for i, line in enumerate(lines) if line.startswith("▼ roots"))
        assert lines[first + 1].startswith("├ ▶ services.exe  596")
        assert lines[first + 4].startswith("▶ placeholders")
        tree = app.screen.query_one(ProcessTree)
        placeholders = tree.root.children[1]
        tree.move_cursor(placeholders)
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert placeholders.is_expanded and len(placeholders.children) == 114
        names = {n.data.name.lower() for n in placeholders.children}
        assert {"svchost.exe", "explorer.exe", "msmpeng.exe"} <= names and len(names) == 33
        # The orphans would be in time order (by their end, the only time they have).
        ends = [r.end_us for r in browse.host_roots(app.engine, "pedro01", group="orphan")]
        assert ends == sorted(ends) and len(ends) == 0


async def test_a_filtered_tree_says_so_while_the_filter_holds(demo: str) -> None:
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        alice = next(s for s in browse.session_rows(app.engine) if s.logon_id == "0x5b3f21")
        app.open_tree(session=alice.id)
        await settle(pilot)
        assert "filtered:" not in screen_text(app)
        await pilot.press("f", *"image=*\\regsvr32.exe", "enter")
        await settle(pilot)
        total = browse.process_count(app.engine, alice.id)
        assert f"filtered: image=*\\regsvr32.exe · 1 of {total}" in screen_text(app)
        app.clear_notifications()
        await pilot.press("down", "down")  # moving about keeps it said
        await settle(pilot)
        assert "filtered: image=*\\regsvr32.exe" in screen_text(app)
        await pilot.press("f", "ctrl+u", "enter")
        await settle(pilot)
        assert "filtered:" not in screen_text(app)


async def test_lists_take_the_same_keys_as_trees(demo: str) -> None:
    """From a search: ``a`` ancestors, ``p`` the parent's details, ``t`` the tree, enter
    the details; Home/End and g/G go to the first and last row; ``/ user=…`` alone is a
    filter with no text; ``?`` shows the keys and hides them again."""
    from proctrail.app.screens.detail import DetailScreen
    from proctrail.app.screens.lists import AncestorsScreen, SearchScreen
    from proctrail.widgets.list_table import ListTable

    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"user=alice image=*regsvr32*", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen) and screen.text == ""
        assert screen.flt.user == "alice" and [r.name for r in screen.rows.values()] == [
            "regsvr32.exe"]
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AncestorsScreen)
        chain = [r.name for r in app.screen.rows.values()]
        assert chain[-2:] == ["powershell.exe", "regsvr32.exe"]
        table = app.screen.query_one(ListTable)
        assert table.cursor_row == len(chain) - 1  # on the process itself
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("G")
        assert table.cursor_row == len(chain) - 1
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.detail.row.name == "powershell.exe"
        await pilot.press("escape", "t")
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen)
        assert app.screen.current().name == "regsvr32.exe"
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


async def test_an_empty_case_says_how_to_load_logs(tmp_path: Path) -> None:
    """``proctrail --db NEW`` opens on what to do, by key or command, and reads a path
    typed there into the case, then shows it."""
    from proctrail.app.screens.empty import EmptyCaseScreen
    from proctrail.app.screens.overview import OverviewScreen

    app = ProctrailApp(open_engine(f"sqlite:///{tmp_path / 'new.db'}"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, EmptyCaseScreen)
        text = screen_text(app)
        assert "proctrail ingest --db CASE PATH" in text and "l Load logs" in text
        await pilot.press("l", *"/no/such/folder", "enter")
        await settle(pilot)
        assert isinstance(app.screen, EmptyCaseScreen)  # said why, stayed
        log = Path(__file__).resolve().parents[1] / "sample_logs" / "lnx01-audit.log"
        app.screen.query_one("#path").value = str(log)
        await pilot.press("enter")
        for _ in range(50):
            await settle(pilot)
            if isinstance(app.screen, OverviewScreen):
                break
        assert isinstance(app.screen, OverviewScreen)
        assert "1 host(s)" in screen_text(app)


async def test_findings_take_the_keys_of_process_lists(demo: str) -> None:
    """On a finding that marks a process, ``a``, ``t`` and ``p`` do what they do in every
    list of processes."""
    from proctrail.app.screens.detail import DetailScreen
    from proctrail.app.screens.findings import FindingsScreen
    from proctrail.app.screens.lists import AncestorsScreen
    from proctrail.store.detect.run import detect

    detect(open_engine(demo))
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FindingsScreen)
        table = screen.query_one("#findings")
        row = next(i for i, r in enumerate(screen.rows.values())
                   if r.image == "regsvr32.exe")
        table.move_cursor(row=row)
        await pilot.pause()
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AncestorsScreen)
        assert list(app.screen.rows.values())[-1].name == "regsvr32.exe"
        await pilot.press("escape", "t")
        await settle(pilot)
        assert isinstance(app.screen, TreeScreen) and app.screen.current().name == \
            "regsvr32.exe"
        await pilot.press("escape", "p")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.detail.row.name == "powershell.exe"


async def test_search_by_a_hosts_short_name_or_a_glob(samples: Path, tmp_path: Path) -> None:
    """OTRF's PowerShell-remoting case names its hosts by FQDN (WORKSTATION6 also by its
    NetBIOS name): '/ host=workstation6' and '/ wsmprovhost host=work*' find them."""
    from proctrail.app.screens.lists import SearchScreen

    url = otrf_case(samples, tmp_path, "empire_psremoting_stager.zip")
    app = ProctrailApp(open_engine(url))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"host=workstation6", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        hosts = {r.host for r in screen.rows.values()}
        # (45 of them placeholders for the targets of Sysmon 10 running since before the log)
        assert hosts == {"WORKSTATION6.theshire.local"} and len(screen.rows) == 51
        query = screen.query_one("#query")
        query.value = "wsmprovhost host=work*"
        query.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert [r.name for r in screen.rows.values()] == ["wsmprovhost.exe"]
        assert "1 process(es)" in screen_text(app)
