"""An empty case: what to do to load logs, by key or by command, never a blank overview."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Header, Input, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import browse
from proctrail.widgets.key_footer import KeyFooter

HOW = Text.assemble(
    ("This case holds no logs yet.\n\n", "bold"),
    "Press l, type a path (a file, a folder, a .zip) and enter to read it here,\n",
    "or, from a shell, while this stays open:\n\n",
    ("  proctrail ingest --db CASE PATH...", "bold"), "\n\n",
    "then press r. proctrail reads EVTX, Windows XML exports, JSON lines\n",
    "(evtx_dump, Winlogbeat, NXLog), Linux auditd and Sysmon for Linux,\n",
    "whatever the file names.",
)


class EmptyCaseScreen(CaseScreen):
    """Says how to load logs into an empty case; ``l`` asks for a path, ``r`` looks again."""

    BINDINGS = [Binding("l", "ask", "Load logs"), Binding("r", "look_again", "Reload")]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):  # focusable: the screen's keys are live and shown
            yield Static(HOW, id="summary")
        path = Input(placeholder="path to logs (enter reads them)", id="path")
        path.display = False  # until l: keys are commands, not typing
        yield path
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "empty case"
        self.query_one("#body").focus()

    def action_ask(self) -> None:
        """``l``: ask for a path."""
        path = self.query_one("#path", Input)
        path.display = True
        path.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        paths = event.value.split()
        missing = [p for p in paths if not Path(p).expanduser().exists()]
        if not paths:
            return
        if missing:
            self.case.show_error(f"{missing[0]}: no such file or folder", "Not loaded")
            return
        event.input.display = False
        self.case.load_logs([str(Path(p).expanduser()) for p in paths])

    def action_look_again(self) -> None:
        self.load(browse.overview, then=self._looked)

    def _looked(self, o: browse.Overview) -> None:
        if o.events:
            self.case.loaded()
        else:
            self.notify("still no logs in this case", timeout=3)
