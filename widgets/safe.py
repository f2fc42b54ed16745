"""Log text as a Rich ``Text`` for widgets: printable, never markup, cut for display.

The escaping itself lives in :mod:`proctrail.store.text` (the bottom layer the CLI, the
exports and the store use too); :func:`safe` wraps its result in a ``Text``, which is
never parsed as markup (``[bold]`` stays literal), and cuts a value longer than
:data:`DISPLAY_MAX` with a dim note of its whole length.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from proctrail.store.text import DISPLAY_MAX, cut_note, printable


def safe(text: object, style: str | Style = "", *, keep_newlines: bool = False,
         limit: int = DISPLAY_MAX) -> Text:
    """Log text as a Rich ``Text``: printable, never markup, at most ``limit`` characters
    of it (then a dim note of the whole length)."""
    raw = "" if text is None else str(text)
    if len(raw) <= limit:
        return Text(printable(raw, keep_newlines=keep_newlines), style=style)
    shown = Text(printable(raw[:limit], keep_newlines=keep_newlines), style=style)
    shown.append(cut_note(len(raw), limit), style="dim italic")
    return shown
