"""Process trees as text, like ``pstree``, with lifetimes: for the ``tree`` command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from proctrail.store.images import image_name
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import clock as _clock
from proctrail.store.timefmt import span


def _duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    return f" ({span(end - start)})"


def describe(info: dict[str, Any]) -> str:
    """One process as a line: ``image  pid  user  start -> end (duration) [flags]``."""
    image = image_name(info["image"])
    flags = f" [{', '.join(info['flags'])}]" if info["flags"] else ""
    line = (f"{image}  {pid_text(info['pid'])}  {info['user'] or '-'}  "
            f"{_clock(info['start_us'])} -> {_clock(info['end_us'])}"
            f"{_duration(info['start_us'], info['end_us'])}{flags}")
    return printable(line)


def render(graph: nx.DiGraph, roots: list[int], info: dict[int, dict[str, Any]]
           ) -> Iterator[str]:
    """Lines of the forest below ``roots``, children in start order."""
    def order(node: int) -> tuple[int, int]:
        start = info[node]["start_us"]
        return (start if start is not None else -1, node)

    def walk(node: int, prefix: str, last: bool, top: bool) -> Iterator[str]:
        branch = "" if top else ("└─ " if last else "├─ ")
        yield prefix + branch + describe(info[node])
        children = sorted(graph.successors(node), key=order)
        inner = prefix if top else prefix + ("   " if last else "│  ")
        for i, child in enumerate(children):
            yield from walk(child, inner, i == len(children) - 1, False)

    for root in sorted(roots, key=order):
        yield from walk(root, "", True, True)


def render_chain(chain: list[int], info: dict[int, dict[str, Any]]) -> Iterator[str]:
    """The ancestor chain, root first, each generation indented."""
    for depth, node in enumerate(reversed(chain)):
        yield "   " * depth + ("└─ " if depth else "") + describe(info[node])
