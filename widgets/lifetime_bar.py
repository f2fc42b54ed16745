"""A lifetime on a small timeline: where a process ran within a wider span."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from proctrail.widgets.labels import when


class LifetimeBar(Widget):
    """``08:14:52 ──────███████──────── 08:52:07``: the span is the session (or the case),
    the solid part the process; ``▶``/``◀`` mark a start or end outside the span and ``…``
    an end never seen."""

    DEFAULT_CSS = """
    LifetimeBar { height: 1; }
    """

    def __init__(self, span_start: int | None = None, span_end: int | None = None,
                 start: int | None = None, end: int | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.values = (span_start, span_end, start, end)

    def show(self, span_start: int | None, span_end: int | None, start: int | None,
             end: int | None) -> None:
        self.values = (span_start, span_end, start, end)
        self.refresh()

    def render(self) -> Text:
        return bar(*self.values, width=max(10, self.size.width))


def bar(span_start: int | None, span_end: int | None, start: int | None, end: int | None,
        width: int) -> Text:
    """The timeline as one line of ``width`` cells."""
    left, right = when(span_start, False), when(span_end, False)
    cells = max(4, width - len(left) - len(right) - 2)
    text = Text(left + " ", style="dim")
    if span_start is None or span_end is None or span_end <= span_start:
        text.append("█" * cells if start is not None else "?" * cells, style="green")
    else:
        scale = cells / (span_end - span_start)
        a = 0 if start is None else int((start - span_start) * scale)
        b = cells if end is None else int((end - span_start) * scale) + 1
        a, b = max(0, min(a, cells - 1)), max(1, min(b, cells))
        text.append("─" * a, style="dim")
        text.append("█" * max(1, b - a), style="green" if end is not None else "yellow")
        text.append("─" * (cells - max(b, a + 1)), style="dim")
    text.append(" " + right, style="dim")
    return text

