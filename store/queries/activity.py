"""What processes did (issue 18): one process's activity in time order, paged; the
processes that touched an address, a port or a path; the rarest destinations; how much of
each kind was attached and how much could not be.

Values are as logged (attacker-controlled): callers print them through ``widgets/safe.py``
or a writer's own escaping, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, func, or_, select

from proctrail.store.correlate.access import reads_memory
from proctrail.store.correlate.extract import Unplaced
from proctrail.store.events import ACTIVITY_KINDS, SCRIPT_KINDS, TWO_ENDED_KINDS
from proctrail.store.images import image_key
from proctrail.store.models import Activity, Anomaly, EventRow, Host, Process
from proctrail.store.text import glob_to_like

PAGE = 200  # rows a screen asks for at once
UNPLACED = "unplaced_event"
IMAGE_LOAD = "image_load"

# What each kind is called where people read it.
KIND_LABELS = {
    "network_connect": "connect", "dns_query": "dns", "file_create": "file+",
    "file_delete": "file-", "file_stream": "stream", "registry_key": "reg key",
    "registry_set": "reg set", "registry_rename": "reg ren", "remote_thread": "thread",
    "process_access": "access", "process_tampering": "tamper", "wfp_connect": "wfp",
    "wfp_bind": "wfp bind", "object_access": "object", "script_block": "script",
    "pipeline": "pipeline", "ps_engine": "ps engine", "ps_provider": "ps provider",
    "network_bind": "bind", "file_write": "write",
}
SHOWN = 2000  # characters of a script a summary shows (the store keeps it whole)


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One thing a process did (or had done to it: ``direction`` ``in`` of 8/10)."""

    process_id: int
    event_pk: int
    ts_us: int | None
    kind: str
    direction: str
    protocol: str
    src_addr: str
    src_port: int | None
    dst_addr: str
    dst_port: int | None
    hostname: str
    path: str
    target_process_id: int | None
    access: str
    detail: str

    @property
    def label(self) -> str:
        """The kind, short: ``connect``, ``reg set``, ``access``."""
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def stands_out(self) -> bool:
        """An access to lsass's memory (or a thread in it): how credentials are read."""
        return (self.kind in TWO_ENDED_KINDS and self.direction == "out"
                and "lsass.exe" in self.detail.lower()
                and (self.kind == "remote_thread" or reads_memory(self.access.split(" ")[0])))

    def summary(self) -> str:
        """One line of what it was, plain text (values as logged; a script cut to
        :data:`SHOWN` characters, saying how much more there is)."""
        if self.kind in SCRIPT_KINDS:
            text = " ".join(self.detail[:SHOWN].split())
            if len(self.detail) > SHOWN:
                text += f" … ({len(self.detail) - SHOWN:,} more characters)"
            parts = [f"({self.access})" if self.access else "", self.path, text]
        elif self.kind in ("network_connect", "wfp_connect", "wfp_bind", "network_bind"):
            dst = f"{self.dst_addr}:{self.dst_port}" if self.dst_port is not None \
                else self.dst_addr
            src = f"{self.src_addr}:{self.src_port}" if self.src_port is not None \
                else self.src_addr
            arrow = "←" if self.direction == "in" else "→"
            parts = [self.protocol, src, arrow, dst, self.hostname, self.detail]
        elif self.kind == "dns_query":
            parts = [self.hostname, "→", self.detail or "(no answer)"]
        else:
            parts = [self.access, self.path, self.detail]
        return " ".join(p for p in parts if p)


_COLUMNS = (Activity.process_id, Activity.event_pk, Activity.ts_us, Activity.kind,
            Activity.direction, Activity.protocol, Activity.src_addr, Activity.src_port,
            Activity.dst_addr, Activity.dst_port, Activity.hostname, Activity.path,
            Activity.target_process_id, Activity.access, Activity.detail)


def _rows(engine: Engine, query: Select[Any]) -> list[ActivityRow]:
    with engine.connect() as conn:
        return [ActivityRow(*r) for r in conn.execute(query)]


def process_activity(engine: Engine, process_id: int, limit: int = PAGE, offset: int = 0
                     ) -> tuple[list[ActivityRow], int]:
    """A process's activity in time order, ``limit`` rows from ``offset``, and how many
    there are in all."""
    limit = max(0, min(limit, 10_000))
    query = (select(*_COLUMNS).where(Activity.process_id == process_id)
             .order_by(Activity.ts_us, Activity.event_pk, Activity.direction)
             .limit(limit).offset(max(0, offset)))
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Activity)
                             .where(Activity.process_id == process_id)).scalar() or 0
    return _rows(engine, query), total


def activity_of(engine: Engine, process_ids: list[int], per_process: int = PAGE
                ) -> dict[int, tuple[list[ActivityRow], int]]:
    """:func:`process_activity` of several processes (the first ``per_process`` each)."""
    return {pid: process_activity(engine, pid, per_process) for pid in process_ids}


def touched(dest: str = "", port: int | None = None, file: str = "") -> Select[Any] | None:
    """The ids of processes whose activity matches all that is given: ``dest`` an address
    or host name (a glob, any case), ``port`` a destination port (or a bound/source one),
    ``file`` a glob on a file, registry or object path. None when nothing is given."""
    conds: list[ColumnElement[bool]] = []
    if dest:
        like = glob_to_like(dest.lower())
        conds.append(or_(func.lower(Activity.dst_addr).like(like, escape="\\"),
                         func.lower(Activity.hostname).like(like, escape="\\")))
    if port is not None:
        conds.append(or_(Activity.dst_port == port,
                         and_(Activity.kind.in_(("wfp_bind", "network_bind")),
                              Activity.src_port == port)))
    if file:
        conds.append(func.lower(Activity.path).like(glob_to_like(file.lower()), escape="\\"))
    if not conds:
        return None
    return select(Activity.process_id).where(*conds)


def found_by_address(needle: str) -> Select[Any]:
    """The ids of processes that connected to, resolved or were answered ``needle``
    exactly (an address or host name, any case)."""
    text = needle.strip().lower()
    return select(Activity.process_id).where(or_(
        Activity.dst_addr == text, func.lower(Activity.hostname) == text,
        and_(Activity.kind == "network_connect", Activity.direction == "in",
             Activity.src_addr == text)))


def found_by_script(needle: str) -> Select[Any]:
    """``(process id, text)`` of the PowerShell script blocks and pipelines that hold
    ``needle`` (any case, as literal text)."""
    text = needle.strip().lower()
    return select(Activity.process_id, Activity.detail).where(
        Activity.kind.in_(sorted(SCRIPT_KINDS)),
        func.lower(Activity.detail).contains(text, autoescape=True))


def stack_destinations(engine: Engine, rarest_first: bool = True, limit: int = 200
                       ) -> list[dict[str, Any]]:
    """Where processes connected to (a host name where logged, else the address) and which
    names they resolved: ``value``, ``count`` (records), ``processes``, ``hosts`` (distinct
    machines), rarest (or commonest) first."""
    value = func.lower(func.coalesce(func.nullif(Activity.hostname, ""), Activity.dst_addr))
    n = func.count()
    query = (select(value.label("value"), n.label("n"),
                    func.count(func.distinct(Activity.process_id)).label("processes"),
                    func.count(func.distinct(func.coalesce(Host.alias_of, Host.id)))
                    .label("hosts"))
             .join(Host, Host.id == Activity.host_id)
             .where(Activity.kind.in_(("network_connect", "dns_query", "wfp_connect")),
                    Activity.direction != "in", value != "")
             .group_by(value)
             .order_by(n if rarest_first else n.desc(), value)
             .limit(limit))
    with engine.connect() as conn:
        return [{"value": r.value, "count": r.n, "processes": r.processes,
                 "hosts": r.hosts} for r in conn.execute(query)]


def destination_process_ids(engine: Engine, value: str, limit: int = 1000) -> list[int]:
    """The processes behind one row of :func:`stack_destinations`."""
    target = value.lower()
    query = (select(Activity.process_id).distinct()
             .where(Activity.kind.in_(("network_connect", "dns_query", "wfp_connect")),
                    Activity.direction != "in",
                    or_(func.lower(Activity.hostname) == target,
                        and_(Activity.hostname == "", func.lower(Activity.dst_addr) == target)))
             .limit(limit))
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class KindCount:
    """How much of one kind correlation attached and how much it could not."""

    kind: str
    events: int  # stored records of this kind
    attached: int  # records attached to the process that did it
    targets: int  # Sysmon 8/10: records attached to the process it was done to
    unplaced: int  # records whose process is not in the logs (counted per host)
    targets_unplaced: int = 0  # Sysmon 8/10: records whose target is not in the logs
    note: str = ""


def activity_counts(engine: Engine) -> list[KindCount]:
    """Per kind of activity: records stored, attached (doer, and target for 8/10) and
    unplaced (from correlation's ``unplaced_event`` anomalies); image loads (Sysmon 7) are
    stored but not attached."""
    with engine.connect() as conn:
        stored = dict(conn.execute(
            select(EventRow.kind, func.count())
            .where(EventRow.kind.in_((*ACTIVITY_KINDS, IMAGE_LOAD)))
            .group_by(EventRow.kind)).all())
        ends = {(k, d): n for k, d, n in conn.execute(
            select(Activity.kind, Activity.direction, func.count(func.distinct(
                Activity.event_pk))).group_by(Activity.kind, Activity.direction))}
        unplaced: dict[str, int] = {}
        for (detail,) in conn.execute(select(Anomaly.detail).where(Anomaly.kind == UNPLACED)):
            reason, count = Unplaced.counted(detail)
            kind = reason.split(" ", 1)[0]
            if kind in ACTIVITY_KINDS:
                key = kind + (" target" if " to a process" in reason else "")
                unplaced[key] = unplaced.get(key, 0) + count
    out: list[KindCount] = []
    for kind in (*ACTIVITY_KINDS, IMAGE_LOAD):
        n = stored.get(kind, 0)
        if not n:
            continue
        if kind == IMAGE_LOAD:
            out.append(KindCount(kind, n, 0, 0, 0, 0, "not attached: one row a DLL loaded"))
            continue
        two = kind in TWO_ENDED_KINDS
        doer = ends.get((kind, "out"), 0) if two else sum(
            v for (k, _d), v in ends.items() if k == kind)
        out.append(KindCount(kind, n, doer, ends.get((kind, "in"), 0) if two else 0,
                             unplaced.get(kind, 0), unplaced.get(kind + " target", 0)))
    return out


def process_names(engine: Engine, process_ids: list[int]) -> dict[int, str]:
    """The image file names of some processes (the other ends of 8/10), for display."""
    out: dict[int, str] = {}
    ids = sorted(set(process_ids))
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            for pid, image in conn.execute(select(Process.id, Process.image)
                                           .where(Process.id.in_(ids[start:start + 500]))):
                out[pid] = image_key(image) or "?"
    return out
