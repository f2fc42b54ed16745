"""The filter bar: one line of ``key=value`` words, hidden until asked for."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

FILTER_HELP = ("host=NAME user=TEXT image=GLOB flags=a,b from=TIME to=TIME findings "
               "(a bare word matches images)")


class FilterBar(Input):
    """An ``Input`` docked above a table or tree; enter applies, escape hides it."""

    DEFAULT_CSS = """
    FilterBar { dock: top; display: none; }
    FilterBar.-shown { display: block; }
    """
    BINDINGS = [Binding("escape", "hide", "Hide filter", show=False)]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(placeholder=FILTER_HELP, **kwargs)  # type: ignore[arg-type]

    def reveal(self) -> None:
        self.add_class("-shown")
        self.focus()

    def action_hide(self) -> None:
        self.remove_class("-shown")
        self.screen.focus_next()
