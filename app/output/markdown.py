"""Markdown made from log text: inline text escaped, blocks fenced so they stay exact."""

from __future__ import annotations

import re

from proctrail.store.text import printable


def md_text(text: object) -> str:
    """Inline Markdown text: printable, and no character that starts markup (``&`` would
    start an entity)."""
    out = printable("" if text is None else text)
    for ch in "\\`*_{}[]<>()#+-.!|~&":
        out = out.replace(ch, "\\" + ch)
    return out


def fenced(lines: list[str], indent: str = "") -> list[str]:
    """``lines`` as a fenced code block, kept exactly: the fence is longer than any run of
    tildes in them (only a fence as long closes it), and every line carries the block's
    indent (in a list item, a line with less ends the item, and the block with it)."""
    longest = max((len(run) for line in lines for run in re.findall("~+", line)), default=0)
    fence = "~" * max(3, longest + 1)
    return [indent + fence, *(indent + line for line in lines), indent + fence]


def code_block(text: object, indent: str = "") -> list[str]:
    return fenced(printable("" if text is None else text, keep_newlines=True).split("\n"),
                   indent)
