"""Findings: what the analyst bookmarked (and, later, what detections found); export them."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.findings import delete_finding
from proctrail.store.queries.findings import FindingRow, list_findings
from proctrail.widgets.labels import SEVERITY_STYLES
from proctrail.widgets.safe import safe


class FindingsScreen(CaseScreen):
    """Every finding, most severe first."""

    BINDINGS = [
        Binding("x", "export", "Export"),
        Binding("d", "delete", "Delete"),
        Binding("m", "more", "More"),
        Binding("r", "app.reload", "Reload"),
    ]

    PAGE = 2000  # rows put in the table at once: 48,677 took the UI 5 s

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, FindingRow] = {}
        self.all: list[FindingRow] = []
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield DataTable(id="findings", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "findings"
        table = self.query_one(DataTable)
        for label in ("severity", "kind", "on", "host", "note", "by"):
            table.add_column(label, key=label)
        self.reload()

    def reload(self) -> None:
        self.load(list_findings, then=self.show)

    def show(self, rows: list[FindingRow]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.all, self.shown, self.rows = rows, 0, {}
        self.add_page()
        table.focus()

    def action_more(self) -> None:
        if self.shown < len(self.all):
            self.add_page()

    def add_page(self) -> None:
        """The next :data:`PAGE` findings (most severe first) into the table."""
        table = self.query_one(DataTable)
        page = self.all[self.shown:self.shown + self.PAGE]
        self.shown += len(page)
        for r in page:
            self.rows[str(r.id)] = r
            target = (f"process {r.process_id}" if r.process_id is not None
                      else f"session {r.session_id}" if r.session_id is not None
                      else "the log" if r.target == "log" else f"{r.target} (gone)")
            table.add_row(Text(r.severity, style=SEVERITY_STYLES.get(r.severity, "")),
                          Text(r.kind), Text(target), safe(r.host), safe(r.note),
                          safe(r.author or r.source),
                          key=str(r.id))
        total = len(self.all)
        shown = (f"{total:,} finding(s)" if self.shown >= total else
                 f"first {self.shown:,} of {total:,} findings · m: more")  # fits 80 columns
        self.query_one("#status", Static).update(Text(
            f"{shown} · enter: open  x: export  d: delete", style="dim"))

    def current(self) -> FindingRow | None:
        key = self.cursor_key()
        return self.rows.get(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = self.rows.get(str(event.row_key.value))
        if row is None:
            return
        if row.process_id is not None:
            self.case.open_detail(row.process_id)
        elif row.session_id is not None:
            self.case.open_tree(session=row.session_id)
        else:
            self.notify("what this finding marked is no longer in the store", timeout=3)

    def action_delete(self) -> None:
        row = self.current()
        if row is not None:
            self.load(delete_finding, row.id, then=lambda _ok: self.reload(),
                      group="write")

    def action_export(self) -> None:
        self.case.action_export()
