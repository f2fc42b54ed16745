"""The process tree: a Textual ``Tree`` of lifetimes, filled level by level on demand.

The widget holds rows it is given and never reads the store: expanding a node whose
children are not loaded posts :class:`ProcessTree.NeedChildren`, and the screen answers
with :meth:`ProcessTree.add_children` once its worker has them. A session with 100k
processes opens at once, since only the opened levels exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from proctrail.widgets.labels import process_line

PAGE = 1000  # rows per level loaded at once; a "more" line loads the next page


@dataclass(frozen=True)
class More:
    """The line after a page of rows: what to load next (``parent_id`` None: roots, of
    ``group`` when the top level is grouped)."""

    parent_id: int | None
    offset: int
    group: str | None = None


@dataclass(frozen=True)
class Group:
    """A top-level line that holds a kind of roots (a host's boot chain, placeholders,
    orphans): its key, what it holds and how many."""

    key: str
    title: str
    count: int


class ProcessTree(Tree[Any]):
    """Lifetimes as a tree; node data is the row (``id``, ``children`` and line fields)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("l", "open_node", "Expand", show=False),
        Binding("h", "close_node", "Collapse / up", show=False),
        Binding("g", "scroll_home", "First line", show=False),
        Binding("G", "scroll_end", "Last line", show=False),
    ]

    class NeedChildren(Message):
        """A node was opened whose children are not loaded yet."""

        def __init__(self, tree: ProcessTree, node: TreeNode[Any]) -> None:
            super().__init__()
            self.tree = tree
            self.node = node

    def __init__(self, label: str = "processes", **kwargs: Any) -> None:
        # node id -> (label, expandable, width): the tree measures every line's label each
        # time a node opens, which on 20,000 lines is most of the time ``e`` takes.
        self._widths: dict[int, tuple[object, bool, int]] = {}
        super().__init__(label, **kwargs)
        self.show_root = False
        self.auto_expand = False  # enter opens details; space and l expand
        self.guide_depth = 2
        self.nodes_by_id: dict[int, TreeNode[Any]] = {}
        self.loaded: set[int] = set()

    def get_label_width(self, node: TreeNode[Any]) -> int:
        known = self._widths.get(node.id)
        if known is not None and known[0] is node.label and known[1] == node.allow_expand:
            return known[2]
        width = super().get_label_width(node)
        self._widths[node.id] = (node.label, node.allow_expand, width)
        return width

    def set_roots(self, rows: list[Any]) -> None:
        """Replace the tree's content with these top-level rows (a page of ``PAGE + 1``
        at most: one over the page means there are more)."""
        self.clear()
        self.nodes_by_id.clear()
        self.loaded.clear()
        self._widths.clear()
        self._add(self.root, rows, More(None, PAGE))
        self.root.expand()
        self.call_after_refresh(self._first_line)

    def set_groups(self, groups: list[tuple[Group, list[Any]]], opened: set[str]) -> None:
        """Replace the tree's content with groups of top-level rows (each a page of
        ``PAGE + 1`` at most), the groups in ``opened`` expanded."""
        self.clear()
        self.nodes_by_id.clear()
        self.loaded.clear()
        self._widths.clear()
        for group, rows in groups:
            label = Text.assemble((group.title, "bold"), (f"  {group.count:,}", "dim"))
            node = self.root.add(label, data=group, allow_expand=bool(rows))
            self._add(node, rows, More(None, PAGE, group.key))
            if group.key in opened:
                node.expand()
        self.root.expand()
        self.call_after_refresh(self._first_process)

    def _first_process(self) -> None:
        """The cursor on the first process of the first open group (else its line)."""
        for group in self.root.children:
            if group.is_expanded and group.children:
                self.move_cursor(group.children[0])
                return
        self._first_line()

    def _first_line(self) -> None:
        if self.cursor_line < 0 and self.root.children:
            self.move_cursor(self.root.children[0])

    def set_forest(self, forest: dict[int | None, list[Any]]) -> None:
        """Show exactly these rows (``{parent id or None: [rows]}``), all opened: a filtered
        view, where children not given stay hidden."""
        self.clear()
        self.nodes_by_id.clear()
        self.loaded.clear()
        self._widths.clear()
        pending: list[tuple[TreeNode[Any], int | None]] = [(self.root, None)]
        while pending:
            parent, key = pending.pop()
            for row in forest.get(key, []):
                if row.id in self.nodes_by_id:
                    continue
                node = parent.add(process_line(row), data=row,
                                  allow_expand=bool(forest.get(row.id)))
                self.nodes_by_id[row.id] = node
                self.loaded.add(row.id)
                pending.append((node, row.id))
        self.root.expand_all()
        self.call_after_refresh(self._first_line)

    def add_children(self, node: TreeNode[Any], rows: list[Any]) -> None:
        """Fill ``node`` with its first page of children (once)."""
        if node.data is None or isinstance(node.data, More) or node.data.id in self.loaded:
            return
        self.loaded.add(node.data.id)
        self._add(node, rows, More(node.data.id, PAGE))

    def add_page(self, marker: TreeNode[Any], rows: list[Any]) -> None:
        """Replace a "more" line with the next page of rows (and a new "more" line)."""
        more = marker.data
        parent = marker.parent
        if not isinstance(more, More) or parent is None:
            return
        marker.remove()
        self._add(parent, rows, More(more.parent_id, more.offset + PAGE, more.group))

    def _add(self, parent: TreeNode[Any], rows: Iterable[Any], more: More) -> None:
        rows = list(rows)
        for row in rows[:PAGE]:
            if row.id in self.nodes_by_id:
                continue  # a lifetime shows once, even if the data loops
            child = parent.add(process_line(row), data=row, allow_expand=row.children > 0)
            self.nodes_by_id[row.id] = child
        if len(rows) > PAGE:
            parent.add_leaf(Text(f"… more: enter loads the next {PAGE:,}",
                                 style="italic dim"), data=more)

    def is_loaded(self, node: TreeNode[Any]) -> bool:
        return isinstance(node.data, More | Group) or node.data is None or (
            node.data.id in self.loaded or not node.data.children)

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Any]) -> None:
        if not self.is_loaded(event.node):
            self.post_message(self.NeedChildren(self, event.node))

    def action_open_node(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()

    def action_close_node(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def focus_process(self, process_id: int) -> bool:
        """Move the cursor to a loaded process; False if it is not in the tree (yet)."""
        node = self.nodes_by_id.get(process_id)
        if node is None:
            return False
        parent = node.parent
        while parent is not None and parent is not self.root:
            parent.expand()
            parent = parent.parent
        # Lines are laid out on the next refresh: move there once they are.
        self.call_after_refresh(self._move_to, node)
        return True

    def _move_to(self, node: TreeNode[Any]) -> None:
        self.move_cursor(node)
        self.scroll_to_node(node, animate=False)
