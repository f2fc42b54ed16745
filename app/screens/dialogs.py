"""Small modal dialogs: bookmark with a note and a severity; export findings to a file;
confirm with y or n."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select

from proctrail.store.findings import SEVERITIES
from proctrail.widgets.safe import safe

EXPORT_FORMATS = (("Markdown", "md"), ("JSON", "json"), ("CSV", "csv"))


class BookmarkDialog(ModalScreen[tuple[str, str] | None]):
    """Note and severity for a new finding; enter saves, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text.assemble("Bookmark ", safe(self.what, "bold")))
            yield Select([(s, s) for s in SEVERITIES], value="medium", allow_blank=False,
                         id="severity")
            yield Input(placeholder="note (enter saves, escape cancels)", id="note")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss((str(self.query_one("#severity", Select).value), event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportDialog(ModalScreen[tuple[str, Path] | None]):
    """Format and file name for the findings export."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export findings, each with its ancestor chain and raw evidence")
            yield Select(EXPORT_FORMATS, value="md", allow_blank=False, id="format")
            yield Input(value="proctrail-findings.md", id="path")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#path", Input)
        stem = Path(path.value or "proctrail-findings").with_suffix("")
        path.value = f"{stem}.{event.value}"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.notify("give a file name", severity="error")
            return
        self.dismiss((str(self.query_one("#format", Select).value),
                      Path(event.value.strip()).expanduser()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes-or-no question: ``y`` answers True; ``n``, escape (or a click away) False."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: Text) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            yield Label(Text("y: yes   n: no", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
