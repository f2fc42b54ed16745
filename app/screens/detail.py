"""One process in full: every field, the whole command line, parent chain, children, its
lifetime on a timeline, user and token changes, what it did, the raw events behind it,
findings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Header, Static

from proctrail.app.redact import Redactor
from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import activity, browse
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.labels import (
    SEVERITY_STYLES,
    expected_flags,
    flag_marks,
    full_time,
    process_line,
    when,
)
from proctrail.widgets.lifetime_bar import LifetimeBar
from proctrail.widgets.safe import safe

ACTIVITY_SHOWN = 50  # what a process did, the first this many in time order

FIELD_ORDER = ("image", "command_line", "cwd", "user", "creator_user", "end_user", "logon_id",
               "integrity", "hashes", "process_guid", "pid", "parent_pid", "parent_image",
               "exit_status")


def _fields_table(d: browse.ProcessDetail) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("host", safe(d.row.host, "bold"))
    table.add_row("start", Text(full_time(d.fields["start_us"])))
    table.add_row("end", Text(full_time(d.fields["end_us"])))
    if d.fields["start_us"] is not None and d.fields["end_us"] is not None:
        from proctrail.store.timefmt import span
        table.add_row("duration", Text(span(d.fields["end_us"] - d.fields["start_us"])))
    for name in FIELD_ORDER:
        value = d.fields.get(name)
        if value not in (None, ""):
            table.add_row(name.replace("_", " "), safe(value, keep_newlines=True))
    if d.row.flags:
        table.add_row("flags", flag_marks(d.row.flags).append(
            "  (" + ", ".join(d.row.flags) + ")", style="dim"))
        expected = expected_flags(d.row.flags)
        if expected:
            table.add_row("", expected)
    return table


def _section(title: str, body: RenderableType) -> Group:
    return Group(Text(title, style="bold underline"), body, Text(""))


def _rows(rows: list[browse.ProcRow], empty: str) -> RenderableType:
    if not rows:
        return Text(empty, style="dim")
    return Group(*(process_line(r) for r in rows))


def _sources(sources: list[dict[str, Any]]) -> RenderableType:
    if not sources:
        return Text("none: a placeholder, known only from its children or from what "
                    "others did to it (Sysmon 8/10)", style="dim")
    parts: list[RenderableType] = []
    for s in sources:
        head = Text.assemble((f"{s['role']:<8}", "bold"), safe(s["channel"]),
                             f" {s['event_id']}  record {s['record_id']}  ",
                             (full_time(s["ts_us"]), "dim"), "\n  ", safe(s["file"], "dim"))
        fields = Table.grid(padding=(0, 2))
        fields.add_column(style="cyan", no_wrap=True)
        fields.add_column(overflow="fold")
        for name, value in s["fields"].items():
            fields.add_row(safe(name), safe(value, keep_newlines=True))
        parts.extend((head, fields, Text("")))
    return Group(*parts)


def _tokens(changes: list[dict[str, Any]]) -> RenderableType:
    if not changes:
        return Text("none recorded", style="dim")
    return Group(*(Text.assemble(full_time(c.get("time_us")), f"  {c.get('event_id')}  ",
                                 safe(c.get("user") or "", "magenta"), "  ",
                                 safe(c.get("detail") or "", "dim")) for c in changes))


def _findings(findings: list[dict[str, Any]]) -> RenderableType:
    if not findings:
        return Text("none: b bookmarks this process", style="dim")
    return Group(*(Text.assemble((f["severity"], SEVERITY_STYLES.get(f["severity"], "")),
                                 "  ", safe(f["note"]),
                                 ("  " + ", ".join(f.get("techniques", [])), "cyan"),
                                 ("  — " + f["author"], "dim"))
                   for f in findings))


def _activity(rows: list[activity.ActivityRow], total: int,
              redactor: Redactor | None) -> RenderableType:
    """What the process did, one line each: time, kind, what (values as logged, printable,
    never markup); an lsass memory access in red; how many more there are."""
    if not rows:
        return Text("nothing recorded: network, DNS, file, registry and process access "
                    "events attach here", style="dim")
    lines: list[RenderableType] = []
    for r in rows:
        what = r.summary()
        if redactor is not None:
            what = redactor(what)
        lines.append(Text.assemble((when(r.ts_us), "dim"), "  ",
                                   (f"{r.label:<8}", "bold red" if r.stands_out else "bold"),
                                   " ", ("← " if r.direction == "in" and r.kind in (
                                       "remote_thread", "process_access") else ""),
                                   safe(what, "red" if r.stands_out else "")))
    if total > len(rows):
        lines.append(Text(f"… and {total - len(rows)} more ('proctrail export table activity' "
                          "has them all)", style="dim"))
    return Group(*lines)


def _redacted(d: browse.ProcessDetail, redactor: Redactor) -> browse.ProcessDetail:
    """The detail with every command line masked (fields and source events)."""
    secret = ("command_line", "CommandLine", "ParentCommandLine")
    fields = {k: redactor(v) if k in secret and isinstance(v, str) else v
              for k, v in d.fields.items()}
    sources = [{**s, "fields": {k: redactor(v) if k in secret else v
                                for k, v in s["fields"].items()}} for s in d.sources]
    return replace(d, fields=fields, sources=sources)


class DetailScreen(CaseScreen):
    """Everything about one lifetime."""

    BINDINGS = [
        Binding("p", "parent", "Parent"),
        Binding("t", "tree", "In tree"),
        Binding("a", "ancestors", "Ancestors"),
        Binding("b", "bookmark", "Bookmark"),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
    ]

    def __init__(self, process_id: int) -> None:
        super().__init__()
        self.process_id = process_id
        self.detail: browse.ProcessDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="head")
        yield LifetimeBar(id="bar")
        with VerticalScroll(id="body"):
            yield Static(id="content")
            yield Static(Text("What it did: loading…", style="dim"), id="activity")
            yield Static(id="sources")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"process {self.process_id}"
        self.reload()

    def reload(self) -> None:
        self.load(browse.process_detail, self.process_id, then=self.show)
        self.load(activity.process_activity, self.process_id, ACTIVITY_SHOWN,
                  then=self.show_activity, group="activity")

    def show_activity(self, found: tuple[list[activity.ActivityRow], int]) -> None:
        rows, total = found
        self.query_one("#activity", Static).update(
            _section(f"What it did ({total})", _activity(rows, total, self.case.redactor)))

    def show(self, d: browse.ProcessDetail | None) -> None:
        redactor = self.case.redactor
        if d is not None and redactor is not None:
            d = _redacted(d, redactor)
        if d is None:
            self.query_one("#head", Static).update(
                Text(f"process {self.process_id} is not in the store (re-correlated?)",
                     style="red"))
            return
        self.detail = d
        self.query_one("#head", Static).update(process_line(d.row, show_host=True))
        span_from = d.session.start_us if d.session else None
        span_to = d.session.end_us if d.session else None
        self.query_one(LifetimeBar).show(span_from if span_from is not None else d.row.start_us,
                                         span_to if span_to is not None else d.row.end_us,
                                         d.row.start_us, d.row.end_us)
        session = Text("no logon session known", style="dim")
        if d.session:
            s = d.session
            session = Text.assemble(safe(s.user, "bold green"), " ", safe(s.logon_type),
                                    " from ", safe(s.source_ip or "-"), f"  {s.logon_id}  ",
                                    (f"{full_time(s.start_us)} → {full_time(s.end_us)}", "dim"))
        chain = Group(*(Text.assemble(("  " * i) + "↑ ", process_line(r))
                        for i, r in enumerate(d.chain))) if d.chain else Text(
            "no parent in the logs", style="dim")
        body = Group(
            _section("Process", _fields_table(d)),
            _section("Command line", safe(d.fields.get("command_line") or "(none)",
                                          keep_newlines=True)),
            _section("Logon session", session),
            _section(f"Parent chain ({len(d.chain)})", chain),
            _section(f"Children ({len(d.children)})", _rows(d.children, "none")),
            _section("Token changes", _tokens(d.token_changes)),
            _section("Findings", _findings(d.findings)),
        )
        self.query_one("#content", Static).update(body)
        capped = sum(s["role"] == "activity" for s in d.sources) >= browse.ACTIVITY_SOURCES
        note = f"; of its activity the first {browse.ACTIVITY_SOURCES}" if capped else ""
        self.query_one("#sources", Static).update(
            _section(f"Source events ({len(d.sources)}{note})", _sources(d.sources)))

    def action_scroll(self, lines: int) -> None:
        self.query_one("#body", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_parent(self) -> None:
        if self.detail is None or not self.detail.chain:
            self.notify("no known parent", timeout=2)
            return
        self.case.open_detail(self.detail.chain[0].id)

    def action_tree(self) -> None:
        if self.detail is not None:
            self.case.show_in_tree(self.detail.row)

    def action_ancestors(self) -> None:
        self.case.open_ancestors(self.process_id)

    def action_bookmark(self) -> None:
        if self.detail is not None:
            row = self.detail.row
            self.case.bookmark("process", row.id, row.title,
                               then=self.reload)
