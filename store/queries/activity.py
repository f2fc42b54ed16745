"""What processes did (issue 18): one process's activity in time order, paged; the
processes that touched an address, a port or a path; the rarest destinations and files
written; how much of each kind was attached and how much could not be; each process's
counts per kind; who opened lsass.

Values are as logged (attacker-controlled): callers print them through ``widgets/safe.py``
or a writer's own escaping, never as markup.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from proctrail.store.correlate.access import reads_memory
from proctrail.store.correlate.extract import Unplaced
from proctrail.store.events import ACTIVITY_KINDS, SCRIPT_KINDS, TWO_ENDED_KINDS, Kind
from proctrail.store.hosts import Machine, join_machine
from proctrail.store.images import image_key
from proctrail.store.models import Activity, Anomaly, EventRow, Host, Process
from proctrail.store.text import glob_to_like

PAGE = 200  # rows a screen asks for at once
UNPLACED = "unplaced_event"
IMAGE_LOAD = "image_load"
EXPLICIT = "explicit_credentials"

# What each kind is called where people read it.
KIND_LABELS = {
    "network_connect": "connect", "dns_query": "dns", "file_create": "file+",
    "file_delete": "file-", "file_stream": "stream", "registry_key": "reg key",
    "registry_set": "reg set", "registry_rename": "reg ren", "remote_thread": "thread",
    "process_access": "access", "process_tampering": "tamper", "wfp_connect": "wfp",
    "wfp_bind": "wfp bind", "object_access": "object", "script_block": "script",
    "pipeline": "pipeline", "ps_engine": "ps engine", "ps_provider": "ps provider",
    "network_bind": "bind", "file_write": "write", "image_load": "dll",
    "explicit_credentials": "creds",
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


ACTIVITY_COLUMNS = (Activity.process_id, Activity.event_pk, Activity.ts_us, Activity.kind,
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
    query = (select(*ACTIVITY_COLUMNS).where(Activity.process_id == process_id)
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
    kinds = (*ACTIVITY_KINDS, EXPLICIT, IMAGE_LOAD)  # a 4648 is what its caller did, too
    with engine.connect() as conn:
        stored = dict(conn.execute(
            select(EventRow.kind, func.count())
            .where(EventRow.kind.in_(kinds))
            .group_by(EventRow.kind)).all())
        ends = {(k, d): n for k, d, n in conn.execute(
            select(Activity.kind, Activity.direction, func.count(func.distinct(
                Activity.event_pk))).group_by(Activity.kind, Activity.direction))}
        unplaced: dict[str, int] = {}
        for (detail,) in conn.execute(select(Anomaly.detail).where(Anomaly.kind == UNPLACED)):
            reason, count = Unplaced.counted(detail)
            kind = reason.split(" ", 1)[0]
            if kind in kinds:
                key = kind + (" target" if " to a process" in reason else "")
                unplaced[key] = unplaced.get(key, 0) + count
    out: list[KindCount] = []
    for kind in kinds:
        n = stored.get(kind, 0)
        if not n:
            continue
        if kind == IMAGE_LOAD and not any(k == IMAGE_LOAD for k, _d in ends):
            out.append(KindCount(kind, n, 0, 0, 0, 0, "not attached: one row a DLL loaded "
                                 "([track] image_loads = true attaches them)"))
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


# What a process wrote: Sysmon 11 (created), 15 (a stream), auditd open-for-write.
WRITE_KINDS = ("file_create", "file_stream", "file_write")
# A user's profile folder, any name: C:\Users\<name>\, /home/<name>/ (read lower case).
_PROFILE = re.compile(r"^([a-z]:\\users\\|/home/)[^\\/]+(?=[\\/])")


def file_key(path: str) -> str:
    """A written file's path for stacking: lower case, the profile's user name as ``*``
    (``c:\\users\\*\\appdata\\...``, ``/home/*/...``)."""
    return _PROFILE.sub(r"\1*", path.lower())


def _pair(parent_image: str | None, image: str | None) -> str:
    return f"{image_key(parent_image) or '?'} → {image_key(image) or '?'}"


def pair_counts(engine: Engine) -> Counter[str]:
    """How many lifetimes each parent → child pair of image file names has in the case
    (``powershell.exe → whoami.exe``, lower case; ``?`` for an unknown image)."""
    parent = aliased(Process)
    parent_image = func.coalesce(parent.image, Process.parent_image, "")
    query = (select(parent_image, Process.image, func.count())
             .outerjoin(parent, parent.id == Process.parent_id)
             .group_by(parent_image, Process.image))
    counts: Counter[str] = Counter()
    with engine.connect() as conn:
        for parent_path, image, n in conn.execute(query):
            counts[_pair(parent_path, image)] += n
    return counts


def stack_written_files(engine: Engine, rarest_first: bool = True, limit: int = 200
                        ) -> list[dict[str, Any]]:
    """The files processes wrote (:data:`WRITE_KINDS`), one row per parent → child pair
    and file (:func:`file_key`): ``pair``, ``path``, ``pair_count`` (lifetimes of that pair
    in the whole case, writing or not), ``file_count`` (processes of any pair that wrote
    the file), ``processes`` and ``hosts`` (distinct machines) of the row, ``count``
    (records) and ``process_ids``.

    Rare means a rare pair first, then a rarely written file: rows in ascending
    ``pair_count``, then ``file_count``, then ``processes``, pair and path (the counts
    descending for commonest first). Either way, pairs whose parent is unknown (``? →``:
    started before the logs, or never logged) come after all others: they say nothing
    of who started the writer."""
    parent = aliased(Process)
    parent_image = func.coalesce(parent.image, Process.parent_image, "")
    machine = func.coalesce(Host.alias_of, Host.id)
    path = func.lower(Activity.path)
    query = (select(parent_image, Process.image, path, Activity.process_id, machine,
                    func.count())
             .join(Process, Process.id == Activity.process_id)
             .outerjoin(parent, parent.id == Process.parent_id)
             .join(Host, Host.id == Activity.host_id)
             .where(Activity.kind.in_(WRITE_KINDS), Activity.path != "")
             .group_by(parent_image, Process.image, path, Activity.process_id, machine))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    writers: dict[str, set[int]] = defaultdict(set)
    with engine.connect() as conn:
        for parent_path, image, file_path, pid, host, n in conn.execute(query):
            key = (_pair(parent_path, image), file_key(file_path))
            row = rows.setdefault(key, {"pair": key[0], "path": key[1], "count": 0,
                                        "ids": set(), "machines": set()})
            row["count"] += n
            row["ids"].add(pid)
            row["machines"].add(host)
            writers[key[1]].add(pid)
    pairs = pair_counts(engine) if rows else Counter()
    out = [{"pair": r["pair"], "path": r["path"], "pair_count": pairs[r["pair"]],
            "file_count": len(writers[r["path"]]), "processes": len(r["ids"]),
            "hosts": len(r["machines"]), "count": r["count"],
            "process_ids": sorted(r["ids"])[:1000]} for r in rows.values()]
    sign = 1 if rarest_first else -1
    out.sort(key=lambda r: (r["pair"].startswith("? "), sign * r["pair_count"],
                            sign * r["file_count"], sign * r["processes"], r["pair"],
                            r["path"]))
    return out[:limit]


# Export columns of what each process did (records it did; 8/10 done to it not counted).
COUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "connections": ("network_connect", "wfp_connect", "wfp_bind", "network_bind"),
    "dns": ("dns_query",),
    "files_written": WRITE_KINDS,
    "files_deleted": ("file_delete",),
    "registry": ("registry_key", "registry_set", "registry_rename"),
    "process_access": ("process_access", "remote_thread", "process_tampering"),
    "scripts": tuple(sorted(SCRIPT_KINDS)),
    "credentials": (Kind.EXPLICIT_CREDENTIALS.value,),  # Security 4648 by this process
}
_COLUMN_OF = {kind: column for column, kinds in COUNT_COLUMNS.items() for kind in kinds}


def counts_per_process(engine: Engine, process_ids: Select[Any] | None = None
                       ) -> dict[int, dict[str, int]]:
    """Per process (those ``process_ids`` selects, else all with any), the records it did
    in one grouped read: ``activity`` (every kind) and each of :data:`COUNT_COLUMNS`
    (absent when 0). What was done to it (the target end of Sysmon 8/10) is left out."""
    query = (select(Activity.process_id, Activity.kind, func.count())
             .where(or_(Activity.direction != "in",
                        Activity.kind.not_in(sorted(TWO_ENDED_KINDS))))
             .group_by(Activity.process_id, Activity.kind))
    if process_ids is not None:
        query = query.where(Activity.process_id.in_(process_ids))
    out: dict[int, dict[str, int]] = {}
    with engine.connect() as conn:
        for pid, kind, n in conn.execute(query):
            counts = out.setdefault(pid, {})
            counts["activity"] = counts.get("activity", 0) + n
            column = _COLUMN_OF.get(kind)
            if column:
                counts[column] = counts.get(column, 0) + n
    return out


_TO_LSASS = re.compile(r"to (?:.*[\\/])?lsass\.exe(?:\s|$)", re.I)


def lsass_access(engine: Engine) -> list[dict[str, Any]]:
    """The processes that opened lsass (Sysmon 10) or started a thread in it (Sysmon 8),
    one row each: ``process_id``, ``host`` (the machine), ``image``, ``pid``, ``user``,
    ``count`` (records), ``masks`` (the access masks, as logged), ``memory`` (any of them
    reads or writes its memory: how credentials are dumped), ``first_us``; those reaching
    its memory first, then most records."""
    query = (join_machine(select(Activity.process_id, Activity.kind, Activity.ts_us,
                                 Activity.access, Activity.detail, Machine.name,
                                 Process.image, Process.pid, Process.user),
                          Activity.host_id)
             .join(Process, Process.id == Activity.process_id)
             .where(Activity.kind.in_(sorted(TWO_ENDED_KINDS)), Activity.direction == "out",
                    func.lower(Activity.detail).contains("lsass.exe")))
    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            if not _TO_LSASS.match(r.detail):
                continue
            row = out.setdefault(r.process_id, {
                "process_id": r.process_id, "host": r.name, "image": r.image, "pid": r.pid,
                "user": r.user, "count": 0, "masks": [], "memory": False, "first_us": None})
            row["count"] += 1
            mask = "thread" if r.kind == "remote_thread" else r.access.split(" ", 1)[0]
            if mask and mask not in row["masks"]:
                row["masks"].append(mask)
            row["memory"] |= r.kind == "remote_thread" or reads_memory(mask)
            if r.ts_us is not None and (row["first_us"] is None or r.ts_us < row["first_us"]):
                row["first_us"] = r.ts_us
    return sorted(out.values(), key=lambda r: (not r["memory"], -r["count"], r["host"],
                                               r["image"], r["process_id"]))
