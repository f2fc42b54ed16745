"""``proctrail tree``: a process tree (or one process's parent chain) as text or JSON."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from proctrail.app.cli.common import (
    EXIT_OK,
    EXIT_SKIPPED,
    add_config,
    add_db,
    add_json,
    add_redact,
    error,
    print_json,
    redactor,
)
from proctrail.app.cli.process_arg import FORMS

PIPE_WIDTH = 160  # a command line's line when stdout is not a terminal


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tree", help="print a process tree, like pstree",
                       description="Print process trees with lifetimes: one session's, "
                                   "one process's subtree, or a host's forest. "
                                   "--ancestors prints the parent chain instead.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=int, metavar="ID",
                       help="the processes of this logon session")
    which.add_argument("--process", metavar="PROCESS",
                       help=f"this process and what it started: {FORMS}; TIME may be a "
                            "prefix (a day, an hour, a minute) and names the lifetime of "
                            "that PID alive then")
    which.add_argument("--host", metavar="H",
                       help="a machine's forest: any spelling of its name, a short name "
                            "or a glob (ws0*)")
    p.add_argument("--ancestors", action="store_true",
                   help="with --process: its parent chain up to the root")
    p.add_argument("--cmdline", action="store_true",
                   help="each process's command line below it, control characters shown "
                        "as \\x1b, cut to the terminal's width (160 columns into a pipe)")
    add_json(p, "the tree as one JSON object: roots and the processes flat, in print "
                "order, each with its parent, children and whole command line")
    add_db(p)
    add_redact(p)
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.cli.process_arg import resolve_process
    from proctrail.store.db import open_engine
    from proctrail.store.graph import process_graph, roots, session_tree, subtree
    from proctrail.store.queries.browse import chain

    masking = redactor(args)
    engine = open_engine(args.db)
    process = resolve_process(engine, args.process) if args.process is not None else None
    if process is not None and args.ancestors:  # one chain: no need for the graph
        nodes = [row.id for row in chain(engine, process)]
        info = _summaries(engine, nodes, masking)
        if args.json:
            import networkx as nx

            path = nx.DiGraph(list(zip(reversed(nodes[1:]), reversed(nodes[:-1]),
                                       strict=True)))
            path.add_nodes_from(nodes)
            return _json(engine, path, [nodes[-1]], info)
        from proctrail.app.output.tree_text import render_chain

        for line in render_chain(nodes, info, _width(args)):
            print(line)
        return EXIT_OK
    graph = process_graph(engine, host=args.host)
    if process is not None:
        nodes = list(subtree(graph, process))
    elif args.session is not None:
        nodes = list(session_tree(graph, args.session))
    else:
        nodes = list(graph)
    if not nodes:
        error("nothing to show (no such session or host, or no processes)")
        return EXIT_SKIPPED
    shown = graph.subgraph(nodes)
    info = _summaries(engine, nodes, masking)
    if args.json:
        return _json(engine, shown, roots(shown), info)
    from proctrail.app.output.tree_text import render

    for line in render(shown, roots(shown), info, _width(args)):
        print(line)
    return EXIT_OK


def _summaries(engine: Any, nodes: list[int], masking: Any) -> dict[int, dict[str, Any]]:
    """The tree's fields of ``nodes``, command lines masked when asked."""
    from proctrail.store.queries import process_summaries

    info = process_summaries(engine, nodes)
    if masking is not None:
        for fields in info.values():
            fields["command_line"] = masking(fields["command_line"] or "")
    return info


def _json(engine: Any, graph: Any, tops: list[int], info: dict[int, dict[str, Any]]) -> int:
    from proctrail.app.output.tree_text import tree_json
    from proctrail.store.queries.lookup import process_hosts

    print_json(tree_json(graph, tops, info, process_hosts(engine, list(info))))
    return EXIT_OK


def _width(args: argparse.Namespace) -> int | None:
    """The columns a command line's line may take, None without ``--cmdline``."""
    if not args.cmdline:
        return None
    if sys.stdout.isatty():
        return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns
    return PIPE_WIDTH
