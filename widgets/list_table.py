"""A table of rows walked as in ``less``: Home/``g`` and End/``G`` go to the first and last
row (Textual's table scrolls sideways on them), PageUp/PageDown a page, ``j``/``k`` a row."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable


class ListTable(DataTable[Any]):
    """A row-cursor :class:`DataTable` with the keys of a pager."""

    BINDINGS = [
        Binding("home,g", "scroll_top", "First row", show=False),
        Binding("end,G", "scroll_bottom", "Last row", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
