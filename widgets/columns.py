"""Tables that fit the terminal: which columns fit and how wide (:func:`fit_columns`), and
text cut to a width with ``…`` (hosts to their short name, users losing their domain
first). Pure functions over plain values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """A table column: ``least`` and ``most`` characters wide; kept in priority order."""

    key: str
    label: str
    least: int
    most: int


def fit_columns(columns: Sequence[Column], width: int, gap: int = 2) -> dict[str, int]:
    """The columns (in priority order) that fit in ``width`` characters, ``gap`` between
    each, at their least width; what is left widens them a character at a time in turn,
    up to their most. Returns key -> width in the order given."""
    chosen: list[Column] = []
    used = 0
    for c in columns:
        if used + c.least + gap <= width:
            chosen.append(c)
            used += c.least + gap
    widths = {c.key: c.least for c in chosen}
    growing = [c for c in chosen if c.most > c.least]
    while growing and used < width:
        for c in list(growing):
            if used >= width:
                break
            widths[c.key] += 1
            used += 1
            if widths[c.key] >= c.most:
                growing.remove(c)
    return {c.key: widths[c.key] for c in columns if c.key in widths}


def cut(text: str, width: int, middle: bool = False) -> str:
    """``text`` in ``width`` characters: its end (or, ``middle``, its middle) becomes ``…``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    if not middle:
        return text[:width - 1] + "…"
    tail = (width - 1) // 2
    return text[:width - 1 - tail] + "…" + text[len(text) - tail:]


def cut_host(name: str, width: int) -> str:
    """A host name in ``width`` characters: whole, else up to its first dot, else cut."""
    if len(name) <= width:
        return name
    return cut(name.split(".", 1)[0], width)


def cut_user(user: str, width: int) -> str:
    """``DOMAIN\\name`` in ``width`` characters: the domain is cut before the name is."""
    if len(user) <= width:
        return user
    domain, sep, name = user.rpartition("\\")
    if sep and len(name) + 3 <= width:
        return cut(domain, width - len(name) - 1) + sep + name
    return cut(name if sep else user, width)
