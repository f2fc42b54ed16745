"""Stacking: the rarest (or commonest) images, command lines and parent → child pairs across
hosts and users, destinations processes connected to or resolved, files written by rare
parent → child pairs, and process starts over time per host; a row opens its processes."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Label, Sparkline, TabbedContent, TabPane

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import activity, browse
from proctrail.widgets.columns import cut
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.list_table import ListTable
from proctrail.widgets.safe import safe

_EXE = re.compile(r"\.exe(?= →|$)")


class StackingScreen(CaseScreen):
    """The long-tail hunt."""

    BINDINGS = [Binding("v", "reverse", "Rare/common")]

    def __init__(self) -> None:
        super().__init__()
        self.rarest = True
        self.values: dict[str, dict[str, str]] = {}
        self.files: dict[str, dict[str, Any]] = {}  # files written: the rows by key

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="stacks"):
            for what, title in browse.STACKS.items():
                with TabPane(title, id=f"tab-{what}"):
                    yield ListTable(id=f"stack-{what}")
            with TabPane("destinations", id="tab-dest"):
                yield ListTable(id="stack-dest")
            with TabPane("files written", id="tab-files"):
                yield ListTable(id="stack-files")
            with TabPane("starts over time", id="tab-time"):
                yield Vertical(id="sparks")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "stacking (rarest first)"
        for what in browse.STACKS:
            table = self.query_one(f"#stack-{what}", DataTable)
            for label in ("count", "hosts", "users", "value"):
                table.add_column(label, key=label)
        dest = self.query_one("#stack-dest", DataTable)
        for label in ("count", "procs", "hosts", "destination"):
            dest.add_column(label, key=label)
        files = self.query_one("#stack-files", DataTable)
        for label in ("pair", "file", "procs", "hosts", "parent → child", "file written"):
            files.add_column(label, key=label)
        self.reload()
        self.load(browse.starts_over_time, then=self.show_time, group="time")

    def reload(self) -> None:
        for what in browse.STACKS:
            self.load(browse.stack, what, None, self.rarest,
                      then=lambda rows, w=what: self.show(w, rows), group=f"stack-{what}")
        self.load(activity.stack_destinations, self.rarest, then=self.show_destinations,
                  group="stack-dest")
        self.load(activity.stack_written_files, self.rarest, then=self.show_files,
                  group="stack-files")

    def show_destinations(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#stack-dest", DataTable)
        table.clear()
        self.values["dest"] = {}
        room = max(20, self.size.width - 28)
        for i, r in enumerate(rows):
            key = f"dest:{i}"
            self.values["dest"][key] = r["value"]
            table.add_row(*(Text(str(r[k]), justify="right")
                            for k in ("count", "processes", "hosts")),
                          safe(cut(r["value"], room, middle=True)), key=key)

    def show_files(self, rows: list[dict[str, Any]]) -> None:
        """Files written, by the writer's parent → child pair: the pair's lifetimes in the
        case, the file's writers, this row's processes and machines, the pair, the file."""
        table = self.query_one("#stack-files", DataTable)
        table.clear()
        self.values["files"] = {}
        self.files = {}
        room = max(40, self.size.width - 30)
        narrow = room < 70  # ".exe" left out of the pairs, the rest cut in the middle
        pairs = [_EXE.sub("", r["pair"]) if narrow else r["pair"] for r in rows]
        width = min(room // 2, max((len(p) for p in pairs), default=0))
        for i, (r, pair) in enumerate(zip(rows, pairs, strict=True)):
            key = f"files:{i}"
            self.values["files"][key] = f"{r['pair']}: {r['path']}"
            self.files[key] = r
            table.add_row(*(Text(str(r[k]), justify="right")
                            for k in ("pair_count", "file_count", "processes", "hosts")),
                          safe(cut(pair, width, middle=True)),
                          safe(cut(r["path"], room - width, middle=True)), key=key)

    def show(self, what: str, rows: list[dict[str, Any]]) -> None:
        table = self.query_one(f"#stack-{what}", DataTable)
        table.clear()
        self.values[what] = {}
        # A path or command line cut in the middle: its file name and its end stay in view.
        room = max(20, self.size.width - 28)
        for i, r in enumerate(rows):
            key = f"{what}:{i}"
            self.values[what][key] = r["value"]
            table.add_row(Text(str(r["count"]), justify="right"),
                          Text(str(r["hosts"]), justify="right"),
                          Text(str(r["users"]), justify="right"),
                          safe(cut(r["value"] or "(none)", room, middle=True)),
                          key=key)

    def show_time(self, series: dict[str, list[int]]) -> None:
        box = self.query_one("#sparks", Vertical)
        if not series:
            box.mount(Label("no process starts"))
        for host, counts in series.items():
            box.mount(Label(Text.assemble(safe(host, "bold"),
                                          (f"  {sum(counts)} starts, peak {max(counts)}",
                                           "dim"))))
            box.mount(Sparkline(counts, summary_function=max))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        what = (event.data_table.id or "").removeprefix("stack-")
        value = self.values.get(what, {}).get(str(event.row_key.value))
        if value is None:
            return
        if what == "dest":
            self.case.open_list(f"destination: {value[:60]}",
                                lambda engine: _destination_rows(engine, value))
            return
        if what == "files":
            row = self.files[str(event.row_key.value)]
            ids = row["process_ids"]
            self.case.open_list(f"wrote {cut(row['path'], 44, middle=True)} ({row['pair']})",
                                lambda engine: _process_rows(engine, ids))
            return
        self.case.open_list(f"{browse.STACKS[what]}: {value[:60]}",
                            lambda engine: browse.stack_members(engine, what, value))

    def action_reverse(self) -> None:
        self.rarest = not self.rarest
        self.sub_title = f"stacking ({'rarest' if self.rarest else 'commonest'} first)"
        self.reload()


def _destination_rows(engine: Any, value: str) -> list[browse.ProcRow]:
    """The processes that reached one destination (read in the list's worker)."""
    return _process_rows(engine, activity.destination_process_ids(engine, value))


def _process_rows(engine: Any, ids: list[int]) -> list[browse.ProcRow]:
    """Processes by id as list rows (read in the list's worker)."""
    rows = (browse.proc_row(engine, i) for i in ids)
    return [r for r in rows if r is not None]
