"""Findings read: each one with the process or session it marks in today's correlation.

One record shape, :class:`FindingRow`, for every reader (the findings screen, the detail
screen, the exports, the timeline, the report); the writes are in
:mod:`proctrail.store.findings`. A finding is anchored on a stored event (or, for a
placeholder, on host + PID + image), so it is resolved against the current processes and
sessions on every read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, case, func, or_, select

from proctrail.store.detect.attack import label, tactics_of, techniques_of
from proctrail.store.findings import SEVERITIES
from proctrail.store.hosts import Machine, host_names, join_machine
from proctrail.store.images import image_name
from proctrail.store.models import (
    Channel,
    EventRow,
    Finding,
    LogonSession,
    Process,
    ProcessSource,
)


@dataclass(frozen=True)
class FindingRow:
    """A finding with what it points at today (ids of the current correlation)."""

    id: int
    target: str
    process_id: int | None
    session_id: int | None
    host: str
    severity: str
    note: str
    source: str
    author: str
    created_us: int
    kind: str = "bookmark"
    rule_id: str = ""
    tags: str = ""
    time_us: int | None = None
    image: str = ""  # the marked process's file name (powershell.exe)
    user: str = ""  # the marked session's user
    channel: str = ""  # the log an integrity anomaly is in (Security)
    host_short: str = ""  # the host as briefly as the case allows (see short_hosts)
    title: str = ""  # the rule's title, the anomaly's kind, the analyst's note

    @property
    def marks(self) -> str:
        """What it marks, in a word: the image, the session's user, the log, the kind."""
        if self.target == "process":
            return self.image or "?"
        if self.target == "session":
            return self.user or "session"
        return self.channel or self.rule_id or self.target

    @property
    def techniques(self) -> list[str]:
        """Its ATT&CK technique ids, most specific as the rule gives them (``T1059.001``)."""
        return techniques_of(self.tags)

    @property
    def tactics(self) -> list[str]:
        """Its ATT&CK tactics' shortnames, in the matrix's order (``execution``)."""
        return tactics_of(self.tags)

    @property
    def technique(self) -> str:
        """Its first technique named, and how many more: ``T1059.001 PowerShell +2``."""
        ids = self.techniques
        if not ids:
            return ""
        return label(ids[0]) + (f" +{len(ids) - 1}" if len(ids) > 1 else "")


SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # critical: 0


def short_hosts(names: Iterable[str]) -> dict[str, str]:
    """Each machine name cut at its first dot (``Pedro01``, ``WORKSTATION5``), or at a
    later one where two machines would read the same (``MORDORDC.mordor``,
    ``MORDORDC.theshire``)."""
    pending = sorted(set(names))
    out: dict[str, str] = {}
    labels = 1
    while pending:
        cut = {n: ".".join(n.split(".")[:labels]) for n in pending}
        seen = Counter(c.lower() for c in [*cut.values(), *out.values()])
        for n in list(pending):
            if seen[cut[n].lower()] == 1 or cut[n] == n:
                out[n] = cut[n]
                pending.remove(n)
        labels += 1
    return out


def case_short_hosts(conn: Connection) -> dict[str, str]:
    """:func:`short_hosts` of every machine of the case, by its canonical name."""
    return short_hosts(spellings[0] for spellings in host_names(conn).values())


def short_channel(name: str) -> str:
    """A log's name without Windows' prefix: ``Sysmon/Operational``, ``Security``."""
    return name.removeprefix("Microsoft-Windows-")


def _title(kind: str, note: str, rule_id: str) -> str:
    if kind == "anomaly":
        return rule_id or note.split(":", 1)[0]
    return note or kind


CHUNK = 500  # ids in one IN (...): well under every driver's parameter limit


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def resolve_process_findings(engine: Engine, process_ids: list[int]) -> list[tuple[int, int]]:
    """(process id, finding id) pairs for the given processes: findings anchored on one of
    their events (from each process's own sources, through the anchor's index), then
    placeholders' findings by host, PID and image. Never a scan of every finding per row."""
    out: list[tuple[int, int]] = []
    with engine.connect() as conn:
        if not conn.execute(select(Finding.id).where(Finding.target == "process")
                            .limit(1)).first():
            return out
        for chunk in _chunks(process_ids):
            out += [(p, f) for p, f in conn.execute(
                select(ProcessSource.process_id, Finding.id)
                .join(Finding, Finding.anchor_event == ProcessSource.event_pk)
                .where(ProcessSource.process_id.in_(chunk), Finding.target == "process"))]
            out += [(p, f) for p, f in conn.execute(
                select(Process.id, Finding.id)
                .join(Finding, and_(Finding.host_id == Process.host_id,
                                    Finding.pid == Process.pid))
                .where(Process.id.in_(chunk), Finding.target == "process",
                       Finding.anchor_event.is_(None), Finding.image == Process.image))]
    return out


def list_findings(engine: Engine) -> list[FindingRow]:
    """Every finding, most severe first, with the process or session it marks today."""
    with engine.connect() as conn:  # plain rows: 50k ORM objects cost a second
        findings = conn.execute(
            join_machine(select(*Finding.__table__.columns, Machine.name.label("host_name")),
                         Finding.host_id).order_by(Finding.id)).all()
        process = _processes_marked(conn, findings)
        session = _sessions_marked(conn, findings)
        users = _session_users(conn, set(session.values()))
        channels = _channels(conn, [f.anchor_event for f in findings
                                    if f.target == "log" and f.anchor_event is not None])
        short = case_short_hosts(conn)
    out = [FindingRow(f.id, f.target, process.get(f.id), session.get(f.id), f.host_name,
                      f.severity, f.note, f.source, f.author, f.created_us,
                      f.kind or "bookmark", f.rule_id or "", f.tags or "", f.time_us,
                      image_name(f.image) if f.image else "",
                      users.get(session.get(f.id, -1), ""),
                      channels.get(f.anchor_event, "") if f.target == "log" else "",
                      short.get(f.host_name, f.host_name),
                      _title(f.kind or "bookmark", f.note, f.rule_id or ""))
           for f in findings]
    out.sort(key=lambda r: (SEVERITY_RANK.get(r.severity, 9), r.id))
    return out


def ranked_findings(engine: Engine) -> list[FindingRow]:
    """Every finding as the findings screen lists it: most severe first; within a
    severity the detections and bookmarks before the integrity anomalies; then in the
    order what they mark happened (unknown times last)."""
    rows = list_findings(engine)
    rows.sort(key=lambda r: (SEVERITY_RANK.get(r.severity, 9), r.kind == "anomaly",
                             r.time_us is None, r.time_us or 0, r.id))
    return rows


def _session_users(conn: Connection, ids: set[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in _chunks(sorted(ids)):
        out.update(conn.execute(select(LogonSession.id, LogonSession.user)
                                .where(LogonSession.id.in_(chunk))).all())
    return out


def _channels(conn: Connection, events: list[int]) -> dict[int, str]:
    """event pk -> the short name of its log."""
    out: dict[int, str] = {}
    for chunk in _chunks(sorted(set(events))):
        out.update((pk, short_channel(name)) for pk, name in conn.execute(
            select(EventRow.id, Channel.name).join(Channel, Channel.id == EventRow.channel_id)
            .where(EventRow.id.in_(chunk))))
    return out


@dataclass(frozen=True)
class TopFinding:
    """Findings of one severity, rule (or anomaly kind), image and host, taken together."""

    severity: str
    kind: str
    title: str
    image: str  # the process's file name; for an anomaly of a log, the log
    host: str
    host_short: str
    count: int
    first_id: int  # the earliest of them
    process_id: int | None  # what the earliest marks today
    session_id: int | None


@dataclass
class FindingsSummary:
    """Findings by severity and kind, and the most severe few, for the overview."""

    total: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)  # most severe first
    anomalies: dict[str, int] = field(default_factory=dict)  # anomaly kind -> findings
    top: list[TopFinding] = field(default_factory=list)


def findings_summary(engine: Engine, top: int = 5) -> FindingsSummary:
    """Counts by severity and by anomaly kind, and the ``top`` high or critical groups of
    findings (same severity, rule, image, host): critical first, detections and bookmarks
    before anomalies, then in time order. Grouped in SQL: bounded on any case."""
    rank = case({s: i for i, s in enumerate(reversed(SEVERITIES))}, value=Finding.severity,
                else_=9)
    label = case((Finding.kind == "anomaly", Finding.rule_id), else_=Finding.note)
    first = func.min(Finding.id)
    with engine.connect() as conn:
        severities = dict(conn.execute(select(Finding.severity, func.count())
                                       .group_by(Finding.severity)).all())
        kinds = dict(conn.execute(select(Finding.rule_id, func.count())
                                  .where(Finding.kind == "anomaly").group_by(Finding.rule_id)
                                  .order_by(func.count().desc(), Finding.rule_id)).all())
        groups = conn.execute(
            join_machine(select(Finding.severity, Finding.kind, label.label("title"),
                                Finding.image, Machine.name, func.count().label("n"),
                                first.label("first")), Finding.host_id)
            .where(Finding.severity.in_(("critical", "high")))
            .group_by(Finding.severity, Finding.kind, label, Finding.image, Machine.name)
            .order_by(func.min(rank), func.max(case((Finding.kind == "anomaly", 1), else_=0)),
                      func.min(Finding.time_us), first)
            .limit(top)).all()
        firsts = conn.execute(select(*Finding.__table__.columns)
                              .where(Finding.id.in_([g.first for g in groups]))).all()
        process = _processes_marked(conn, firsts)
        session = _sessions_marked(conn, firsts)
        channels = _channels(conn, [f.anchor_event for f in firsts
                                    if f.target == "log" and f.anchor_event is not None])
        short = case_short_hosts(conn)
    log = {f.id: channels.get(f.anchor_event, "") for f in firsts if f.target == "log"}
    ordered = {s: severities[s] for s in reversed(SEVERITIES) if severities.get(s)}
    return FindingsSummary(
        sum(severities.values()), ordered, kinds,
        [TopFinding(g.severity, g.kind, g.title or g.kind,
                    image_name(g.image) if g.image else log.get(g.first, ""), g.name,
                    short.get(g.name, g.name), g.n, g.first, process.get(g.first),
                    session.get(g.first)) for g in groups])


def _processes_marked(conn: Connection, findings: Sequence[Row[Any]]) -> dict[int, int]:
    """finding id -> the process it marks today (the first, should an event be shared)."""
    marked: dict[int, int] = {}
    by_anchor: dict[int, list[int]] = {}
    for f in findings:
        if f.target == "process" and f.anchor_event is not None:
            by_anchor.setdefault(f.anchor_event, []).append(f.id)
    for chunk in _chunks(sorted(by_anchor)):
        for event_pk, process_id in conn.execute(
                select(ProcessSource.event_pk, ProcessSource.process_id)
                .where(ProcessSource.event_pk.in_(chunk))
                .order_by(ProcessSource.event_pk, ProcessSource.process_id)):
            for fid in by_anchor[event_pk]:
                marked.setdefault(fid, process_id)
    if any(f.target == "process" and f.anchor_event is None for f in findings):
        for fid, process_id in conn.execute(
                select(Finding.id, Process.id)
                .join(Process, and_(Process.host_id == Finding.host_id,
                                    Process.pid == Finding.pid, Process.image == Finding.image))
                .where(Finding.target == "process", Finding.anchor_event.is_(None))
                .order_by(Finding.id, Process.id)):
            marked.setdefault(fid, process_id)
    return marked


def _sessions_marked(conn: Connection, findings: Sequence[Row[Any]]) -> dict[int, int]:
    """finding id -> the session it marks today: by its logon or logoff event, else (an
    inferred session) by host and logon id."""
    if not any(f.target == "session" for f in findings):
        return {}
    match = or_(
        and_(Finding.anchor_event.is_not(None),
             or_(LogonSession.logon_event == Finding.anchor_event,
                 LogonSession.logoff_event == Finding.anchor_event)),
        and_(Finding.anchor_event.is_(None), LogonSession.host_id == Finding.host_id,
             LogonSession.logon_id == Finding.logon_id))
    marked: dict[int, int] = {}
    for fid, session_id in conn.execute(
            select(Finding.id, LogonSession.id).join(LogonSession, match)
            .where(Finding.target == "session").order_by(Finding.id, LogonSession.id)):
        marked.setdefault(fid, session_id)
    return marked


def findings_for_process(engine: Engine, process_id: int) -> list[dict[str, Any]]:
    """The findings on one process, as plain dicts (``techniques``: ``T1059.001 PowerShell``
    labels)."""
    ids = {fid for _pid, fid in resolve_process_findings(engine, [process_id])}
    return [{**asdict(f), "techniques": [label(t) for t in f.techniques]}
            for f in list_findings(engine) if f.id in ids] if ids else []
