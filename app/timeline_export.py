"""``proctrail export timeline|table|graph``: the case for other tools.

- ``timeline``: process starts and ends, logons, logoffs and findings in time order, as
  Timesketch imports them (``message``, ``datetime``, ``timestamp_desc``, ``timestamp``
  in microseconds, then fields), CSV or JSON lines;
- ``table NAME``: any table of the store as plain rows, CSV or JSON lines;
- ``graph``: a session's (or host's) process tree as GraphML (``networkx``) or DOT.

Log text is attacker-controlled: CSV cells never start a formula (:func:`csv_cell`),
GraphML holds only characters XML can, and every DOT string is quoted and escaped, with
control characters made visible, so no log value ends a statement or adds one.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import networkx as nx
import orjson
from sqlalchemy import Engine

from proctrail.app.export import csv_cell
from proctrail.app.redact import Redactor, redact_record
from proctrail.store.graph import process_graph, session_tree
from proctrail.store.images import image_name
from proctrail.store.queries import process_summaries
from proctrail.store.queries.timeline import (
    COLUMNS,
    TABLES,
    host_names,
    table_columns,
    table_rows,
    timeline,
)
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import iso

WHAT = ("timeline", "table", "graph")
GRAPH_FORMATS = ("graphml", "dot")
ROW_FORMATS = ("jsonl", "csv")


def export_more(args: argparse.Namespace, engine: Engine) -> int:
    """Run ``export timeline``, ``export table NAME`` or ``export graph``; the exit status."""
    from proctrail.app.cli import EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, _error, _redactor

    graph = args.what == "graph"
    fmt = args.format or ("graphml" if graph else "jsonl")
    allowed = GRAPH_FORMATS if graph else ROW_FORMATS
    if fmt not in allowed:
        _error(f"export {args.what}: --format is one of {', '.join(allowed)}, not {fmt}")
        return EXIT_USAGE
    if args.what == "table" and args.name not in TABLES:
        given = f"unknown table {args.name!r}" if args.name else "name a table"
        _error(f"export table: {given}; one of {', '.join(TABLES)}")
        return EXIT_USAGE
    if args.what != "table" and args.name:
        _error(f"export {args.what} takes no NAME (given {args.name!r})")
        return EXIT_USAGE
    if graph and (args.session is None) == (args.host is None):
        _error("export graph: give --session ID or --host H (one of them)")
        return EXIT_USAGE
    try:
        redactor = _redactor(args)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    if graph:
        tree = process_tree(engine, session=args.session, host=args.host, redactor=redactor)
        if tree.number_of_nodes() == 0:
            _error("nothing to export (no such session or host, or no processes)")
            return EXIT_SKIPPED
        with _output(args.out) as out:
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
    if redactor is not None:
        records = (redact_record(r, redactor, masked) for r in records)
    with _output(args.out) as out:
        write_rows(out, records, columns, fmt)
    return EXIT_OK


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[Any]:
    """``path`` to write (exact text), else standard output (shown harmlessly when it is
    a terminal)."""
    from proctrail.app.cli import _TerminalText

    if path:
        with open(path, "w", newline="", encoding="utf-8") as f:
            yield f
        return
    yield _TerminalText(sys.stdout) if sys.stdout.isatty() else sys.stdout


def _json_default(value: object) -> object:
    return str(value)


def write_rows(out: IO[str] | Any, records: Iterable[dict[str, Any]], columns: list[str],
               fmt: str) -> int:
    """``records`` as JSON lines or CSV (a header of ``columns``, formula-safe cells);
    returns how many."""
    n = 0
    if fmt == "jsonl":
        for n, record in enumerate(records, 1):  # noqa: B007
            out.write(orjson.dumps(record, default=_json_default).decode() + "\n")
        return n
    writer = csv.writer(out)
    writer.writerow(columns)
    for n, record in enumerate(records, 1):  # noqa: B007
        writer.writerow([csv_cell(_cell(record.get(c))) for c in columns])
    return n


def _cell(value: object) -> object:
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return value


# --- graphs -------------------------------------------------------------------------

def process_tree(engine: Engine, session: int | None = None, host: str | None = None,
                 redactor: Redactor | None = None) -> nx.DiGraph:
    """One session's (or host's) process tree, edges parent → child, each node (the
    process id) with ``image, pid, user, command_line, start, end, flags, host, session``
    (an unknown time, or no session, is left out)."""
    forest = process_graph(engine, host=host)
    shown = session_tree(forest, session) if session is not None else forest
    info = process_summaries(engine, list(shown))
    hosts = host_names(engine)
    tree = nx.DiGraph()
    tree.graph["name"] = f"proctrail session {session}" if session is not None \
        else f"proctrail host {host}"
    for node, data in shown.nodes(data=True):
        p = info.get(node, {})
        command = p.get("command_line") or ""
        if redactor is not None:
            command = redactor(command)
        attrs: dict[str, Any] = {
            "image": p.get("image") or "", "pid": p.get("pid"), "user": p.get("user") or "",
            "command_line": command, "start": iso(p.get("start_us")),
            "end": iso(p.get("end_us")), "flags": ",".join(p.get("flags") or ()),
            "host": hosts.get(data.get("host"), ""), "session": data.get("session")}
        tree.add_node(node, **{k: v for k, v in attrs.items() if v is not None})
    tree.add_edges_from(shown.edges())
    return tree


# Characters XML 1.0 cannot hold (and CR, which XML readers turn into LF): written as \xNN.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value: object) -> object:
    """A string with what XML cannot hold written as ``\\xNN`` (anything else as is)."""
    if not isinstance(value, str):
        return value
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", value)


def graphml_text(tree: nx.DiGraph) -> str:
    """``tree`` as GraphML (``networkx.write_graphml``), every string XML can hold."""
    clean = nx.DiGraph()
    clean.graph.update({k: xml_safe(v) for k, v in tree.graph.items()})
    for node, data in tree.nodes(data=True):
        clean.add_node(node, **{k: xml_safe(v) for k, v in data.items()})
    clean.add_edges_from(tree.edges())
    return "\n".join(nx.generate_graphml(clean)) + "\n"


def dot_string(value: object, label: bool = False) -> str:
    """``value`` as a DOT quoted string: control and invisible characters made visible
    (``\\x1b``), backslashes and quotes escaped; in a label, ``&`` too (Graphviz reads
    entities there)."""
    text = printable("" if value is None else value).replace("\\", "\\\\").replace('"', '\\"')
    if label:
        text = text.replace("&", "&amp;")
    return f'"{text}"'


def _label(*lines: str) -> str:
    """A DOT label of several lines: each escaped, joined by Graphviz's ``\\n``."""
    return '"' + "\\n".join(dot_string(line, label=True)[1:-1] for line in lines) + '"'


DOT_ATTRS = ("image", "pid", "user", "command_line", "start", "end", "flags", "host",
             "session")


def to_dot(tree: nx.DiGraph) -> Iterator[str]:
    """``tree`` as DOT text, one statement a line; every ID and value a quoted string."""
    yield "digraph proctrail {\n"
    yield f"  graph [label={dot_string(tree.graph.get('name', 'proctrail'), label=True)}];\n"
    yield '  node [shape="box", fontname="monospace"];\n'
    for node in sorted(tree):
        d = tree.nodes[node]
        label = _label(f"{image_name(d.get('image') or '')} ({pid_text(d.get('pid'))})",
                       d.get("user") or "-", f"{d.get('start') or '?'} → {d.get('end') or '?'}")
        attrs = [f"label={label}"] + [f"{k}={dot_string(d[k])}" for k in DOT_ATTRS if k in d]
        yield f"  {dot_string(node)} [{', '.join(attrs)}];\n"
    for parent, child in sorted(tree.edges()):
        yield f"  {dot_string(parent)} -> {dot_string(child)};\n"
    yield "}\n"
