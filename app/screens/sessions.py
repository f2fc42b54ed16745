"""Sessions: every logon session, people's logons first, in a table that fits the terminal
(at 80 columns: user, start, type, processes, host, flags); enter opens its tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable, Header, Input, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries.browse import SessionRow
from proctrail.store.queries.filters import Filter
from proctrail.store.queries.sessions import GROUPS, SessionList, ranked_sessions
from proctrail.store.timefmt import exact, minute
from proctrail.widgets.columns import Column, cut, cut_host, cut_user, fit_columns
from proctrail.widgets.filter_bar import FilterBar
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.labels import flag_marks
from proctrail.widgets.list_table import ListTable
from proctrail.widgets.safe import safe

# Logon types as the narrow column shows them (the status line says them in full).
TYPE_WORDS = {"RemoteInteractive": "Remote", "CachedInteractive": "CachedInt",
              "CachedRemoteInteractive": "CachedRem", "CachedUnlock": "CachedUnl",
              "NewCredentials": "NewCreds", "NetworkCleartext": "NetClear",
              "auditd session": "auditd", "systemd user": "systemd", "": "-"}


def _start(r: SessionRow) -> tuple[bool, int]:
    return (r.start_us is None, r.start_us or 0)


def _end(r: SessionRow) -> tuple[bool, int]:
    return (r.end_us is None, r.end_us or 0)


# Sort keys of ``s``, in the order it steps through them (after the default order).
SORTS: dict[str, Callable[[SessionRow], Any]] = {
    "start": _start, "user": lambda r: r.user.lower(), "type": lambda r: r.logon_type,
    "procs": lambda r: r.processes, "host": lambda r: r.host.lower(),
    "flags": lambda r: r.flags, "from": lambda r: r.source_ip, "end": _end,
}


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
        self.rows: dict[str, SessionRow] = {}  # in the table's order
        self.listing = SessionList([])
        self.sort_index = -1  # -1: people first (ranked_sessions' order); else SORTS' index
        self.reverse = False
        self.widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="filter")
        yield Static(id="status")
        yield Static(id="current", classes="current")
        yield ListTable(id="sessions")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "logon sessions"
        self.reload()

    def reload(self) -> None:
        self.load(ranked_sessions, self.flt, then=self.show)

    def show(self, listing: SessionList) -> None:
        self.listing = listing
        self.render_rows()
        self.query_one(DataTable).focus()

    def columns(self) -> list[Column]:
        """The columns in priority order, as wide as this listing needs."""
        rows = self.listing.rows
        hosts = {r.host for r in rows}
        stamp = 11 if self.listing.one_year else 16
        short = [self.listing.hosts.get(h, h) for h in hosts]
        user = max([len(r.user) for r in rows] + [4])
        kind = max([len(TYPE_WORDS.get(r.logon_type, r.logon_type)) for r in rows] + [4])
        cols = [Column("start", "start", stamp, stamp), Column("type", "type", min(kind, 11), kind),
                Column("procs", "procs", 5, 5), Column("user", "user", min(user, 13), user)]
        if len(hosts) > 1:  # one host: the status line names it
            most = max(len(h) for h in short)
            cols.append(Column("host", "host", min(most, 13), most))
        flags = max([len(self._flags(r).plain) + r.elevated for r in rows] + [5])
        ip = max([len(r.source_ip) for r in rows] + [4])
        return [*cols, Column("flags", "flags", min(flags, 7), flags),
                Column("end", "end", stamp, stamp), Column("from", "from", min(ip, 15), ip)]

    def render_rows(self) -> None:
        """Fill the table: the columns that fit the screen, rows in the chosen order."""
        table = self.query_one(DataTable)
        keep = self.cursor_key()
        rows = list(self.listing.rows)
        if self.sort_index >= 0:
            rows.sort(key=list(SORTS.values())[self.sort_index], reverse=self.reverse)
        elif self.reverse:
            rows.reverse()
        self.rows = {str(r.id): r for r in rows}
        order = ("host", "user", "type", "from", "start", "end", "procs", "flags")
        fitted = fit_columns(self.columns(), self.size.width - 2)
        self.widths = {k: fitted[k] for k in order if k in fitted}
        table.clear(columns=True)
        for key, width in self.widths.items():
            table.add_column(key, key=key, width=width)
        year = not self.listing.one_year
        for r in rows:
            cells = {
                "host": safe(cut_host(self.listing.hosts.get(r.host, r.host),
                                      self.widths.get("host", 0))),
                "user": safe(cut_user(r.user or "?", self.widths.get("user", 0)), "green"),
                "type": safe(cut(TYPE_WORDS.get(r.logon_type, r.logon_type),
                                 self.widths.get("type", 0))),
                "from": safe(cut(r.source_ip, self.widths.get("from", 0), middle=True)),
                "start": Text(minute(r.start_us, year)),
                "end": Text(minute(r.end_us, year) if r.end_us else "…"),
                "procs": Text(str(r.processes), justify="right"),
                "flags": self._flags(r),
            }
            table.add_row(*(cells[k] for k in self.widths), key=str(r.id))
        if keep in self.rows:
            table.move_cursor(row=list(self.rows).index(keep))
        self.show_status()
        self.show_current()

    @staticmethod
    def _flags(r: SessionRow) -> Text:
        """``⚡`` for an elevated token (4672), then the session's flags."""
        marks = flag_marks(r.flags)
        return Text.assemble(("⚡", "yellow"), marks) if r.elevated else marks[1:]

    def show_status(self) -> None:
        hosts = {r.host for r in self.listing.rows}
        where = f" on {next(iter(hosts))}" if len(hosts) == 1 else ""
        order = ("people first" if self.sort_index < 0 else
                 f"by {list(SORTS)[self.sort_index]}") + (" reversed" if self.reverse else "")
        self.query_one("#status", Static).update(Text.assemble(
            (f"{len(self.listing.rows):,} session(s)", "bold"), safe(where),
            f" · {self.flt.describe()} · {order} · enter: tree  f: filter  s: sort",
            style="dim"))

    def show_current(self) -> None:
        """The highlighted session in full on the line above the table."""
        row = self.current()
        text = Text()
        if row is not None:
            text = Text.assemble(safe(row.user or "?", "green"), " ",
                                 safe(row.logon_type or "(no logon event)"), " on ",
                                 safe(row.host, "bold"))
            if row.source_ip:
                text.append(" from ")
                text.append_text(safe(row.source_ip))
            text.append(f" · {exact(row.start_us, '?')}", style="dim")
            text.append(f" · {GROUPS[self.listing.groups.get(row.id, 2)]}", style="dim")
        self.query_one("#current", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_current()

    def on_resize(self, event: Resize) -> None:
        if self.listing.rows and fit_columns(self.columns(), self.size.width - 2).keys() \
                != self.widths.keys():
            self.render_rows()

    def current(self) -> SessionRow | None:
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
        """Sort by the next column, after people first (``S``: the same order, reversed)."""
        if reverse:
            self.reverse = not self.reverse
        else:
            self.reverse = False
            self.sort_index = (self.sort_index + 2) % (len(SORTS) + 1) - 1
        self.render_rows()
        label = "people first" if self.sort_index < 0 else list(SORTS)[self.sort_index]
        self.notify(f"sorted: {label}{' (reversed)' if self.reverse else ''}", timeout=2)

    def action_bookmark(self) -> None:
        row = self.current()
        if row is not None:
            self.case.bookmark("session", row.id, f"{row.user} on {row.host}")
