"""Overview: hosts, time span, counts, integrity anomalies, flags and findings; each line
opens what it counts."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import browse
from proctrail.store.queries.filters import Filter
from proctrail.widgets.labels import FLAG_MARKS, full_time, when
from proctrail.widgets.safe import safe


class OverviewScreen(CaseScreen):
    """The case at a glance."""

    BINDINGS = [Binding("r", "app.reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, tuple[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading the case…", id="summary")
        yield DataTable(id="overview", cursor_type="row", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "overview"
        table = self.query_one(DataTable)
        table.add_column("what", key="what")
        table.add_column("count", key="count")
        table.add_column("detail", key="detail")
        self.reload()

    def reload(self) -> None:
        self.load(browse.overview, then=self.show)

    def show(self, o: browse.Overview) -> None:
        span = (f"{full_time(o.first_us)} → {full_time(o.last_us)}"
                if o.first_us is not None else "no events yet")
        summary = Text.assemble(
            (f"{len(o.hosts)} host(s)", "bold"), f"  {o.events:,} events  ",
            (f"{o.processes:,} processes", "bold"), f"  {o.sessions:,} sessions\n", span)
        if o.uncorrelated:
            summary.append(f"\n{o.uncorrelated:,} event(s) stored since the last correlation "
                           "(another ingest may still be running): `proctrail correlate` "
                           "brings them in", style="yellow")
        if o.failed_sources or o.skipped:
            summary.append(f"\n{o.failed_sources} unreadable file(s), {o.skipped:,} record(s) "
                           "skipped: see `proctrail stats`", style="yellow")
        self.query_one("#summary", Static).update(summary)
        table = self.query_one(DataTable)
        table.clear()
        self.targets.clear()

        def line(key: str, what: Text | str, count: int | str, detail: Text | str,
                 target: tuple[str, Any]) -> None:
            self.targets[key] = target
            table.add_row(what if isinstance(what, Text) else Text(what),
                          Text(f"{count:,}" if isinstance(count, int) else count,
                               justify="right"),
                          detail if isinstance(detail, Text) else Text(detail), key=key)

        line("sessions", Text("Logon sessions", "bold"), o.sessions, "all hosts",
             ("sessions", None))
        line("findings", Text("Findings", "bold"), o.findings, "bookmarks and detections",
             ("findings", None))
        line("stacking", Text("Stacking", "bold"), o.processes, "rare and common images, "
             "command lines, parent → child; starts over time", ("stacking", None))
        for h in o.hosts:
            detail = Text(f"{h['sessions']} sessions  {h['events']:,} events  "
                          f"{when(h['first_us'])} → {when(h['last_us'])}")
            if h.get("aliases"):  # the machine's other names in the logs (host=any finds it)
                detail.append("  also ", style="dim")
                detail.append_text(safe(", ".join(h["aliases"])))
            line(f"host:{h['id']}", Text.assemble(("Host ", "dim"), safe(h["name"], "bold")),
                 h["processes"], detail, ("host", h["name"]))
        for kind, n in o.anomalies.items():
            line(f"anomaly:{kind}", Text.assemble(("Integrity ", "dim"), (kind, "red")), n,
                 "log gaps, cleared logs, clock changes", ("anomalies", kind))
        for flag, n in o.flags.items():
            word = FLAG_MARKS.get(flag, (flag, "yellow"))
            line(f"flag:{flag}", Text.assemble(("Processes ", "dim"), (flag, word[1])), n,
                 f"marked {word[0]} in trees", ("flag", flag))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        target = self.targets.get(str(event.row_key.value))
        if target is None:
            return
        kind, value = target
        if kind == "sessions":
            self.case.action_sessions()
        elif kind == "findings":
            self.case.action_findings()
        elif kind == "stacking":
            self.case.action_stacking()
        elif kind == "host":
            self.case.open_tree(host=value)
        elif kind == "anomalies":
            self.case.open_anomalies(value)
        elif kind == "flag":
            self.case.open_search("", Filter(flags=frozenset({value})))
