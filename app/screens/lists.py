"""Lists of processes (search results, flagged processes, a stack's members, the ancestor
chain) and of integrity anomalies; enter opens a process's details."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import browse
from proctrail.store.queries.filters import Filter, FilterError, split_search
from proctrail.store.text import printable
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.labels import flag_marks, when
from proctrail.widgets.list_table import ListTable
from proctrail.widgets.safe import safe


class ProcessListScreen(CaseScreen):
    """A table of lifetimes loaded by ``read(engine)``."""

    BINDINGS = [
        Binding("t", "tree", "In tree"),
        Binding("a", "ancestors", "Ancestors"),
        Binding("p", "parent", "Parent"),
        Binding("b", "bookmark", "Bookmark"),
    ]

    def __init__(self, title: str, read: Callable[[Any], list[browse.ProcRow]] | None = None
                 ) -> None:
        super().__init__()
        self.heading = title
        self.read = read
        self.rows: dict[str, browse.ProcRow] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield ListTable(id="processes")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = printable(self.heading)  # a title may quote log text
        table = self.query_one(DataTable)
        for label in ("host", "image", "pid", "user", "start", "end", "flags"):
            table.add_column(label, key=label)
        self.start()

    def reload(self) -> None:
        self.start()

    def start(self) -> None:
        """Load the rows (subclasses load theirs)."""
        if self.read is not None:
            self.load(self.read, then=self.show)

    def show(self, rows: list[browse.ProcRow], note: str = "") -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.rows = {}
        for r in rows:
            key = str(r.id)
            if key in self.rows:
                continue
            self.rows[key] = r
            table.add_row(safe(r.host, "dim"), safe(r.name, "bold"), Text(browse.pid_text(r.pid)),
                          safe(r.user, "green"), Text(when(r.start_us)),
                          Text(when(r.end_us) if r.end_us else "…"),
                          flag_marks(r.flags, r.findings), key=key)
        self.query_one("#status", Static).update(
            Text(f"{len(self.rows)} process(es){note} · enter: details  t: tree  "
                 "a: ancestors  p: parent", style="dim"))
        table.focus()

    def current(self) -> browse.ProcRow | None:
        key = self.cursor_key()
        return self.rows.get(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = self.rows.get(str(event.row_key.value))
        if row is not None:
            self.case.open_detail(row.id)

    def action_tree(self) -> None:
        row = self.current()
        if row is not None:
            self.case.show_in_tree(row)

    def action_ancestors(self) -> None:
        row = self.current()
        if row is not None:
            self.case.open_ancestors(row.id)

    def action_parent(self) -> None:
        """``p``: the parent's details, as ``p`` in a process's details."""
        row = self.current()
        if row is not None:
            self.case.open_parent(row)

    def action_bookmark(self) -> None:
        row = self.current()
        if row is not None:
            self.case.bookmark("process", row.id, row.title)


class SearchScreen(ProcessListScreen):
    """``/``: image, command line, user, PID, hash across the case; ``f`` adds a filter."""

    BINDINGS = [Binding("slash", "edit", "New search"), Binding("f", "edit_filter", "Filter")]

    def __init__(self, text: str = "", flt: Filter | None = None) -> None:
        super().__init__("search")
        self.text = text
        self.flt = flt or Filter()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(value=self.text, id="query",
                    placeholder="search image, command line, user, PID, hash, GUID "
                                "(enter); filter with key=value words after ' | '")
        yield Static(id="status")
        yield ListTable(id="processes")
        yield KeyFooter()

    def start(self) -> None:
        if self.text or not self.flt.empty:
            if not self.flt.empty:
                self.query_one("#query", Input).value = f"{self.text} | " + " ".join(
                    self.flt.describe().split())
            self.run_search()
        else:
            self.query_one("#query", Input).focus()

    def run_search(self) -> None:
        self.load(browse.search, self.text, self.flt, 1000, None, self.case.redactor,
                  then=lambda rows: self.show(rows, f" · {self.flt.describe()}"
                                              + (" (first 1000)" if len(rows) >= 1000 else "")))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.text, self.flt = split_search(event.value)
        except FilterError as exc:
            self.case.show_error(exc, "Filter")
            return
        self.run_search()

    def action_edit(self) -> None:
        self.query_one("#query", Input).focus()

    def action_edit_filter(self) -> None:
        query = self.query_one("#query", Input)
        if "|" not in query.value:
            query.value += " | "
        query.focus()
        query.cursor_position = len(query.value)


def _chain_with_session(engine: Any, process_id: int) -> tuple[list[browse.ProcRow],
                                                               browse.SessionRow | None]:
    rows = browse.chain(engine, process_id)
    session = browse.session_row(engine, rows[0].session_id) if rows and rows[0].session_id \
        else None
    return rows, session


class AncestorsScreen(ProcessListScreen):
    """The parent chain of one process, root first, down to it; and its logon session."""

    def __init__(self, process_id: int) -> None:
        super().__init__("ancestors")
        self.process_id = process_id

    def start(self) -> None:
        self.load(_chain_with_session, self.process_id, then=self.show_chain)

    def show_chain(self, found: tuple[list[browse.ProcRow], browse.SessionRow | None]) -> None:
        rows, session = found
        self.show(list(reversed(rows)))
        if session is not None:
            self.query_one("#status", Static).update(Text.assemble(
                ("logon session: ", "dim"), safe(session.user, "bold green"), " ",
                safe(session.logon_type), " from ", safe(session.source_ip or "-"),
                f"  {session.logon_id} on ", safe(session.host),
                (f" · {len(rows)} process(es), root first", "dim")))
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)


class AnomaliesScreen(CaseScreen):
    """Integrity anomalies: gaps in record numbers, cleared logs, clock changes, stops."""

    def __init__(self, kind: str | None = None) -> None:
        super().__init__()
        self.kind = kind

    def compose(self) -> ComposeResult:
        yield Header()
        yield ListTable(id="anomalies")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"integrity: {self.kind or 'all'}"
        table = self.query_one(DataTable)
        for label in ("host", "channel", "kind", "from", "to", "detail"):
            table.add_column(label, key=label)
        self.reload()

    def reload(self) -> None:
        self.load(browse.anomaly_rows, self.kind, then=self.show)

    def show(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for r in rows:
            table.add_row(safe(r["host"]), safe(r["channel"]), Text(r["kind"], style="red"),
                          Text(when(r["start_us"])), Text(when(r["end_us"])),
                          safe(r["detail"]), key=str(r["id"]))
        table.focus()
