"""The case as one timeline (process starts and ends, what processes did, logons,
logoffs, findings, in time order, Timesketch's columns), any table as plain rows, and
what a graph export needs.

Everything streams: each kind of row is read by its own query in time order
(``yield_per``) and the streams are merged, so a case of a million lifetimes is written
in flat memory. Rows whose time is unknown (placeholders, an end never logged) have no
place on a timeline and are left out.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from proctrail.store.hosts import Machine, join_machine, machine_ids, on_host
from proctrail.store.images import image_name
from proctrail.store.models import Activity, Base, Host, LogonSession, Process
from proctrail.store.queries.findings import list_findings
from proctrail.store.text import pid_text, printable
from proctrail.store.timefmt import iso, span

BATCH = 2000  # rows fetched at a time from each stream

# Every timeline row has these keys, in this order (CSV columns; JSON keys).
COLUMNS = ("message", "datetime", "timestamp", "timestamp_desc", "host", "user", "pid",
           "image", "command_line", "parent_image", "parent_pid", "logon_id", "session_id",
           "process_id", "logon_type", "source_ip", "workstation", "exit_status", "flags",
           "finding_id", "severity", "note", "rule", "kind", "tag")

MESSAGE_MAX = 300  # characters of a command line or note in the one-line message

# The tables ``export table`` writes, as the store names them.
TABLES = ("events", "sources", "hosts", "channels", "processes", "sessions",
          "process_sources", "anomalies", "findings", "baselines", "baseline_entries",
          "case_meta", "source_damage", "activity")


def _short(text: object, limit: int = MESSAGE_MAX) -> str:
    """Log text for a one-line message: control characters visible, cut at ``limit``."""
    out = printable("" if text is None else text)
    return out if len(out) <= limit else out[:limit] + "…"


def _row(ts: int, desc: str, message: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(message=message, datetime=iso(ts), timestamp=ts, timestamp_desc=desc)
    row.update(fields)
    return row


def _host_clause(query: Any, column: Any, host: str | None) -> Any:
    if host is None:
        return query
    return query.where(on_host(column, host))


def _processes(conn: Connection, host: str | None, end: bool) -> Iterator[tuple]:
    """Process starts (or ends) in time order, as (time, rank, id, row)."""
    parent = Process.__table__.alias("parent")
    ts = Process.end_us if end else Process.start_us
    query = (
        join_machine(
            select(Process.id, Process.pid, Process.image, Process.command_line, Process.user,
                   Process.end_user, Process.logon_id, Process.session_id, Process.start_us,
                   Process.end_us, Process.exit_status, Process.flags, Process.parent_pid,
                   Process.parent_image, Machine.name.label("host"),
                   parent.c.image.label("p_image"), parent.c.pid.label("p_pid")),
            Process.host_id)
        .outerjoin(parent, parent.c.id == Process.parent_id)
        .where(ts.is_not(None))
        .order_by(ts, Process.id)
    )
    query = _host_clause(query, Process.host_id, host)
    rank = 3 if end else 1
    for r in conn.execute(query.execution_options(yield_per=BATCH)):
        parent_image = r.p_image or r.parent_image
        parent_pid = r.parent_pid if r.parent_pid is not None else r.p_pid
        user = (r.end_user or r.user) if end else r.user
        fields = {"host": r.host, "user": user, "pid": r.pid, "image": r.image,
                  "command_line": r.command_line, "parent_image": parent_image,
                  "parent_pid": parent_pid, "logon_id": r.logon_id,
                  "session_id": r.session_id, "process_id": r.id,
                  "exit_status": r.exit_status, "flags": r.flags}
        who = f"{_short(r.host)} {_short(user) or '?'}"
        name = _short(image_name(r.image) or r.image or "?")
        if end:
            after = (f" after {span(r.end_us - r.start_us)}"
                     if r.start_us is not None else "")
            status = f", exit status {_short(r.exit_status)}" if r.exit_status else ""
            message = f"{who} {name} (pid {pid_text(r.pid)}) ended{after}{status}"
            yield r.end_us, rank, r.id, _row(r.end_us, "Process End", message, **fields)
        else:
            by = f" by {_short(image_name(parent_image) or parent_image)}" \
                if parent_image else ""
            message = f"{who} started {name} (pid {pid_text(r.pid)}){by}: {_short(r.command_line)}"
            yield r.start_us, rank, r.id, _row(r.start_us, "Process Start", message, **fields)


def _sessions(conn: Connection, host: str | None, end: bool) -> Iterator[tuple]:
    """Logons (or logoffs) with their event, in time order, as (time, rank, id, row)."""
    s = LogonSession
    ts, event = (s.end_us, s.logoff_event) if end else (s.start_us, s.logon_event)
    query = (
        join_machine(select(s.id, s.logon_id, s.user, s.logon_type, s.source_ip,
                            s.workstation, s.start_us, s.end_us, s.flags, s.elevated,
                            Machine.name.label("host")), s.host_id)
        .where(ts.is_not(None), event.is_not(None))
        .order_by(ts, s.id)
    )
    query = _host_clause(query, s.host_id, host)
    rank = 4 if end else 0
    for r in conn.execute(query.execution_options(yield_per=BATCH)):
        fields = {"host": r.host, "user": r.user, "logon_id": r.logon_id, "session_id": r.id,
                  "logon_type": r.logon_type, "source_ip": r.source_ip,
                  "workstation": r.workstation, "flags": r.flags}
        where = f"logon id {_short(r.logon_id)}"
        if end:
            after = f", after {span(r.end_us - r.start_us)}" if r.start_us is not None else ""
            message = f"{_short(r.host)} logoff of {_short(r.user) or '?'} ({where}{after})"
            yield r.end_us, rank, r.id, _row(r.end_us, "Logoff", message, **fields)
        else:
            kind = f", type {_short(r.logon_type)}" if r.logon_type else ""
            src = f" from {_short(r.source_ip)}" if r.source_ip and r.source_ip != "-" else ""
            admin = ", elevated" if r.elevated else ""
            message = (f"{_short(r.host)} logon of {_short(r.user) or '?'} "
                       f"({where}{kind}{src}{admin})")
            yield r.start_us, rank, r.id, _row(r.start_us, "Logon", message, **fields)


def _findings(engine: Engine, host: str | None) -> Iterator[tuple]:
    """Findings at the time of what they mark, as (time, rank, id, row)."""
    names = None
    if host is not None:  # the machine(s) ``host`` spells, by the name findings show
        with engine.connect() as conn:
            names = set(conn.execute(
                select(Machine.name).select_from(Host)
                .join(Machine, Machine.id == func.coalesce(Host.alias_of, Host.id))
                .where(on_host(Host.id, host))).scalars())
    found = [f for f in list_findings(engine) if names is None or f.host in names]
    procs: dict[int, Any] = {}
    sessions: dict[int, Any] = {}
    pids = sorted({f.process_id for f in found if f.process_id is not None})
    sids = sorted({f.session_id for f in found if f.session_id is not None})
    with engine.connect() as conn:
        for i in range(0, len(pids), 500):
            for r in conn.execute(select(Process.id, Process.pid, Process.image,
                                         Process.command_line, Process.user,
                                         Process.logon_id, Process.session_id,
                                         Process.start_us, Process.end_us)
                                  .where(Process.id.in_(pids[i:i + 500]))):
                procs[r.id] = r
        for i in range(0, len(sids), 500):
            for r in conn.execute(select(LogonSession.id, LogonSession.user,
                                         LogonSession.logon_id, LogonSession.start_us,
                                         LogonSession.end_us)
                                  .where(LogonSession.id.in_(sids[i:i + 500]))):
                sessions[r.id] = r
    rows = []
    for f in found:
        p = procs.get(f.process_id) if f.process_id is not None else None
        s = sessions.get(f.session_id) if f.session_id is not None else None
        ts = f.time_us
        if ts is None and p is not None:
            ts = p.start_us if p.start_us is not None else p.end_us
        if ts is None and s is not None:
            ts = s.start_us if s.start_us is not None else s.end_us
        if ts is None:
            continue
        fields: dict[str, Any] = {"host": f.host, "finding_id": f.id, "severity": f.severity,
                                  "note": f.note, "rule": f.rule_id, "kind": f.kind,
                                  # Timesketch reads a list here as labels
                                  "tag": [*f.techniques, *f.tactics]}
        if p is not None:
            fields |= {"user": p.user, "pid": p.pid, "image": p.image,
                       "command_line": p.command_line, "logon_id": p.logon_id,
                       "session_id": p.session_id, "process_id": p.id}
            what = f"{_short(image_name(p.image) or p.image or '?')} (pid {pid_text(p.pid)})"
        elif s is not None:
            fields |= {"user": s.user, "logon_id": s.logon_id, "session_id": s.id}
            what = f"logon session of {_short(s.user) or '?'} ({_short(s.logon_id)})"
        else:
            what = f.target
        note = f": {_short(f.note)}" if f.note else ""
        message = f"{_short(f.host)} finding [{f.severity}] on {what}{note}"
        rows.append((ts, 2, f.id, _row(ts, f"Finding: {f.severity}", message, **fields)))
    rows.sort(key=lambda r: r[:3])
    yield from rows


def _activity(conn: Connection, host: str | None) -> Iterator[tuple]:
    """What processes did, in time order, as (time, rank, id, row): each line names its
    process (``process_id``) and its kind; a process access or remote thread is told once,
    on the process that did it (its target's own row is the same record)."""
    from proctrail.store.queries.activity import ActivityRow

    query = (
        join_machine(
            select(Activity.id, Activity.process_id, Activity.event_pk, Activity.ts_us,
                   Activity.kind, Activity.direction, Activity.protocol, Activity.src_addr,
                   Activity.src_port, Activity.dst_addr, Activity.dst_port,
                   Activity.hostname, Activity.path, Activity.target_process_id,
                   Activity.access, Activity.detail, Process.pid, Process.image,
                   Process.user, Machine.name.label("host")),
            Activity.host_id)
        .join(Process, Process.id == Activity.process_id)
        .where(Activity.ts_us.is_not(None),
               ~(Activity.kind.in_(("remote_thread", "process_access"))
                 & (Activity.direction == "in")))
        .order_by(Activity.ts_us, Activity.id)
    )
    query = _host_clause(query, Activity.host_id, host)
    for r in conn.execute(query.execution_options(yield_per=BATCH)):
        act = ActivityRow(*r[1:16])
        name = _short(image_name(r.image) or r.image or "?")
        message = (f"{_short(r.host)} {_short(r.user) or '?'} {name} (pid {pid_text(r.pid)}) "
                   f"{act.label}: {_short(act.summary())}")
        # After starts (1), before findings (2): a rank of its own, so ids never tie.
        yield r.ts_us, 1.5, r.id, _row(r.ts_us, f"Activity: {act.label}", message,
                                     host=r.host, user=r.user, pid=r.pid, image=r.image,
                                     process_id=r.process_id, kind=r.kind)


def timeline(engine: Engine, host: str | None = None) -> Iterator[dict[str, Any]]:
    """Every process start and end, what processes did, logon and logoff, and finding of
    the case (one host's, if named) with a known time, in time order: dicts with
    :data:`COLUMNS`."""
    with engine.connect() as conn:
        streams = [_sessions(conn, host, end=False), _processes(conn, host, end=False),
                   _activity(conn, host),
                   _findings(engine, host), _processes(conn, host, end=True),
                   _sessions(conn, host, end=True)]
        for _ts, _rank, _id, row in heapq.merge(*streams, key=lambda r: r[:3]):
            yield row


def table_rows(engine: Engine, name: str) -> Iterator[dict[str, Any]]:
    """Every row of store table ``name`` (one of :data:`TABLES`), in primary-key order,
    with values as the models give them (log text decoded)."""
    if name not in TABLES:
        raise KeyError(name)
    table = Base.metadata.tables[name]
    query = select(table).order_by(*table.primary_key.columns)
    with engine.connect() as conn:
        for row in conn.execute(query.execution_options(yield_per=BATCH)):
            yield dict(row._mapping)


def table_columns(name: str) -> list[str]:
    """The column names of store table ``name``."""
    return [c.name for c in Base.metadata.tables[name].columns]


def host_names(engine: Engine) -> dict[int, str]:
    """Host ids to the names of their machines (an alias's id to its machine's name)."""
    with engine.connect() as conn:
        names = {r.id: r.name for r in conn.execute(select(Host.id, Host.name))}
        return {host_id: names[machine] for host_id, machine in machine_ids(conn).items()}
