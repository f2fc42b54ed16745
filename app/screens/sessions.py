"""Sessions: every logon session in a sortable, filterable table; enter opens its tree."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import browse
from proctrail.store.queries.filters import Filter
from proctrail.widgets.filter_bar import FilterBar
from proctrail.widgets.labels import flag_marks, when
from proctrail.widgets.safe import safe

COLUMNS = (("host", "host"), ("user", "user"), ("type", "logon_type"), ("from", "source_ip"),
           ("start", "start_us"), ("end", "end_us"), ("procs", "processes"),
           ("flags", "flags"))


class SessionsScreen(CaseScreen):
    """Logon sessions across hosts."""

    BINDINGS = [
        Binding("enter", "open", "Tree", show=False),
        Binding("f", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "sort(True)", "Sort reverse", show=False),
        Binding("b", "bookmark", "Bookmark"),
    ]

    def __init__(self, flt: Filter | None = None) -> None:
        super().__init__()
        self.flt = flt or Filter()
        self.rows: dict[str, browse.SessionRow] = {}
        self.sort_index = -1

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="filter")
        yield Static(id="status")
        yield DataTable(id="sessions", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "logon sessions"
        table = self.query_one(DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        self.reload()

    def reload(self) -> None:
        self.load(browse.session_rows, self.flt, then=self.show)

    def show(self, rows: list[browse.SessionRow]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.rows = {str(r.id): r for r in rows}
        for r in rows:
            user = safe(r.user or "?", "green")
            if r.elevated:
                user.append(" ⚡", style="yellow")
            table.add_row(safe(r.host), user, safe(r.logon_type), safe(r.source_ip),
                          Text(when(r.start_us)), Text(when(r.end_us) if r.end_us else "…"),
                          Text(str(r.processes), justify="right"), flag_marks(r.flags),
                          key=str(r.id))
        self.query_one("#status", Static).update(
            Text(f"{len(rows)} session(s) · {self.flt.describe()} · "
                 "enter: tree  f: filter  s: sort", style="dim"))
        table.focus()

    def current(self) -> browse.SessionRow | None:
        key = self.cursor_key()
        return self.rows.get(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        row = self.current()
        if row is not None:
            self.case.open_tree(session=row.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.apply_filter(event.value)

    def action_sort(self, reverse: bool = False) -> None:
        """Sort by the next column (``S``: the same column, reversed)."""
        if not reverse:
            self.sort_index = (self.sort_index + 1) % len(COLUMNS)
        label, key = COLUMNS[max(self.sort_index, 0)]
        numeric = key == "processes"
        self.query_one(DataTable).sort(
            key, key=lambda cell: int(cell.plain) if numeric else cell.plain.lower(),
            reverse=reverse)
        self.notify(f"sorted by {label}{' (reverse)' if reverse else ''}", timeout=2)

    def action_bookmark(self) -> None:
        row = self.current()
        if row is not None:
            self.case.bookmark("session", row.id, f"{row.user} on {row.host}")
