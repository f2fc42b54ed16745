"""The investigator TUI: ``proctrail`` (or ``proctrail open``) on a case store.

Screens read the store only through :mod:`proctrail.store.queries` in worker threads;
widgets are given plain rows. Keys: 1 overview, 2 sessions, 3 findings, 4 stacking,
/ search, r reload, ? keys, ctrl+p every action, escape back, q quit.

A colleague may re-correlate the case while it is open: the app watches the store's
correlation generation, says so in the header, and ``r`` reads the screen again; a screen
never shows rows of two generations (see :meth:`CaseScreen.load`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from textual.app import App
from textual.binding import Binding

from proctrail.app.commands import ProctrailCommands
from proctrail.app.output.findings import write_findings
from proctrail.app.redact import Redactor
from proctrail.app.screens.base import CaseScreen
from proctrail.app.screens.detail import DetailScreen
from proctrail.app.screens.dialogs import BookmarkDialog, ExportDialog
from proctrail.app.screens.empty import EmptyCaseScreen
from proctrail.app.screens.findings import FindingsScreen
from proctrail.app.screens.lists import (
    AncestorsScreen,
    AnomaliesScreen,
    ProcessListScreen,
    SearchScreen,
)
from proctrail.app.screens.loading import LoadingScreen
from proctrail.app.screens.overview import OverviewScreen
from proctrail.app.screens.sessions import SessionsScreen
from proctrail.app.screens.stacking import StackingScreen
from proctrail.app.screens.tree import TreeScreen
from proctrail.store.detect.config import Config
from proctrail.store.errors import ProctrailError
from proctrail.store.findings import FindingError, add_finding
from proctrail.store.queries.browse import generation
from proctrail.store.queries.filters import Filter
from proctrail.store.text import first_line, printable

if TYPE_CHECKING:
    from proctrail.store.follow import Follower, FollowStep


class ProctrailApp(App[None]):
    """proctrail's investigator."""

    CSS_PATH = "tui.tcss"
    TITLE = "proctrail"
    COMMANDS = App.COMMANDS | {ProctrailCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "toggle_keys", "Keys"),
        Binding("1", "overview", "Overview", show=False),
        Binding("2", "sessions", "Sessions"),
        Binding("3", "findings", "Findings"),
        Binding("4", "stacking", "Stacking", show=False),
        Binding("slash", "search", "Search"),
        Binding("r", "reload", "Reload", show=False),
    ]
    WATCH_SECONDS = 3.0  # how often the store's correlation generation is read

    def __init__(self, engine: Engine, ingest: list[str] | None = None,
                 redactor: Redactor | None = None, config: Config | None = None,
                 follow: bool = False) -> None:
        super().__init__()
        self.engine = engine
        # Keep reading ``ingest`` after loading it: screens refresh themselves as it comes.
        self.follow = follow and bool(ingest)
        self._stop_following = threading.Event()
        self.followed_note = ""
        self.config = config  # the settings logs are read in with (None: ./proctrail.toml)
        self.ingest_paths = list(ingest or [])
        self.redactor = redactor  # masks secrets in command lines shown and exported
        self.latest_generation = 0  # the newest correlation generation seen in the store
        self._told = 0  # the generation the analyst was last notified of

    def on_mount(self) -> None:
        if self.ingest_paths:
            self.push_screen(LoadingScreen(self.ingest_paths))
        else:
            self.push_screen(OverviewScreen())
        self.set_interval(self.WATCH_SECONDS, self._watch)

    # -- the case changing under the app ----------------------------------------------------

    def _watch(self) -> None:
        if isinstance(self.screen, CaseScreen):
            self.run_worker(self._read_generation, thread=True, group="generation",
                            exclusive=True)

    def _read_generation(self) -> None:
        try:
            latest = generation(self.engine)
        except Exception:  # the store went away: the next screen read says so
            return
        self.call_from_thread(self.case_changed, latest)

    def case_changed(self, latest: int) -> None:
        """The store is at correlation generation ``latest``: mark screens behind it (or,
        while following, read them again in place)."""
        self.latest_generation = max(self.latest_generation, latest)
        screen = self.screen
        if self.follow and isinstance(screen, CaseScreen) and screen.generation is not None \
                and screen.generation < latest:
            screen.reread()
            return
        self.show_generation()

    # -- following logs that keep arriving -------------------------------------------------

    def follow_with(self, follower: Follower) -> None:
        """Keep reading in a worker; each step that brings events refreshes the screen."""
        stop = self._stop_following

        def detect() -> object:
            from proctrail.store.detect.run import detect as run_detections

            return run_detections(self.engine, config=self.config)

        def job() -> None:
            follower.run(stop, lambda step: self.call_from_thread(self.followed, step),
                         detect=detect)

        self.title = self.plain_title()
        self.run_worker(job, thread=True, group="follow", exclusive=True)

    def plain_title(self) -> str:
        """The header when the screen is current: while following, what came last."""
        if not self.follow:
            return "proctrail"
        return " · ".join(p for p in ("proctrail", "following", self.followed_note) if p)

    def followed(self, step: FollowStep) -> None:
        """A follow step stored events: say so in the header, refresh the screen."""
        if step.stored:
            self.followed_note = f"+{step.stored:,} events at {time.strftime('%H:%M:%S')}"
            self.title = self.plain_title()
        if step.update is not None:
            self.run_worker(self._read_generation, thread=True, group="generation",
                            exclusive=True)

    def on_unmount(self) -> None:
        self._stop_following.set()  # the worker ends after its step: nothing half-stored

    def show_generation(self) -> None:
        """Say in the header whether the screen shows an older correlation of the case."""
        screen = self.screen
        stale = (isinstance(screen, CaseScreen) and screen.generation is not None
                 and screen.generation < self.latest_generation)
        self.title = "proctrail · case re-correlated: r reloads" if stale else self.plain_title()
        if stale and self._told < self.latest_generation:
            self._told = self.latest_generation
            self.notify("The case was correlated again since this screen was read. "
                        "r reads it again.", title="Case changed", severity="warning",
                        timeout=8)

    def action_reload(self) -> None:
        """``r``: read the screen again from the case as it is now."""
        if isinstance(self.screen, CaseScreen):
            self.screen.reread()

    def loaded(self) -> None:
        """Ingest and correlation are done: show the case."""
        self.switch_screen(OverviewScreen())

    def case_is_empty(self) -> None:
        """The case holds no events: say how to load some instead of a blank overview."""
        if not isinstance(self.screen, EmptyCaseScreen):
            self.switch_screen(EmptyCaseScreen())

    def load_logs(self, paths: list[str]) -> None:
        """Read ``paths`` into the case here, with progress, then show it."""
        self.switch_screen(LoadingScreen(paths))

    def action_toggle_keys(self) -> None:
        """``?``: the key panel, shown or hidden."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    # -- navigation ------------------------------------------------------------------------

    def _open(self, screen: Any) -> None:
        self.push_screen(screen)

    def action_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def action_overview(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if not isinstance(self.screen, OverviewScreen):
            self.switch_screen(OverviewScreen())

    def action_sessions(self) -> None:
        self._open(SessionsScreen())

    def action_findings(self) -> None:
        self._open(FindingsScreen())

    def action_stacking(self) -> None:
        self._open(StackingScreen())

    def action_search(self) -> None:
        self._open(SearchScreen())

    def action_anomalies(self) -> None:
        self.open_anomalies(None)

    def open_tree(self, session: int | None = None, host: str | None = None,
                  focus: int | None = None) -> None:
        self._open(TreeScreen(session=session, host=host, focus=focus))

    def show_in_tree(self, row: Any) -> None:
        """A process in its session's tree (its host's when it has no session)."""
        if row.session_id is not None:
            self.open_tree(session=row.session_id, focus=row.id)
        else:
            self.open_tree(host=row.host, focus=row.id)

    def open_parent(self, row: Any) -> None:
        """``p`` in a list: the parent's details, or why there is none."""
        if row is None or row.parent_id is None:
            self.notify("no known parent: the creator is not in the logs", timeout=3)
        else:
            self.open_detail(row.parent_id)

    def open_detail(self, process_id: int) -> None:
        self._open(DetailScreen(process_id))

    def open_ancestors(self, process_id: int) -> None:
        self._open(AncestorsScreen(process_id))

    def open_anomalies(self, kind: str | None) -> None:
        self._open(AnomaliesScreen(kind))

    def open_search(self, text: str = "", flt: Filter | None = None) -> None:
        self._open(SearchScreen(text, flt))

    def open_list(self, title: str, read: Callable[[Engine], list[Any]]) -> None:
        self._open(ProcessListScreen(title, read))

    def show_error(self, problem: BaseException | str, title: str) -> None:
        """Every error the app shows: one line, log text printable, never markup."""
        line = problem if isinstance(problem, str) else first_line(problem)
        self.notify(printable(line), severity="error", title=title, markup=False, timeout=15)

    # -- findings --------------------------------------------------------------------------

    def bookmark(self, target: str, target_id: int, what: str,
                 then: Callable[[], None] | None = None) -> None:
        """Ask for a note and a severity, then store the finding."""
        def save(answer: tuple[str, str] | None) -> None:
            if answer is None:
                return
            severity, note = answer
            try:
                add_finding(self.engine, target, target_id, note=note, severity=severity)
            except FindingError as exc:
                self.show_error(exc, "Not saved")
                return
            # ``what`` names the process or session in the logs' words: never markup.
            self.notify(printable(f"bookmarked {what}"), title="Finding saved", timeout=3,
                        markup=False)
            if then is not None:
                then()

        self.push_screen(BookmarkDialog(what), save)

    def action_export(self) -> None:
        def export(answer: tuple[str, Path] | None) -> None:
            if answer is None:
                return
            fmt, path = answer
            try:
                n = write_findings(self.engine, fmt, path, self.redactor)
            except OSError as exc:
                self.show_error(f"{path}: {exc.strerror or exc}", "Export failed")
                return
            except ProctrailError as exc:
                self.show_error(exc, "Export failed")
                return
            self.notify(printable(f"wrote {n} finding(s) to {path}"), title="Exported",
                        timeout=5, markup=False)

        self.push_screen(ExportDialog(), export)
