"""Process trees as text, like ``pstree``, with lifetimes: for the ``tree`` command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import networkx as nx

from proctrail.store.correlate.signal import shown
from proctrail.store.images import image_name
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import clock as _clock
from proctrail.store.timefmt import span


def _duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    return f" ({span(end - start)})"


def describe(info: dict[str, Any]) -> str:
    """One process as a line: ``image  pid  user  start -> end (duration) [flags]``; routine
    flags (``before_log``, ``user_changed_service``…) are left out, as trees do (``--json``
    keeps every flag)."""
    image = image_name(info["image"])
    marked = shown(info["flags"])
    flags = f" [{', '.join(marked)}]" if marked else ""
    line = (f"{image}  {pid_text(info['pid'])}  {info['user'] or '-'}  "
            f"{_clock(info['start_us'])} -> {_clock(info['end_us'])}"
            f"{_duration(info['start_us'], info['end_us'])}{flags}")
    return printable(line)


MIN_CMDLINE = 20  # characters of a command line shown however deep the tree


def cmdline_text(command_line: str, prefix: str, width: int) -> str:
    """A command line under its process: printable, on one line, cut (with ``…``) so that
    ``prefix`` and it fit ``width`` columns (at least :data:`MIN_CMDLINE` characters)."""
    text = printable(command_line) or "-"
    room = max(width - len(prefix), MIN_CMDLINE)
    return prefix + (text if len(text) <= room else text[:room - 1] + "…")


def _order(info: dict[int, dict[str, Any]]) -> Callable[[int], tuple[int, int]]:
    def order(node: int) -> tuple[int, int]:
        start = info[node]["start_us"]
        return (start if start is not None else -1, node)
    return order


def walk(graph: nx.DiGraph, roots: list[int], info: dict[int, dict[str, Any]]
         ) -> Iterator[tuple[int, int, str, str]]:
    """The forest below ``roots`` in print order, children in start order: each node
    with its depth, its line's prefix and its command line's prefix. Iterative, so a
    parent chain thousands deep (a hostile log) does not reach the recursion limit."""
    order = _order(info)
    stack: list[tuple[int, int, str, bool, bool]] = [
        (root, 0, "", True, True) for root in sorted(roots, key=order, reverse=True)]
    while stack:
        node, depth, prefix, last, top = stack.pop()
        children = sorted(graph.successors(node), key=order)
        inner = prefix if top else prefix + ("   " if last else "│  ")
        branch = "" if top else ("└─ " if last else "├─ ")
        yield node, depth, prefix + branch, inner + ("│  " if children else "   ")
        stack.extend((child, depth + 1, inner, i == len(children) - 1, False)
                     for i, child in reversed(list(enumerate(children))))


def render(graph: nx.DiGraph, roots: list[int], info: dict[int, dict[str, Any]],
           cmdline_width: int | None = None) -> Iterator[str]:
    """Lines of the forest below ``roots``, children in start order; with
    ``cmdline_width``, each process's command line on the line below it, cut to fit."""
    for node, _depth, prefix, under in walk(graph, roots, info):
        yield prefix + describe(info[node])
        if cmdline_width is not None:
            yield cmdline_text(info[node]["command_line"], under, cmdline_width)


def render_chain(chain: list[int], info: dict[int, dict[str, Any]],
                 cmdline_width: int | None = None) -> Iterator[str]:
    """The ancestor chain, root first, each generation indented; with ``cmdline_width``,
    each command line below its process."""
    for depth, node in enumerate(reversed(chain)):
        yield "   " * depth + ("└─ " if depth else "") + describe(info[node])
        if cmdline_width is not None:
            more = depth < len(chain) - 1  # the next generation's └ comes below
            cmdline = info[node]["command_line"]
            yield cmdline_text(cmdline, "   " * (depth + 1) + ("│  " if more else "   "),
                               cmdline_width)


def tree_json(graph: nx.DiGraph, roots: list[int], info: dict[int, dict[str, Any]],
              hosts: dict[int, str]) -> dict[str, Any]:
    """``tree --json``: ``{"roots": [ids], "processes": [...]}``, the processes flat in
    print order (pre-order, children by start time), each ``{"id", "parent", "children",
    "depth", "host", "pid", "image", "user", "command_line", "start", "end", "flags"}``
    (times ISO 8601 UTC or null; text exact, as logged). Flat, so that no log's parent
    chain makes the JSON too deep to write or read."""
    from proctrail.store.timefmt import iso

    order = _order(info)
    processes = []
    for node, depth, _prefix, _under in walk(graph, roots, info):
        p = info[node]
        parents = list(graph.predecessors(node))
        processes.append({
            "id": node, "parent": parents[0] if parents else None,
            "children": sorted(graph.successors(node), key=order), "depth": depth,
            "host": hosts.get(node), "pid": p["pid"], "image": p["image"], "user": p["user"],
            "command_line": p["command_line"], "start": iso(p["start_us"]),
            "end": iso(p["end_us"]), "flags": list(p["flags"])})
    return {"roots": sorted(roots, key=order), "processes": processes}
