"""Findings: detections, integrity anomalies and bookmarks, most severe first, in a table
that fits the terminal (at 80 columns: severity, image, host, rule or note; wider, the
ATT&CK technique); delete with a question and undo, export them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable, Header, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.app.screens.dialogs import ConfirmDialog
from proctrail.store.findings import restore_finding, take_finding
from proctrail.store.queries import browse
from proctrail.store.queries.findings import FindingRow, ranked_findings
from proctrail.store.timefmt import exact, minute
from proctrail.widgets.columns import Column, cut, cut_host, fit_columns
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.labels import SEVERITY_STYLES
from proctrail.widgets.list_table import ListTable
from proctrail.widgets.safe import safe

ORDER = ("severity", "on", "host", "rule", "technique", "kind", "when", "by")  # left to right


class FindingsScreen(CaseScreen):
    """Every finding, most severe first; detections before anomalies; then in time order."""

    BINDINGS = [
        Binding("t", "tree", "In tree", show=False),
        Binding("a", "ancestors", "Ancestors", show=False),
        Binding("p", "parent", "Parent", show=False),
        Binding("x", "export", "Export"),
        Binding("d", "delete", "Delete"),
        Binding("u", "undo", "Undo"),
        Binding("m", "more", "More"),
        Binding("r", "app.reload", "Reload"),
    ]

    PAGE = 2000  # rows put in the table at once: 48,677 took the UI 5 s

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, FindingRow] = {}
        self.all: list[FindingRow] = []
        self.shown = 0
        self.widths: dict[str, int] = {}
        self.deleted: list[dict[str, Any]] = []  # rows as stored, the last deleted last
        self.keep_row = 0  # where the cursor goes once the table is read again

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield Static(id="current", classes="current")
        yield ListTable(id="findings")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "findings"
        self.reload()

    def reload(self) -> None:
        self.load(ranked_findings, then=self.show)

    def columns(self) -> list[Column]:
        """The columns in priority order, as wide as the findings need."""
        rows = self.all[:self.PAGE]
        on = max([len(r.marks) for r in rows] + [2])
        host = max([len(r.host_short) for r in rows] + [4])
        first = max([len(r.host_short.split(".", 1)[0]) for r in rows] + [4])
        note = max([len(r.note) for r in rows] + [4])
        technique = max([len(r.techniques[0]) for r in rows if r.techniques] + [9])
        return [Column("severity", "severity", 8, 8), Column("on", "on", min(on, 12), on),
                Column("rule", "rule or note", min(note, 34), note),
                Column("host", "host", min(first, 12), host),
                Column("when", "when", 16, 16),
                Column("technique", "technique", technique, technique + 3),
                Column("kind", "kind", 7, 8),
                Column("by", "by", 8, 16)]

    def show(self, rows: list[FindingRow]) -> None:
        table = self.query_one(DataTable)
        self.all, self.shown, self.rows = rows, 0, {}
        fitted = fit_columns(self.columns(), self.size.width - 2)
        self.widths = {k: fitted[k] for k in ORDER if k in fitted}
        table.clear(columns=True)
        for key, width in self.widths.items():
            table.add_column("rule or note" if key == "rule" else key, key=key, width=width)
        self.add_page()
        while self.shown < min(self.keep_row + 1, len(self.all)):
            self.add_page()
        if table.row_count:
            table.move_cursor(row=min(self.keep_row, table.row_count - 1))
        table.focus()
        self.show_current()

    def on_resize(self, event: Resize) -> None:
        if self.all and fit_columns(self.columns(), self.size.width - 2).keys() \
                != self.widths.keys():
            self.keep_row = self.query_one(DataTable).cursor_row
            self.show(self.all)

    def action_more(self) -> None:
        if self.shown < len(self.all):
            self.add_page()

    def add_page(self) -> None:
        """The next :data:`PAGE` findings into the table."""
        table = self.query_one(DataTable)
        page = self.all[self.shown:self.shown + self.PAGE]
        self.shown += len(page)
        w = self.widths
        for r in page:
            self.rows[str(r.id)] = r
            gone = r.target in ("process", "session") and r.process_id is None \
                and r.session_id is None
            cells = {
                "severity": Text(r.severity, style=SEVERITY_STYLES.get(r.severity, "")),
                "on": safe(cut(r.marks, w.get("on", 0)), "dim" if gone else "bold"),
                "host": safe(cut_host(r.host_short, w.get("host", 0))),
                "rule": safe(cut(r.note or r.title, w.get("rule", 0))),
                "technique": Text(cut(_technique_cell(r), w.get("technique", 0))),
                "kind": Text(r.kind, style="dim"),
                "when": Text(minute(r.time_us)),
                "by": safe(cut(r.author or r.source, w.get("by", 0))),
            }
            table.add_row(*(cells[k] for k in w), key=str(r.id))
        self.show_status()

    def show_status(self) -> None:
        total = len(self.all)
        shown = (f"{total:,} finding(s)" if self.shown >= total else
                 f"first {self.shown:,} of {total:,} findings · m: more")  # fits 80 columns
        undo = "  u: undo" if self.deleted else ""
        self.query_one("#status", Static).update(Text(
            f"{shown} · enter: open  x: export  d: delete{undo}", style="dim"))

    def show_current(self) -> None:
        """The highlighted finding in full on the line above the table."""
        r = self.current()
        text = Text()
        if r is not None:
            text = Text.assemble(safe(r.note or r.title), " · ")
            if r.technique:  # before the host: a line of 80 columns keeps it
                text.append_text(Text.assemble(safe(r.technique, "cyan"), " · "))
            text.append_text(Text.assemble(safe(r.host, "bold"),
                                           (f" · {exact(r.time_us, '?')}", "dim")))
            if r.target in ("process", "session") and r.process_id is None \
                    and r.session_id is None:
                text.append(f" · the {r.target} is no longer in the store", style="yellow")
        self.query_one("#current", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_current()

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
        elif row.target == "log":
            self.case.open_anomalies(row.rule_id or None)
        else:
            self.notify("what this finding marked is no longer in the store", timeout=3)

    # The keys every list of processes takes, for findings that mark a process.

    def _process(self) -> int | None:
        row = self.current()
        if row is None or row.process_id is None:
            self.notify("this finding marks no process", timeout=2)
            return None
        return row.process_id

    def action_ancestors(self) -> None:
        process = self._process()
        if process is not None:
            self.case.open_ancestors(process)

    def action_tree(self) -> None:
        process = self._process()
        if process is not None:
            self.load(browse.proc_row, process, then=self._in_tree, group="goto")

    def _in_tree(self, row: browse.ProcRow | None) -> None:
        if row is not None:
            self.case.show_in_tree(row)

    def action_parent(self) -> None:
        process = self._process()
        if process is not None:
            self.load(browse.proc_row, process, then=self.case.open_parent, group="goto")

    def action_delete(self) -> None:
        """Ask, then delete the highlighted finding (``u`` puts it back)."""
        row = self.current()
        if row is None:
            return
        question = Text.assemble("Delete finding: ", safe(row.title, "bold"), " on ",
                                 safe(row.marks, "bold"), "? y/n")

        def answered(yes: bool | None) -> None:
            if yes:
                self.keep_row = self.query_one(DataTable).cursor_row
                self.load(take_finding, row.id, then=self.deleted_one, group="write")

        self.app.push_screen(ConfirmDialog(question), answered)

    def deleted_one(self, taken: dict[str, Any] | None) -> None:
        if taken is not None:
            self.deleted.append(taken)
            self.notify("finding deleted · u: undo", timeout=3)
        self.reload()

    def action_undo(self) -> None:
        """Put back the finding deleted last, as it was."""
        if not self.deleted:
            self.notify("nothing deleted to put back", timeout=2)
            return
        taken = self.deleted.pop()

        def restored(finding_id: int) -> None:
            self.notify(f"finding {finding_id} restored", timeout=3)
            self.reload()

        self.load(restore_finding, taken, then=restored, group="write")

    def action_export(self) -> None:
        self.case.action_export()


def _technique_cell(row: FindingRow) -> str:
    """``T1059.001`` or ``T1059.001+2`` (its first technique, how many more)."""
    ids = row.techniques
    return ids[0] + (f"+{len(ids) - 1}" if len(ids) > 1 else "") if ids else ""
