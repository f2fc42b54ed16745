"""Log text made safe to show, and the few text helpers every layer uses.

Event text is attacker-controlled. Before any string from a log reaches a terminal it
passes through :func:`printable`, which turns every control character (ESC included,
so no ANSI/OSC sequence survives) into a visible ``\\xNN`` escape, and every invisible
character that reorders or hides text (bidi overrides and isolates, zero-width
characters, line and paragraph separators) into ``\\uNNNN``. The CLI, the exports, the
store's timeline and every widget (through ``widgets/safe.py``) use it.

A log value can be a megabyte long (a command line padded to hide the rest): a screen
shows its first :data:`DISPLAY_MAX` characters and says how long it is (:func:`cut_note`),
so wrapping it never freezes the TUI. The store and every export keep the whole text.

This module is the bottom layer: it imports nothing of proctrail's.
"""

from __future__ import annotations

_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))}
# Invisible characters that change how the text around them reads: Arabic letter mark,
# zero-width space/joiners and directional marks, line/paragraph separators, bidi
# embeddings and overrides, word joiner and invisible operators, bidi isolates, BOM.
_VISIBLE |= {c: f"\\u{c:04x}" for c in (
    0x061C, *range(0x200B, 0x2010), *range(0x2028, 0x202F), *range(0x2060, 0x2065),
    *range(0x2066, 0x206A), 0xFEFF)}
_ONE_LINE = str.maketrans(_VISIBLE)
_MULTI_LINE = str.maketrans({k: v for k, v in _VISIBLE.items() if k not in (0x0A, 0x09)})

DISPLAY_MAX = 32 * 1024  # characters of one value a screen shows (a Windows command line
# holds at most 32,767)


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown as ``\\xNN`` (newlines kept if asked) and
    invisible reordering characters as ``\\uNNNN``."""
    return str(text).translate(_MULTI_LINE if keep_newlines else _ONE_LINE)


def cut_note(length: int, limit: int = DISPLAY_MAX) -> str:
    """What a screen says after a value cut at ``limit`` characters."""
    return f" … [cut: the first {limit:,} of {length:,} characters; exports hold them all]"


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (a driver's own, not SQLAlchemy's wrapping,
    which can run to pages), or its type's name when it has none."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def pid_text(pid: int | None) -> str:
    """A PID as shown: ``?`` where the collector dropped it."""
    return "?" if pid is None else str(pid)


def glob_to_like(pattern: str) -> str:
    """A shell glob (``*\\temp\\*.exe``) as a LIKE pattern with ``\\`` as escape."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)
