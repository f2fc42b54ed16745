"""The process tree of a logon session (or of a host), lazily expanded, walked by keyboard."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Input, Static
from textual.worker import Worker

from proctrail.app.screens.base import CaseScreen
from proctrail.store.queries import browse
from proctrail.store.queries.filters import Filter
from proctrail.store.text import printable
from proctrail.widgets.filter_bar import FilterBar
from proctrail.widgets.key_footer import KeyFooter
from proctrail.widgets.labels import lifetime
from proctrail.widgets.process_tree import PAGE, Group, More, ProcessTree
from proctrail.widgets.safe import safe

EXPAND_LIMIT = 20_000  # rows ``e`` opens at most; more would be unreadable, not faster


def _host_groups(engine: Any, host: str) -> list[tuple[Group, list[browse.ProcRow]]]:
    """A host's top level: each group of roots with its first page."""
    return [(Group(g.key, g.title, g.count),
             browse.host_roots(engine, host, None, 0, PAGE + 1, g.key))
            for g in browse.host_root_groups(engine, host)]


def _filtered(engine: Any, flt: Filter, session: int | None, host: str | None
              ) -> tuple[dict[int | None, list[browse.ProcRow]], int, int]:
    """The filtered forest, how many matched, and how many the tree holds in all."""
    forest, matched = browse.filtered_forest(engine, flt, session, host)
    return forest, matched, browse.process_count(engine, session, host)


def _path_to(engine: Any, process_id: int) -> tuple[list[browse.ProcRow],
                                                    dict[int, list[browse.ProcRow]]]:
    path = browse.chain(engine, process_id)
    return path, {anc.id: browse.children(engine, anc.id, 0, PAGE + 1) for anc in path[1:]}


class TreeScreen(CaseScreen):
    """Lifetimes of one session (roots: processes whose parent is outside it) or one host."""

    BINDINGS = [
        Binding("enter", "details", "Details", show=False),
        Binding("p", "parent", "Parent"),
        Binding("a", "ancestors", "Ancestors"),
        Binding("e", "expand_all", "Expand"),
        Binding("c", "collapse_all", "Collapse", show=False),
        Binding("slash", "find", "Find in tree"),
        Binding("n", "next_hit", "Next hit", show=False),
        Binding("N", "next_hit(-1)", "Prev hit", show=False),
        Binding("f", "filter", "Filter"),
        Binding("b", "bookmark", "Bookmark"),
        Binding("escape", "stop_or_back", "Back", show=False),
    ]

    def __init__(self, session: int | None = None, host: str | None = None,
                 focus: int | None = None) -> None:
        super().__init__()
        self.session = session
        self.host = host
        self.focus_id = focus
        self.flt = Filter()
        self.hits: list[browse.ProcRow] = []
        self.hit = -1
        self.expanding: Worker[None] | None = None
        self.expanded = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(id="filter")
        yield Input(placeholder="find in this tree: image, command line, user, PID, hash",
                    id="find")
        yield Static(id="status")
        yield Static(id="filtered")
        yield ProcessTree(id="tree")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#find", Input).display = False
        self.query_one("#filtered", Static).display = False
        self._subtitle = (f"session {self.session}" if self.session is not None
                          else f"host {printable(self.host)}")
        self.sub_title = self._subtitle
        self.reload()

    def reload(self) -> None:
        if self.session is not None:
            self.load(browse.session_row, self.session, then=self.show_session, group="head")
        self.query_one("#filtered", Static).display = not self.flt.empty
        if self.flt.empty and self.session is None:
            self.load(_host_groups, self.host or "", then=self.show_groups)
        elif self.flt.empty:
            self.load(self.roots, 0, then=self.show_roots)
        else:
            self.load(_filtered, self.flt, self.session, self.host, then=self.show_forest)

    def show_forest(self, found: tuple[dict[int | None, list[browse.ProcRow]], int, int]
                    ) -> None:
        forest, matched, total = found
        tree = self.query_one(ProcessTree)
        tree.set_forest(forest)
        # Said for as long as the filter holds: a filtered tree never passes for the whole.
        self.query_one("#filtered", Static).update(Text.assemble(
            ("filtered: ", "bold yellow"), safe(self.flt.describe(), "yellow"),
            (f" · {matched:,} of {total:,}", "yellow"),
            ("  (with their ancestors; f, then an empty filter, shows all)", "dim")))
        tree.focus()

    def roots(self, engine: Any, offset: int, group: str | None = None
              ) -> list[browse.ProcRow]:
        """A page of this tree's top-level rows (one more than a page: there are more)."""
        if self.session is not None:
            return browse.session_roots(engine, self.session, self.flt, offset, PAGE + 1)
        return browse.host_roots(engine, self.host or "", self.flt, offset, PAGE + 1, group)

    def show_groups(self, groups: list[tuple[Group, list[browse.ProcRow]]]) -> None:
        """A host's top level in groups: the boot chain and logged starts first, then
        placeholders, then orphans; the first group open, the others counted."""
        tree = self.query_one(ProcessTree)
        opened = {groups[0][0].key} if groups else set()
        tree.set_groups(groups, opened)
        words = {"started": "root", "placeholder": "placeholder", "orphan": "orphan"}
        head = Text.assemble(("host ", "dim"), safe(self.host or "", "bold"))
        for group, _rows in groups:
            word = words.get(group.key, group.key) + ("s" if group.count != 1 else "")
            head.append(f"  {group.count:,} {word}", style="dim")
        if not groups:
            head.append("  no processes", style="dim")
        self.query_one("#status", Static).update(head)
        tree.focus()
        if self.focus_id is not None:
            self.reveal(self.focus_id)
            self.focus_id = None

    def show_session(self, s: browse.SessionRow | None) -> None:
        if s is None:
            return
        head = Text.assemble(safe(s.user or "?", "bold green"), " ", safe(s.logon_type),
                             " on ", safe(s.host, "bold"))
        if s.source_ip:
            head.append_text(Text.assemble(" from ", safe(s.source_ip, "cyan")))
        head.append(f"  {s.logon_id}  ", style="dim")
        head.append_text(lifetime(s.start_us, s.end_us))
        head.append(f"  {s.processes} processes", style="dim")
        if s.remote:
            head.append_text(Text.assemble("  ", safe(s.remote, "cyan")))
        self.query_one("#status", Static).update(head)

    def show_roots(self, rows: list[browse.ProcRow]) -> None:
        tree = self.query_one(ProcessTree)
        tree.set_roots(rows)
        if self.session is None:
            more = "+" if len(rows) > PAGE else ""
            self.query_one("#status", Static).update(Text.assemble(
                ("host ", "dim"), safe(self.host or "", "bold"),
                (f"  {min(len(rows), PAGE)}{more} root process(es)", "dim")))
        tree.focus()
        if self.focus_id is not None:
            self.reveal(self.focus_id)
            self.focus_id = None

    def on_process_tree_need_children(self, message: ProcessTree.NeedChildren) -> None:
        node = message.node
        self.load(browse.children, node.data.id, 0, PAGE + 1,
                  then=lambda rows: message.tree.add_children(node, rows),
                  group=f"children-{node.data.id}")

    # -- moving ----------------------------------------------------------------------------

    def current(self) -> browse.ProcRow | None:
        node = self.query_one(ProcessTree).cursor_node
        return node.data if node is not None and isinstance(node.data, browse.ProcRow) \
            else None

    def reveal(self, process_id: int) -> None:
        """Open the tree down to ``process_id`` and put the cursor on it."""
        tree = self.query_one(ProcessTree)
        if tree.focus_process(process_id):
            return
        self.load(_path_to, process_id, then=self._open_path, group="reveal")

    def _open_path(self, found: tuple[list[browse.ProcRow], dict[int, list[browse.ProcRow]]]
                   ) -> None:
        path, kids = found
        tree = self.query_one(ProcessTree)
        top = next((i for i in range(len(path) - 1, -1, -1)
                    if path[i].id in tree.nodes_by_id), None)
        if top is None or not path:
            self.notify("that process is not in this tree", severity="warning")
            return
        for i in range(top, 0, -1):
            node = tree.nodes_by_id[path[i].id]
            tree.add_children(node, kids.get(path[i].id, []))
            node.expand()
        if not tree.focus_process(path[0].id):
            self.notify(f"beyond the first {PAGE:,} children of its parent: open it with "
                        "enter on the 'more' line", severity="warning")

    def action_details(self) -> None:
        row = self.current()
        if row is not None:
            self.case.open_detail(row.id)

    def on_tree_node_selected(self, event: ProcessTree.NodeSelected[Any]) -> None:
        event.stop()
        data = event.node.data
        if isinstance(data, Group):
            event.node.toggle()
        elif isinstance(data, More):
            node = event.node
            tree = self.query_one(ProcessTree)
            if data.parent_id is None:
                self.load(self.roots, data.offset, data.group,
                          then=lambda rows: tree.add_page(node, rows), group="page")
            else:
                self.load(browse.children, data.parent_id, data.offset, PAGE + 1,
                          then=lambda rows: tree.add_page(node, rows), group="page")
        elif data is not None:
            self.case.open_detail(data.id)

    def action_parent(self) -> None:
        row = self.current()
        if row is None:
            return
        if row.parent_id is None:
            self.notify("no known parent: the creator is not in the logs", timeout=3)
        elif not self.query_one(ProcessTree).focus_process(row.parent_id):
            self.notify("the parent is outside this session: opening the host's tree",
                        timeout=3)
            self.case.open_tree(host=row.host, focus=row.parent_id)

    def action_ancestors(self) -> None:
        row = self.current()
        if row is not None:
            self.case.open_ancestors(row.id)

    def action_expand_all(self) -> None:
        """``e``: open everything under the cursor, a page of parents at a time in a
        worker (the UI stays live; ``esc`` stops it), up to :data:`EXPAND_LIMIT` rows."""
        tree = self.query_one(ProcessTree)
        node = tree.cursor_node
        if node is None or not isinstance(node.data, browse.ProcRow):
            return
        if self.expanding is not None and self.expanding.is_running:
            self.notify("already expanding: esc stops it", timeout=2)
            return
        self.expanded = 0
        node.expand()
        self.expanding = self.load_pages(browse.descendant_pages, node.data.id,
                                         then=self._expand_page, done=self._expand_done,
                                         group="expand")
        self.sub_title = self._subtitle + "  expanding… esc stops"

    def _expand_page(self, page: dict[int, list[browse.ProcRow]]) -> bool:
        tree = self.query_one(ProcessTree)
        for parent_id, rows in page.items():
            node = tree.nodes_by_id.get(parent_id)
            if node is None:  # beyond a page of its parent's children: not shown
                continue
            tree.add_children(node, rows)
            self.expanded += min(len(rows), PAGE)
            if node.children:
                node.expand()
        self.sub_title = f"{self._subtitle}  expanded {self.expanded:,}… esc stops"
        if self.expanded >= EXPAND_LIMIT:
            self.notify(f"stopped after {self.expanded:,} processes: e on a deeper one "
                        "opens more", timeout=5)
            return False
        return True

    def _expand_done(self) -> None:
        self.sub_title = self._subtitle
        self.expanding = None

    def action_stop_or_back(self) -> None:
        """``esc``: stop an expansion under way, else go back."""
        if self.expanding is not None and self.expanding.is_running:
            self.expanding.cancel()
            self._expand_done()
            self.notify(f"expansion stopped: {self.expanded:,} processes opened", timeout=3)
            return
        self.case.action_back()

    def action_collapse_all(self) -> None:
        node = self.query_one(ProcessTree).cursor_node
        if node is not None:
            node.collapse_all()

    # -- finding ---------------------------------------------------------------------------

    def action_find(self) -> None:
        find = self.query_one("#find", Input)
        find.display = True
        find.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.apply_filter(event.value)
            return
        event.input.display = False
        scope = Filter(host=self.host or "") if self.session is None else Filter()
        self.load(browse.search, event.value, scope, 1000, self.session, then=self.found,
                  group="find")

    def found(self, hits: list[browse.ProcRow]) -> None:
        self.hits, self.hit = hits, -1
        self.query_one(ProcessTree).focus()
        if not hits:
            self.notify("no match in this tree", timeout=3)
            return
        self.notify(f"{len(hits)} match(es): n next, N previous", timeout=3)
        self.action_next_hit()

    def action_next_hit(self, step: int = 1) -> None:
        if not self.hits:
            self.notify("nothing to go to: press / to find", timeout=2)
            return
        self.hit = (self.hit + step) % len(self.hits)
        self.reveal(self.hits[self.hit].id)

    def action_bookmark(self) -> None:
        row = self.current()
        if row is not None:
            self.case.bookmark("process", row.id, row.title)
