"""The screens' reads: overview, sessions, tree levels, one process in full, search, stacking.

Every function takes an engine and returns plain values (dataclasses, dicts, lists), so
screens can call them from worker threads and widgets never see SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Engine, Select, and_, func, or_, select
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import aliased

from proctrail.store.correlate.remote import remote_summary
from proctrail.store.hosts import Machine, host_names, join_machine, machine_ids, on_host
from proctrail.store.images import image_name
from proctrail.store.models import (
    GENERATION,
    Anomaly,
    CaseMeta,
    Channel,
    EventRow,
    Finding,
    Host,
    LogonSession,
    Process,
    ProcessSource,
    Source,
)
from proctrail.store.queries.export import uncorrelated_events
from proctrail.store.queries.filters import Filter
from proctrail.store.queries.findings import findings_for_process, resolve_process_findings
from proctrail.store.text import pid_text


@dataclass(frozen=True, slots=True)
class ProcRow:
    """One lifetime as a tree line or table row shows it."""

    id: int
    host: str
    pid: int | None
    image: str
    user: str
    start_us: int | None
    end_us: int | None
    flags: tuple[str, ...]
    children: int
    command_line: str = ""
    session_id: int | None = None
    parent_id: int | None = None
    findings: int = 0

    @property
    def name(self) -> str:
        """The image's file name (``powershell.exe``), or ``?`` when unknown."""
        return image_name(self.image)

    @property
    def title(self) -> str:
        """``cmd.exe (4242) on WS01``: how a bookmark names it."""
        return f"{self.name} ({pid_text(self.pid)}) on {self.host}"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One logon session as the sessions table shows it."""

    id: int
    host: str
    logon_id: str
    user: str
    logon_type: str
    source_ip: str
    workstation: str
    start_us: int | None
    end_us: int | None
    elevated: bool
    processes: int
    flags: tuple[str, ...]
    remote: str = ""  # how it came in, one plain line (remote_summary): log text, unescaped


@dataclass
class Overview:
    """The case at a glance."""

    hosts: list[dict[str, Any]]
    events: int
    processes: int
    sessions: int
    first_us: int | None
    last_us: int | None
    anomalies: dict[str, int]
    flags: dict[str, int]
    findings: int
    failed_sources: int
    skipped: int
    uncorrelated: int = 0  # events stored after the last correlation (another analyst's)


@dataclass
class ProcessDetail:
    """Everything known of one lifetime."""

    row: ProcRow
    fields: dict[str, Any]
    session: SessionRow | None
    chain: list[ProcRow]  # parent first, up to the root
    children: list[ProcRow]
    token_changes: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    findings: list[dict[str, Any]] = field(default_factory=list)


def _flags(text: str) -> tuple[str, ...]:
    return tuple(f for f in text.split(",") if f)


_child = aliased(Process)
_CHILDREN = (select(func.count()).select_from(_child)
             .where(_child.parent_id == Process.id).correlate(Process).scalar_subquery())


def _proc_query() -> Select[Any]:
    return join_machine(
        select(Process.id, Machine.name, Process.pid, Process.image, Process.user,
               Process.start_us, Process.end_us, Process.flags, _CHILDREN.label("n"),
               Process.command_line, Process.session_id, Process.parent_id),
        Process.host_id)


def _proc_rows(engine: Engine, query: Select[Any]) -> list[ProcRow]:
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    marked = finding_counts(engine, [r[0] for r in rows])
    return [ProcRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _flags(r[7]), r[8], r[9], r[10],
                    r[11], marked.get(r[0], 0)) for r in rows]


def _ordered(query: Select[Any]) -> Select[Any]:
    return query.order_by(Process.start_us.is_(None).desc(), Process.start_us, Process.pid,
                          Process.id)


def overview(engine: Engine) -> Overview:
    """Machines with their spans and counts (a machine logged under several names once,
    by its canonical name, with ``aliases``, counting the events of every spelling),
    totals, anomalies, flags, findings."""
    with engine.connect() as conn:
        names = host_names(conn)
        machine = machine_ids(conn)
        hosts = [{"id": host_id, "name": spellings[0], "aliases": spellings[1:],
                  "first_us": None, "last_us": None, "events": 0, "processes": 0,
                  "sessions": 0} for host_id, spellings in names.items()]
        by_id = {h["id"]: h for h in hosts}
        for host_id in sorted(machine):
            first, last, events = conn.execute(
                select(func.min(EventRow.ts_us), func.max(EventRow.ts_us), func.count())
                .where(EventRow.host_id == host_id)).one()
            procs = conn.execute(select(func.count()).select_from(Process)
                                 .where(Process.host_id == host_id)).scalar_one()
            sessions = conn.execute(select(func.count()).select_from(LogonSession)
                                    .where(LogonSession.host_id == host_id)).scalar_one()
            h = by_id[machine[host_id]]
            h["first_us"] = min((t for t in (h["first_us"], first) if t is not None),
                                default=None)
            h["last_us"] = max((t for t in (h["last_us"], last) if t is not None),
                               default=None)
            h["events"] += events
            h["processes"] += procs
            h["sessions"] += sessions
        anomalies = dict(conn.execute(select(Anomaly.kind, func.count())
                                      .group_by(Anomaly.kind).order_by(Anomaly.kind)).all())
        flags: Counter[str] = Counter()
        for text, n in conn.execute(select(Process.flags, func.count())
                                    .where(Process.flags != "").group_by(Process.flags)):
            for flag in _flags(text):
                flags[flag] += n
        findings = conn.execute(select(func.count()).select_from(Finding)).scalar_one()
        failed, skipped = conn.execute(
            select(func.count().filter(Source.status == "failed"),
                   func.coalesce(func.sum(Source.skipped), 0))).one()
        uncorrelated = uncorrelated_events(conn)
    return Overview(
        hosts=hosts, events=sum(h["events"] for h in hosts),
        processes=sum(h["processes"] for h in hosts),
        sessions=sum(h["sessions"] for h in hosts),
        first_us=min((h["first_us"] for h in hosts if h["first_us"] is not None), default=None),
        last_us=max((h["last_us"] for h in hosts if h["last_us"] is not None), default=None),
        anomalies=anomalies, flags=dict(sorted(flags.items())), findings=findings,
        failed_sources=failed, skipped=int(skipped), uncorrelated=uncorrelated)



def anomaly_rows(engine: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    """Integrity anomalies (one kind, or all) in host and time order."""
    query = (join_machine(select(Anomaly.id, Machine.name, Channel.name.label("channel"),
                                 Anomaly.kind, Anomaly.start_us, Anomaly.end_us,
                                 Anomaly.detail), Anomaly.host_id)
             .outerjoin(Channel, Channel.id == Anomaly.channel_id)
             .order_by(Machine.key, Anomaly.start_us, Anomaly.id))
    if kind:
        query = query.where(Anomaly.kind == kind)
    with engine.connect() as conn:
        return [{"id": r.id, "host": r.name, "channel": r.channel or "", "kind": r.kind,
                 "start_us": r.start_us, "end_us": r.end_us, "detail": r.detail}
                for r in conn.execute(query)]


def session_rows(engine: Engine, flt: Filter | None = None) -> list[SessionRow]:
    """Logon sessions with their process counts, narrowed by ``flt``."""
    count = (select(func.count()).select_from(Process)
             .where(Process.session_id == LogonSession.id).scalar_subquery())
    query = (join_machine(select(LogonSession, Machine.name, count.label("n")),
                          LogonSession.host_id)
             .order_by(Machine.key, LogonSession.start_us.is_(None).desc(),
                       LogonSession.start_us, LogonSession.logon_id, LogonSession.id))
    for cond in (flt or Filter()).sessions():
        query = query.where(cond)
    with OrmSession(engine) as orm:
        return [_session_row(r[0], r[1], r[2]) for r in orm.execute(query)]


def _session_row(s: LogonSession, host: str, n: int) -> SessionRow:
    return SessionRow(s.id, host, s.logon_id, s.user, s.logon_type, s.source_ip,
                      s.workstation, s.start_us, s.end_us, bool(s.elevated), n, _flags(s.flags),
                      remote_summary(s.remote))


def session_row(engine: Engine, session_id: int) -> SessionRow | None:
    """One session, or None."""
    count = (select(func.count()).select_from(Process)
             .where(Process.session_id == LogonSession.id).scalar_subquery())
    with OrmSession(engine) as orm:
        r = orm.execute(join_machine(select(LogonSession, Machine.name, count),
                                     LogonSession.host_id)
                        .where(LogonSession.id == session_id)).first()
    return _session_row(r[0], r[1], r[2]) if r else None


def session_roots(engine: Engine, session_id: int, flt: Filter | None = None,
                  offset: int = 0, limit: int | None = None) -> list[ProcRow]:
    """The processes of a session whose parent is outside it (or unknown), in start order
    (``limit`` of them from ``offset``)."""
    parent = aliased(Process)
    query = (_proc_query().outerjoin(parent, parent.id == Process.parent_id)
             .where(Process.session_id == session_id,
                    or_(Process.parent_id.is_(None), parent.session_id.is_(None),
                        parent.session_id != session_id)))
    for cond in (flt or Filter()).processes():
        query = query.where(cond)
    return _proc_rows(engine, _ordered(query).offset(offset).limit(limit))


# Images that start a machine (Windows' boot chain, Linux's first processes): a root of
# the host's tree even when only their children's events name them.
BOOT_CHAIN = ("system", "registry", "smss.exe", "csrss.exe", "wininit.exe", "winlogon.exe",
              "services.exe", "lsass.exe", "lsaiso.exe", "memcompression", "secure system",
              "memory compression", "systemd", "init", "kthreadd")
BOOT_PIDS = (0, 1, 4)  # Idle and System on Windows (no PID is odd there), init on Linux


@dataclass(frozen=True, slots=True)
class RootGroup:
    """One group of a host tree's top level: its key, what it holds, how many."""

    key: str  # started | placeholder | orphan
    title: str
    count: int


ROOT_GROUPS = {
    "started": "roots: boot chain and starts in the logs",
    "placeholder": "placeholders: known from their children or others' access",
    "orphan": "orphans: start not in the logs",
}


def _in_root_group(group: str) -> ColumnElement[bool]:
    """Which of a host's parentless processes belong to ``group`` (see :data:`ROOT_GROUPS`):
    the boot chain and processes whose start is logged, then placeholders, then the rest
    (seen only by their end or by what they did)."""
    image = func.lower(Process.image)
    boot = or_(Process.pid.in_(BOOT_PIDS), *(cond for name in BOOT_CHAIN for cond in (
        image == name, image.endswith("\\" + name), image.endswith("/" + name))))
    placeholder = ("," + Process.flags + ",").contains(",placeholder,")
    started = or_(boot, and_(Process.start_us.is_not(None), ~placeholder))
    if group == "started":
        return started
    if group == "placeholder":
        return and_(~started, placeholder)
    return and_(~started, ~placeholder)


# When a root's first child started: the time order of roots whose own start is unknown.
_FIRST_CHILD = (select(func.min(_child.start_us)).where(_child.parent_id == Process.id)
                .correlate(Process).scalar_subquery())


def _host_roots_query(host: str, flt: Filter | None, group: str | None) -> Select[Any]:
    query = _proc_query().where(on_host(Process.host_id, host), Process.parent_id.is_(None))
    if group is not None:
        query = query.where(_in_root_group(group))
    for cond in (flt or Filter()).processes():
        query = query.where(cond)
    return query


def host_root_groups(engine: Engine, host: str, flt: Filter | None = None) -> list[RootGroup]:
    """The groups of a host's top level that hold processes, in the order a tree shows
    them, each counted."""
    out = []
    with engine.connect() as conn:
        for key, title in ROOT_GROUPS.items():
            query = _host_roots_query(host, flt, key).with_only_columns(func.count())
            count = conn.execute(query.order_by(None)).scalar() or 0
            if count:
                out.append(RootGroup(key, title, count))
    return out


def host_roots(engine: Engine, host: str, flt: Filter | None = None, offset: int = 0,
               limit: int | None = None, group: str | None = None) -> list[ProcRow]:
    """The processes of a host (any spelling of a machine's name: the whole machine) with
    no parent, in time order (a page of them); ``group`` narrows them to one of
    :data:`ROOT_GROUPS`. A root whose start is unknown sits at its first child's start,
    or else at its end."""
    when = func.coalesce(Process.start_us, _FIRST_CHILD, Process.end_us)
    query = _host_roots_query(host, flt, group).order_by(
        when.is_(None), when, Process.pid, Process.id)
    return _proc_rows(engine, query.offset(offset).limit(limit))


def children(engine: Engine, process_id: int, offset: int = 0,
             limit: int | None = None) -> list[ProcRow]:
    """The processes ``process_id`` started, in start order (a page of them)."""
    return _proc_rows(engine, _ordered(_proc_query().where(Process.parent_id == process_id))
                      .offset(offset).limit(limit))


def descendants(engine: Engine, process_id: int, limit: int = 5000
                ) -> dict[int, list[ProcRow]]:
    """Children of ``process_id`` and of theirs, level by level, up to about ``limit``
    rows: ``{parent id: [child rows]}``."""
    out: dict[int, list[ProcRow]] = {}
    for page in descendant_pages(engine, process_id):
        out.update(page)
        if sum(map(len, out.values())) >= limit:
            break
    return out


def descendant_pages(engine: Engine, process_id: int, parents: int = 200
                     ) -> Iterator[dict[int, list[ProcRow]]]:
    """The descendants of ``process_id`` a few parents at a time, level by level (top
    first): ``{parent id: [child rows]}`` for up to ``parents`` parents a page, a parent
    with no children included (empty). A caller stops reading when it has enough; a
    lifetime is given once even if the data loops."""
    seen = {process_id}
    level = [process_id]
    while level:
        following: list[int] = []
        for start in range(0, len(level), parents):
            chunk = level[start:start + parents]
            page: dict[int, list[ProcRow]] = {parent: [] for parent in chunk}
            for row in _proc_rows(engine, _ordered(_proc_query()
                                                   .where(Process.parent_id.in_(chunk)))):
                if row.parent_id is None or row.id in seen:
                    continue
                seen.add(row.id)
                page[row.parent_id].append(row)
                if row.children:
                    following.append(row.id)
            yield page
        level = following


def generation(engine: Engine) -> int:
    """How many correlations have rebuilt the case's processes and sessions (0: none)."""
    with engine.connect() as conn:
        value = conn.execute(select(CaseMeta.value).where(CaseMeta.key == GENERATION)
                             ).scalar()
    return int(value or 0)


def proc_row(engine: Engine, process_id: int) -> ProcRow | None:
    """One lifetime as a row, or None."""
    rows = _proc_rows(engine, _proc_query().where(Process.id == process_id))
    return rows[0] if rows else None


def chain(engine: Engine, process_id: int, limit: int = 256) -> list[ProcRow]:
    """``[process, parent, ..., root]``; stops at a loop or after ``limit`` steps."""
    out: list[ProcRow] = []
    seen: set[int] = set()
    current: int | None = process_id
    while current is not None and current not in seen and len(out) < limit:
        row = proc_row(engine, current)
        if row is None:
            break
        out.append(row)
        seen.add(current)
        current = row.parent_id
    return out


ACTIVITY_SOURCES = 100  # a busy process's activity events in its detail: the first this many


def process_detail(engine: Engine, process_id: int) -> ProcessDetail | None:
    """Every field of one lifetime, its session, parent chain, children, token changes,
    the raw events behind it (with their fields; of its activity the first
    :data:`ACTIVITY_SOURCES`, :mod:`.activity` reads it all) and the findings on it."""
    lineage = chain(engine, process_id)
    if not lineage:
        return None
    row = lineage[0]
    with OrmSession(engine) as conn:
        p = conn.execute(select(Process).where(Process.id == process_id)).scalar_one()
        fields = {c.name: getattr(p, c.name) for c in Process.__table__.columns}
        acts = 0
        sources = []
        for r in conn.execute(
                select(ProcessSource.role, EventRow.id, Channel.name.label("channel"),
                       EventRow.event_id, EventRow.record_id, EventRow.ts_us, EventRow.data,
                       Source.path, Source.member)
                .join(EventRow, EventRow.id == ProcessSource.event_pk)
                .join(Channel, Channel.id == EventRow.channel_id)
                .join(Source, Source.id == EventRow.source_id)
                .where(ProcessSource.process_id == process_id)
                .order_by(EventRow.ts_us, EventRow.record_id)):
            if r.role == "activity":
                acts += 1
                if acts > ACTIVITY_SOURCES:
                    continue
            sources.append(
                {"role": r.role, "event_pk": r.id, "channel": r.channel,
                 "event_id": r.event_id, "record_id": r.record_id, "ts_us": r.ts_us,
                 "file": f"{r.path}!{r.member}" if r.member else r.path,
                 "fields": orjson.loads(r.data)})
    return ProcessDetail(
        row=row, fields=fields,
        session=session_row(engine, row.session_id) if row.session_id else None,
        chain=lineage[1:], children=children(engine, process_id),
        token_changes=orjson.loads(p.token_changes) if p.token_changes else [],
        sources=sources, findings=findings_for_process(engine, process_id))


def search(engine: Engine, text: str, flt: Filter | None = None,
           limit: int = 1000, session_id: int | None = None,
           redactor: Callable[[str], str] | None = None) -> list[ProcRow]:
    """Lifetimes whose image, command line, user or hashes contain ``text`` (any case), or
    whose PID or process GUID is ``text``, or that connected to or resolved ``text`` (an
    address or host name, whole), or whose PowerShell scripts hold it; narrowed by ``flt``
    (and to one session); in host and start order. With ``redactor``, a command line or a
    script matches only as shown (redacted): a search must not read a masked secret one
    character at a time."""
    needle = text.strip().lower()
    query = _proc_query()
    if session_id is not None:
        query = query.where(Process.session_id == session_id)
    for cond in (flt or Filter()).processes():
        query = query.where(cond)

    def found(*conds: Any) -> list[ProcRow]:
        narrowed = query.where(or_(*conds)) if conds else query
        return _proc_rows(engine, _ordered(narrowed.order_by(None).order_by(Machine.key))
                          .limit(limit))

    if not needle:
        return found()
    conds = [func.lower(col).contains(needle, autoescape=True)
             for col in (Process.image, Process.user, Process.hashes)]
    conds.append(func.lower(Process.process_guid) == needle)
    from proctrail.store.queries.activity import found_by_address, found_by_script

    if " " not in needle:  # an address or host name it connected to or resolved
        conds.append(Process.id.in_(found_by_address(needle)))
    pid = _as_pid(needle)
    if pid is not None:
        conds.append(Process.pid == pid)
    in_command = func.lower(Process.command_line).contains(needle, autoescape=True)
    scripts = found_by_script(needle)
    if redactor is None:
        return found(*conds, in_command,
                     Process.id.in_(scripts.with_only_columns(scripts.selected_columns[0])))
    # Text a screen shows redacted matches only as shown: no secret read a letter at a time.
    rows = {r.id: r for r in found(*conds)}
    rows.update((r.id, r) for r in found(in_command)
                if needle in redactor(r.command_line).lower())
    with engine.connect() as conn:
        shown = {pid for pid, script in conn.execute(scripts.limit(10 * limit))
                 if pid is not None and needle in redactor(script or "").lower()}
    if shown:
        rows.update((r.id, r) for r in found(Process.id.in_(sorted(shown))))
    return sorted(rows.values(), key=lambda r: (r.host.lower(), r.start_us is not None,
                                                r.start_us or 0, r.pid or 0, r.id))[:limit]


def filtered_forest(engine: Engine, flt: Filter, session_id: int | None = None,
                    host: str | None = None, limit: int = 5000
                    ) -> tuple[dict[int | None, list[ProcRow]], int]:
    """The processes of a session (or host) that match ``flt``, with their ancestors in
    the same scope so that each shows where it ran: ``{parent id or None: [rows]}`` and
    how many matched (at most ``limit``)."""
    if host:
        flt = replace(flt, host=host)
    matches = search(engine, "", flt, limit, session_id)
    rows = {r.id: r for r in matches}
    frontier = {r.parent_id for r in matches if r.parent_id is not None} - rows.keys()
    while frontier:
        found: list[ProcRow] = []
        ids = sorted(frontier)
        for start in range(0, len(ids), 500):
            found += _proc_rows(engine, _proc_query().where(Process.id.in_(ids[start:start + 500])))
        frontier = set()
        for r in found:
            if session_id is not None and r.session_id != session_id:
                continue  # the chain leaves the session: its root is the child
            rows[r.id] = r
            if r.parent_id is not None and r.parent_id not in rows:
                frontier.add(r.parent_id)
    forest: dict[int | None, list[ProcRow]] = {}
    for r in sorted(rows.values(), key=lambda r: (r.start_us is not None, r.start_us or 0,
                                                 r.id)):
        forest.setdefault(r.parent_id if r.parent_id in rows else None, []).append(r)
    return forest, len(matches)


def process_count(engine: Engine, session_id: int | None = None, host: str | None = None
                  ) -> int:
    """How many lifetimes a session (or a host, or the case) holds."""
    query = select(func.count()).select_from(Process)
    if session_id is not None:
        query = query.where(Process.session_id == session_id)
    elif host:
        query = query.where(on_host(Process.host_id, host))
    with engine.connect() as conn:
        return conn.execute(query).scalar() or 0


def _as_pid(text: str) -> int | None:
    try:
        return int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        return None


STACKS = {"image": "images", "command_line": "command lines", "parent_child": "parent → child"}


def stack(engine: Engine, what: str, flt: Filter | None = None,
          rarest_first: bool = True, limit: int = 200) -> list[dict[str, Any]]:
    """Frequency of images, command lines or parent → child image pairs across the case:
    ``value``, ``count``, ``hosts`` and ``users`` (distinct), rarest (or commonest) first."""
    parent = aliased(Process)
    if what == "image":
        value = func.lower(Process.image)
    elif what == "command_line":
        value = Process.command_line
    elif what == "parent_child":
        value = func.lower(func.coalesce(parent.image, Process.parent_image, "")) + \
            " → " + func.lower(Process.image)
    else:
        raise ValueError(f"cannot stack {what!r}: use one of {', '.join(STACKS)}")
    n = func.count()
    query = (select(value.label("value"), n.label("n"),
                    func.count(func.distinct(func.coalesce(Host.alias_of, Host.id)))
                    .label("hosts"),
                    func.count(func.distinct(Process.user)).label("users"))
             .join(Host, Host.id == Process.host_id)
             .outerjoin(parent, parent.id == Process.parent_id)
             .group_by(value)
             .order_by(n if rarest_first else n.desc(), value)
             .limit(limit))
    for cond in (flt or Filter()).processes():
        query = query.where(cond)
    with engine.connect() as conn:
        return [{"value": r.value, "count": r.n, "hosts": r.hosts, "users": r.users}
                for r in conn.execute(query)]


def stack_members(engine: Engine, what: str, value: str, limit: int = 1000) -> list[ProcRow]:
    """The lifetimes behind one stacking row."""
    parent = aliased(Process)
    query = _proc_query().outerjoin(parent, parent.id == Process.parent_id)
    if what == "image":
        query = query.where(func.lower(Process.image) == value)
    elif what == "command_line":
        query = query.where(Process.command_line == value)
    else:
        parent_image, _, image = value.partition(" → ")
        query = query.where(
            func.lower(func.coalesce(parent.image, Process.parent_image, "")) == parent_image,
            func.lower(Process.image) == image)
    return _proc_rows(engine, _ordered(query).limit(limit))


def starts_over_time(engine: Engine, buckets: int = 48) -> dict[str, list[int]]:
    """Per machine, process starts counted in ``buckets`` equal slices of the case's
    span."""
    with engine.connect() as conn:
        first, last = conn.execute(select(func.min(Process.start_us),
                                          func.max(Process.start_us))).one()
        if first is None:
            return {}
        width = max(1, (last - first) // buckets + 1)
        out: dict[str, list[int]] = {}
        slot = ((Process.start_us - first) / width).cast(Process.pid.type)
        for host, index, n in conn.execute(
                join_machine(select(Machine.name, slot, func.count()), Process.host_id)
                .where(Process.start_us.is_not(None))
                .group_by(Machine.name, slot)):
            counts = out.setdefault(host, [0] * buckets)
            counts[min(int(index), buckets - 1)] += n
    return dict(sorted(out.items()))


def finding_counts(engine: Engine, process_ids: list[int]) -> dict[int, int]:
    """How many findings each of ``process_ids`` has (absent: none)."""
    if not process_ids:
        return {}
    return Counter(pid for pid, _fid in resolve_process_findings(engine, process_ids))
