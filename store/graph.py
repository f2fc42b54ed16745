"""networkx views over the stored process lifetimes.

Nodes are process ids and carry only their host and session (details stay in the
store and are read through :mod:`proctrail.store.queries`), so a case with a million
lifetimes fits in memory; edges run parent -> child.
"""

from __future__ import annotations

import networkx as nx
from sqlalchemy import Engine, select

from proctrail.store.hosts import on_host
from proctrail.store.models import Process


def process_graph(engine: Engine, host: str | None = None) -> nx.DiGraph:
    """The case's process forest (one machine's, if named: any spelling of its name)."""
    graph = nx.DiGraph()
    query = select(Process.id, Process.parent_id, Process.host_id, Process.session_id)
    if host is not None:
        query = query.where(on_host(Process.host_id, host))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    for pid, _parent, host_id, session_id in rows:
        graph.add_node(pid, host=host_id, session=session_id)
    for pid, parent, _host, _session in rows:
        if parent is not None and parent in graph:
            graph.add_edge(parent, pid)
    return graph


def subtree(graph: nx.DiGraph, node: int) -> nx.DiGraph:
    """``node`` and everything it started, transitively."""
    return graph.subgraph({node} | nx.descendants(graph, node))


def session_tree(graph: nx.DiGraph, session_id: int) -> nx.DiGraph:
    """The processes of one logon session; roots are those whose parent lies outside it."""
    return graph.subgraph(n for n, s in graph.nodes(data="session") if s == session_id)


def roots(graph: nx.DiGraph) -> list[int]:
    """Nodes with no parent in ``graph``, in id order."""
    return sorted(n for n in graph if graph.in_degree(n) == 0)
