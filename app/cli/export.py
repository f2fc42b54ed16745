"""``proctrail export``: processes, sessions, findings, a timeline, a table, a graph, the
case's ATT&CK techniques as a Navigator layer."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from proctrail.app.cli.common import (
    EXIT_OK,
    EXIT_SKIPPED,
    add_config,
    add_db,
    add_redact,
    error,
    redactor,
)
from proctrail.app.output.rows import open_output, write_records, write_rows
from proctrail.app.redact import redact_record
from proctrail.store.errors import UsageError

GRAPH_FORMATS = ("graphml", "dot")
# The fields of an activity record that may hold a command line or a script: masked by
# --redact.
ACTIVITY_TEXT = ("summary", "CommandLine", "ScriptBlockText", "Payload", "HostApplication",
                 "ContextInfo", "command_line")
ROW_FORMATS = ("jsonl", "csv")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write processes, sessions or findings as JSON lines "
                                      "or CSV; a timeline, a table, a process graph",
                       description="Write one record per process lifetime or logon session "
                                   "to stdout (or --out); a process's record ends with "
                                   "counts of what it did (activity, connections, dns, "
                                   "files_written, files_deleted, registry, "
                                   "process_access, scripts, credentials). Times are ISO "
                                   "8601 UTC. "
                                   "'timeline': starts, ends, logons, logoffs and findings "
                                   "in time order for Timesketch (rows of unknown time left "
                                   "out); 'table NAME': a store table as plain rows; "
                                   "'graph': a --session's or --host's process tree as "
                                   "GraphML or DOT; 'attack': the findings' ATT&CK "
                                   "techniques as an ATT&CK Navigator layer (JSON).")
    p.add_argument("what", choices=("processes", "sessions", "findings", "activity",
                                    "timeline", "table", "graph", "attack"),
                   help="what to write: one record per process lifetime, logon session, "
                        "finding or thing a process did (process_id, host, time, kind, "
                        "direction, event_id, record_id, channel, summary, fields); the "
                        "timeline; a store table; a process graph; an ATT&CK Navigator "
                        "layer")
    p.add_argument("name", nargs="?", metavar="NAME", help="table: which table")
    add_db(p)
    p.add_argument("--format", choices=("jsonl", "csv", "graphml", "dot"), default=None,
                   help="jsonl (default) or csv; graph: graphml (default) or dot")
    p.add_argument("--host", help="only this host (case-insensitive)")
    p.add_argument("--session", type=int, metavar="ID", help="only this session's processes")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--printable", action="store_true",
                   help="show control characters and escape sequences from the logs as "
                        "visible text (\\x1b) in a file or a pipe too; without it a file "
                        "(--out) or a pipe gets the exact text, and a terminal always gets "
                        "it shown, never run")
    add_redact(p)
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.store.db import open_engine
    from proctrail.store.queries import export_findings, export_processes, export_sessions
    from proctrail.store.queries.export import export_activity

    engine = open_engine(args.db)
    if args.what == "attack":
        return _attack(args, engine)
    if args.what in ("timeline", "table", "graph"):
        return _more(args, engine)
    if args.format in ("graphml", "dot") or args.name:
        raise UsageError(f"export {args.what}: --format is jsonl or csv, and it takes no NAME")
    if args.what == "processes":
        records = export_processes(engine, host=args.host, session=args.session)
    elif args.what == "sessions":
        records = export_sessions(engine, host=args.host)
    elif args.what == "activity":
        records = export_activity(engine, host=args.host, session=args.session)
    else:
        records = (_with_attack(r) for r in export_findings(engine))
    masking = redactor(args)
    if masking is not None:
        # What a process did carries script text too (4104, 4103, 400/600 HostApplication)
        fields = ACTIVITY_TEXT if args.what == "activity" else None
        records = (redact_record(r, masking, *([fields] if fields else []))
                   for r in records)
    with open_output(args.out, args.printable) as out:
        write_records(out, records, args.format or "jsonl")
    return EXIT_OK


def _with_attack(record: dict[str, Any]) -> dict[str, Any]:
    """A finding's record with its ATT&CK technique ids and tactics after its tags."""
    from proctrail.store.detect.attack import tactics_of, techniques_of

    tags = ",".join(record.get("tags") or [])
    out: dict[str, Any] = {}
    for key, value in record.items():
        out[key] = value
        if key == "tags":
            out["techniques"] = techniques_of(tags)
            out["tactics"] = tactics_of(tags)
    return out


def _attack(args: argparse.Namespace, engine: Any) -> int:
    """``export attack``: the Navigator layer of the case's techniques."""
    import orjson

    from proctrail.app.output.attack import navigator_layer
    from proctrail.store.queries.findings import list_findings

    if args.format or args.name or args.host or args.session is not None:
        raise UsageError("export attack: takes only --out (the layer is JSON, the whole case)")
    layer = navigator_layer(list_findings(engine))
    if not layer["techniques"]:
        error("nothing to export: no finding names an ATT&CK technique (run proctrail detect)")
        return EXIT_SKIPPED
    with open_output(args.out, args.printable) as out:
        out.write(orjson.dumps(layer, option=orjson.OPT_INDENT_2).decode() + "\n")
    return EXIT_OK


def _more(args: argparse.Namespace, engine: Any) -> int:
    """``export timeline``, ``export table NAME`` or ``export graph``."""
    from proctrail.app.output.graph import graphml_text, process_tree, to_dot
    from proctrail.store.queries.timeline import (
        COLUMNS,
        TABLES,
        table_columns,
        table_rows,
        timeline,
    )

    graph = args.what == "graph"
    fmt = args.format or ("graphml" if graph else "jsonl")
    allowed = GRAPH_FORMATS if graph else ROW_FORMATS
    if fmt not in allowed:
        raise UsageError(f"export {args.what}: --format is one of {', '.join(allowed)}, "
                         f"not {fmt}")
    if args.what == "table" and args.name not in TABLES:
        given = f"unknown table {args.name!r}" if args.name else "name a table"
        raise UsageError(f"export table: {given}; one of {', '.join(TABLES)}")
    if args.what != "table" and args.name:
        raise UsageError(f"export {args.what} takes no NAME (given {args.name!r})")
    if graph and (args.session is None) == (args.host is None):
        raise UsageError("export graph: give --session ID or --host H (one of them)")
    masking = redactor(args)
    if graph:
        tree = process_tree(engine, session=args.session, host=args.host, redactor=masking)
        if tree.number_of_nodes() == 0:
            error("nothing to export (no such session or host, or no processes)")
            return EXIT_SKIPPED
        with open_output(args.out, args.printable) as out:
            if fmt == "dot":
                out.writelines(to_dot(tree))
            else:
                out.write(graphml_text(tree))
        return EXIT_OK
    if args.what == "timeline":
        records: Iterable[dict[str, Any]] = timeline(engine, host=args.host)
        columns: list[str] = list(COLUMNS)
        masked: tuple[str, ...] = ("command_line", "message")
    else:
        records = table_rows(engine, args.name)
        columns = table_columns(args.name)
        masked = ("command_line", "data", "value")
    if masking is not None:
        records = (redact_record(r, masking, masked) for r in records)
    with open_output(args.out, args.printable) as out:
        write_rows(out, records, columns, fmt)
    return EXIT_OK
