"""``proctrail tree``: a process tree (or one process's parent chain) as text."""

from __future__ import annotations

import argparse

from proctrail.app.cli.common import EXIT_OK, EXIT_SKIPPED, add_db, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tree", help="print a process tree, like pstree",
                       description="Print process trees with lifetimes: one session's, "
                                   "one process's subtree, or a host's forest. "
                                   "--ancestors prints the parent chain instead.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=int, metavar="ID")
    which.add_argument("--process", type=int, metavar="ID")
    which.add_argument("--host", metavar="H")
    p.add_argument("--ancestors", action="store_true",
                   help="with --process: its parent chain up to the root")
    add_db(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.output.tree_text import render, render_chain
    from proctrail.store.db import open_engine
    from proctrail.store.graph import process_graph, roots, session_tree, subtree
    from proctrail.store.queries import process_summaries
    from proctrail.store.queries.browse import chain

    engine = open_engine(args.db)
    if args.process is not None and args.ancestors:  # one chain: no need for the graph
        nodes = [row.id for row in chain(engine, args.process)]
        if not nodes:
            error(f"no process with id {args.process}")
            return EXIT_SKIPPED
        lines = render_chain(nodes, process_summaries(engine, nodes))
        for line in lines:
            print(line)
        return EXIT_OK
    graph = process_graph(engine, host=args.host)
    if args.process is not None:
        if args.process not in graph:
            error(f"no process with id {args.process}")
            return EXIT_SKIPPED
        nodes = list(subtree(graph, args.process))
    elif args.session is not None:
        nodes = list(session_tree(graph, args.session))
    else:
        nodes = list(graph)
    if not nodes:
        error("nothing to show (no such session or host, or no processes)")
        return EXIT_SKIPPED
    shown = graph.subgraph(nodes)
    for line in render(shown, roots(shown), process_summaries(engine, nodes)):
        print(line)
    return EXIT_OK
