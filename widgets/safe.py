"""Log text made safe to show: escape sequences and control characters made visible.

Event text is attacker-controlled. Before any string from a log reaches a terminal it
passes through :func:`printable`, which turns every control character (ESC included,
so no ANSI/OSC sequence survives) into a visible ``\\xNN`` escape; :func:`safe` wraps the
result in a Rich ``Text``, which is never parsed as markup (``[bold]`` stays literal).
The CLI and every widget use these two.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
_ONE_LINE = str.maketrans(_VISIBLE)
_MULTI_LINE = str.maketrans({k: v for k, v in _VISIBLE.items() if k not in (0x0A, 0x09)})


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown as ``\\xNN`` (newlines kept if asked)."""
    return str(text).translate(_MULTI_LINE if keep_newlines else _ONE_LINE)


def safe(text: object, style: str | Style = "", *, keep_newlines: bool = False) -> Text:
    """Log text as a Rich ``Text``: printable, never markup."""
    return Text(printable("" if text is None else text, keep_newlines=keep_newlines),
                style=style)
