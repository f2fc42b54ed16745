"""The TUI when the case changes under it (a colleague re-correlates) and when ``e`` opens
a big subtree: pages in a worker, stoppable with esc, rows of one generation only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proctrail.app.screens import tree as tree_screen
from proctrail.app.screens.overview import OverviewScreen
from proctrail.app.screens.tree import TreeScreen
from proctrail.app.tui import ProctrailApp
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.queries import browse
from proctrail.widgets.process_tree import ProcessTree
from tests.test_tui import ingested_demo, screen_text, settle

STALE = "re-correlated: r reloads"


@pytest.fixture
def demo(db_url: str) -> str:
    """The demo case, in SQLite and in PostgreSQL."""
    return ingested_demo(db_url)


@pytest.fixture
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProctrailApp, "WATCH_SECONDS", 0.1)


async def test_a_re_correlation_is_announced_and_never_mixed_into_a_screen(
        demo: str, fast_watch: None) -> None:
    app = ProctrailApp(open_engine(demo))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        alice = next(s for s in browse.session_rows(app.engine) if s.logon_id == "0x5b3f21")
        app.open_tree(session=alice.id)
        await settle(pilot)
        tree = app.screen.query_one(ProcessTree)
        assert len(tree.nodes_by_id) == 1 and STALE not in screen_text(app)
        before = app.screen.generation
        assert before == browse.generation(app.engine) >= 1

        correlate(open_engine(demo))  # a colleague, in another process
        await pilot.pause(0.5)
        await settle(pilot)
        assert app.latest_generation == before + 1
        assert STALE in screen_text(app)

        # Opening userinit now would read its children from the new correlation: refused.
        await pilot.press("l")
        await settle(pilot)
        assert len(tree.nodes_by_id) == 1

        await pilot.press("r")
        await settle(pilot)
        tree = app.screen.query_one(ProcessTree)
        assert app.screen.generation == before + 1 and STALE not in screen_text(app)
        await pilot.press("e")
        await settle(pilot)
        assert len(tree.nodes_by_id) == alice.processes + 2

        # The overview below was read before: going back says so, r reads it again.
        app.action_overview()
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert STALE in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert STALE not in screen_text(app)


def _family(xml_log, children: int, grandchildren: int) -> Path:
    """A host where PID 4 started ``children`` processes, each ``grandchildren`` more."""
    ev = xml_log.event
    events, pid, i = [], 100, 0
    for c in range(children):
        parent = pid
        pid += 4
        i += 1
        events.append(ev(4688, i, f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z", {
            "NewProcessId": hex(parent), "NewProcessName": rf"C:\w\child{c}.exe",
            "ProcessId": "0x4", "SubjectLogonId": "0x3e7"}))
        for g in range(grandchildren):
            i += 1
            events.append(ev(4688, i, f"2024-05-01T11:{i // 60 % 60:02d}:{i % 60:02d}Z", {
                "NewProcessId": hex(pid), "NewProcessName": rf"C:\w\grand{g}.exe",
                "ProcessId": hex(parent), "SubjectLogonId": "0x3e7"}))
            pid += 4
    return xml_log("family.xml", events)


async def _host_tree(app: ProctrailApp, pilot) -> ProcessTree:
    await settle(pilot)
    app.open_tree(host="ws1")
    await settle(pilot)
    return app.screen.query_one(ProcessTree)


async def test_expand_all_opens_in_pages_and_esc_stops_it(
        case_of, xml_log, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = case_of(_family(xml_log, 40, 3))
    real = browse.descendant_pages

    def slow(engine, process_id: int) -> Iterator[dict[int, list[browse.ProcRow]]]:
        for page in real(engine, process_id, parents=2):
            time.sleep(0.05)
            yield page

    monkeypatch.setattr(browse, "descendant_pages", slow)
    app = ProctrailApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = await _host_tree(app, pilot)
        assert len(tree.nodes_by_id) == 1  # PID 4, known only from its children
        await pilot.press("e")
        await pilot.pause(0.4)
        screen = app.screen
        assert isinstance(screen, TreeScreen) and "esc stops" in screen.sub_title
        # The UI answers while it runs: the cursor moves.
        await pilot.press("j")
        await pilot.press("escape")
        await settle(pilot)
        opened = len(tree.nodes_by_id)
        assert 1 < opened < 1 + 40 + 120
        assert app.screen is screen and "esc stops" not in screen.sub_title
        await pilot.pause(0.3)
        assert len(tree.nodes_by_id) == opened  # stopped means stopped
        await pilot.press("escape")  # nothing running now: back
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)


async def test_expand_all_runs_to_the_end_or_its_limit(
        case_of, xml_log, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = case_of(_family(xml_log, 40, 3))
    app = ProctrailApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = await _host_tree(app, pilot)
        await pilot.press("e")
        await settle(pilot)
        assert len(tree.nodes_by_id) == 1 + 40 + 120
        assert all(n.is_expanded for n in tree.nodes_by_id.values() if n.children)
        await pilot.press("escape")

        monkeypatch.setattr(tree_screen, "EXPAND_LIMIT", 50)
        tree = await _host_tree(app, pilot)
        await pilot.press("e")
        await settle(pilot)
        assert 50 <= len(tree.nodes_by_id) - 1 < 50 + 200  # stopped at the page it passed
        assert any("stopped after 160 processes" in n.message for n in app._notifications)
