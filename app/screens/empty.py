"""An empty case: what to do to load logs, by key or by command, never a blank overview."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Input, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import browse

HOW = Text.assemble(
    ("This case holds no logs yet.\n\n", "bold"),
    "Type a path below (a file, a folder, a .zip) and press enter to read it here,\n",
    "or, from a shell, while this stays open:\n\n",
    ("  proctrail ingest --db CASE PATH...", "bold"), "\n\n",
    "then press r. proctrail reads EVTX, Windows XML exports, JSON lines (evtx_dump,\n",
    "Winlogbeat, NXLog), Linux auditd and Sysmon for Linux, whatever the file names.",
)


class EmptyCaseScreen(CaseScreen):
    """Says how to load logs into an empty case; ``l`` asks for a path, ``r`` looks again."""

    BINDINGS = [Binding("l", "ask", "Load logs"), Binding("r", "look_again", "Reload")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(HOW, id="summary")
        yield Input(placeholder="path to logs (enter reads them)", id="path")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "empty case"
        self.query_one("#path", Input).focus()

    def action_ask(self) -> None:
        self.query_one("#path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        paths = event.value.split()
        missing = [p for p in paths if not Path(p).expanduser().exists()]
        if not paths:
            return
        if missing:
            self.case.show_error(f"{missing[0]}: no such file or folder", "Not loaded")
            return
        self.case.load_logs([str(Path(p).expanduser()) for p in paths])

    def action_look_again(self) -> None:
        self.load(browse.overview, then=self._looked)

    def _looked(self, o: browse.Overview) -> None:
        if o.events:
            self.case.loaded()
        else:
            self.notify("still no logs in this case", timeout=3)
