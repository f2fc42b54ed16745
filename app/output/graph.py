"""A process tree for other tools: GraphML (through networkx) or DOT.

Log text is attacker-controlled: GraphML holds only characters XML can, and every DOT
string is quoted and escaped, with control characters made visible, so no log value
ends a statement or adds one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import networkx as nx
from sqlalchemy import Engine

from proctrail.app.redact import Redactor
from proctrail.store.graph import process_graph, session_tree
from proctrail.store.images import image_name
from proctrail.store.queries import process_summaries
from proctrail.store.queries.timeline import host_names
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import iso


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
