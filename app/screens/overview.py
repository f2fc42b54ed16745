"""Overview: what to look at first, then the case at a glance. Sessions; findings by
severity with the few most severe by name (image, host, rule); stacking; integrity
anomalies and process flags; the hosts last (a long list). Each line opens what it counts."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable, Header, Static

from proctrail.app.screens.base import CaseScreen
from proctrail.store.correlate.signal import ROUTINE
from proctrail.store.queries import browse
from proctrail.store.queries.filters import Filter
from proctrail.store.queries.findings import (
    FindingsSummary,
    TopFinding,
    findings_summary,
    short_hosts,
)
from proctrail.store.timefmt import exact, minute, minute_span
from proctrail.widgets.columns import Column, cut, fit_columns
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.labels import FLAG_MARKS, SEVERITY_STYLES
from proctrail.widgets.list_table import ListTable
from proctrail.widgets.safe import safe

TOP = 5  # the most severe findings listed by name
# An anomaly kind counted in words: 2,485 record gaps.
ANOMALY_WORDS = {"record_gap": "record gaps", "log_cleared": "logs cleared",
                 "clock_changed": "clock changes", "audit_stopped": "audit stops",
                 "parent_mismatch": "parent mismatches", "unplaced_event": "unplaced events",
                 "time_offset": "time offsets"}


# The routine flags as the overview says them once (the log is a slice; Windows' own
# account changes), instead of a mark on every process.
ROUTINE_WORDS = {"before_log": "running when their log begins",
                 "after_log": "running when their log ends",
                 "user_changed_service": "services run as a service account",
                 "user_changed_wmi": "WMI hosts run as a service account",
                 "user_changed_logon": "shells started in a user's new logon",
                 "user_changed_broker": "brokers svchost starts for a user"}


def read_overview(engine: Engine) -> tuple[browse.Overview, FindingsSummary]:
    """The overview's two reads, in the worker."""
    return browse.overview(engine), findings_summary(engine, TOP)


def when_year(us: int | None) -> str | None:
    """The year of a time (``2022``), None for None."""
    return None if us is None else minute(us)[:4]


def severity_counts(s: FindingsSummary) -> str:
    """``12 high · 19 medium · 2,555 low``, most severe first."""
    return " · ".join(f"{n:,} {severity}" for severity, n in s.by_severity.items())


class OverviewScreen(CaseScreen):
    """The case at a glance."""

    BINDINGS = [Binding("r", "app.reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, tuple[str, Any]] = {}
        self.data: tuple[browse.Overview, FindingsSummary] | None = None
        self.widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading the case…", id="summary")
        yield ListTable(id="overview", zebra_stripes=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "overview"
        self.reload()

    def reload(self) -> None:
        self.load(read_overview, then=self.show)

    def on_resize(self, event: Resize) -> None:
        if self.data is not None:
            self.show(self.data)

    def show(self, data: tuple[browse.Overview, FindingsSummary]) -> None:
        self.data = data
        o, found = data
        if not o.events and not o.failed_sources and not o.hosts:
            self.case.case_is_empty()  # say how to load logs, not a blank overview
            return
        span = (f"{exact(o.first_us)} → {exact(o.last_us)}"
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

        rows: list[tuple[str, Text, int | str, Text, tuple[str, Any]]] = []

        def line(key: str, what: Text, count: int | str, detail: Text | str,
                 target: tuple[str, Any]) -> None:
            rows.append((key, what, count, detail if isinstance(detail, Text) else Text(detail),
                         target))

        line("sessions", Text("Logon sessions", "bold"), o.sessions, "all hosts, people first",
             ("sessions", None))
        line("findings", Text("Findings", "bold"), found.total,
             severity_counts(found) or "none yet: `proctrail detect` runs the rules",
             ("findings", None))
        for i, top in enumerate(found.top):
            line(f"top:{i}", Text.assemble("  ", safe(top.image or top.kind, _style(top))),
                 top.count, Text.assemble(safe(top.host_short, "dim"), "  ", safe(top.title)),
                 ("finding", top))
        line("stacking", Text("Stacking", "bold"), o.processes, "rare and common images, "
             "command lines, parent → child; starts over time", ("stacking", None))
        for kind, n in o.anomalies.items():
            line(f"anomaly:{kind}", Text(kind, "red"), n,
                 f"integrity of the logs: {ANOMALY_WORDS.get(kind, kind)}", ("anomalies", kind))
        # Flags that matter first; the routine ones (not marked in trees) after, said once.
        for flag, n in sorted(o.flags.items(), key=lambda kv: kv[0] in ROUTINE):
            word = FLAG_MARKS.get(flag, (flag, "yellow"))
            detail = (f"{ROUTINE_WORDS.get(flag, 'routine')} (routine: not marked)"
                      if flag in ROUTINE else f"processes marked {word[0]} in trees")
            line(f"flag:{flag}", Text(flag, word[1]), n, detail, ("flag", flag))
        years = {when_year(h[k]) for h in o.hosts for k in ("first_us", "last_us")} - {None}
        for h in o.hosts:
            # The span first: what is cut at 80 columns is the count of sessions.
            detail = Text(f"{minute_span(h['first_us'], h['last_us'], len(years) > 1)}  "
                          f"{h['events']:,} events  {h['sessions']} sessions")
            if h.get("aliases"):  # the machine's other names in the logs (host=any finds it)
                detail.append("  also ", style="dim")
                detail.append_text(safe(", ".join(h["aliases"])))
            line(f"host:{h['id']}", safe(h["name"], "bold"), h["processes"], detail,
                 ("host", h["name"]))
        self.fill(rows, found)

    def fill(self, rows: list[tuple[str, Text, int | str, Text, tuple[str, Any]]],
             found: FindingsSummary) -> None:
        """Put the lines in the table, the what column as wide as a host's whole name
        allows at this width, the detail in the rest."""
        table = self.query_one(DataTable)
        keep = self.cursor_key()
        room = self.size.width - 2
        longest = min(max([len(what.plain) for _key, what, *_ in rows] + [4]),
                      max(21, room // 4))  # a quarter of the width: the detail is wider
        counts = max([len(f"{count:,}") for _key, _what, count, *_ in rows
                      if isinstance(count, int)] + [5])
        self.widths = fit_columns([Column("what", "what", longest, longest),
                                   Column("count", "count", counts, counts),
                                   Column("detail", "detail", 30, 200)], room)
        short = short_hosts(str(target[1]) for _key, _what, _count, _detail, target in rows
                            if target[0] == "host")
        table.clear(columns=True)
        for key, width in self.widths.items():
            table.add_column(key, key=key, width=width)
        width = self.widths.get("detail", 0)
        self.targets.clear()
        for key, what, count, detail, target in rows:
            if key == "findings" and found.anomalies:
                kind, n = next(iter(found.anomalies.items()))
                more = f" ({n:,} {ANOMALY_WORDS.get(kind, kind + ' anomalies')})"
                if len(detail.plain) + len(more) <= width:
                    detail.append(more, style="dim")
            if target[0] == "host" and len(what.plain) > self.widths["what"]:
                what = safe(cut(short.get(target[1], target[1]), self.widths["what"]), "bold")
            self.targets[key] = target
            table.add_row(what, Text(f"{count:,}" if isinstance(count, int) else count,
                                     justify="right"),
                          detail if len(detail.plain) <= width else
                          detail[:max(width - 1, 0)] + Text("…"), key=key)
        if keep in self.targets:
            table.move_cursor(row=list(self.targets).index(keep))
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
        elif kind == "finding":
            self.open_finding(value)
        elif kind == "stacking":
            self.case.action_stacking()
        elif kind == "host":
            self.case.open_tree(host=value)
        elif kind == "anomalies":
            self.case.open_anomalies(value)
        elif kind == "flag":
            self.case.open_search("", Filter(flags=frozenset({value})))

    def open_finding(self, top: TopFinding) -> None:
        """The process a listed finding marks, else its session, its anomalies, or the
        findings screen."""
        if top.process_id is not None:
            self.case.open_detail(top.process_id)
        elif top.session_id is not None:
            self.case.open_tree(session=top.session_id)
        elif top.kind == "anomaly":
            self.case.open_anomalies(top.title)
        else:
            self.case.action_findings()


def _style(top: TopFinding) -> str:
    return SEVERITY_STYLES.get(top.severity, "bold")

