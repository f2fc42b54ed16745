"""Process starts matched against the rules, one slice of the case at a time.

The rule-matching part of the detection pass as a plain task (:class:`MatchTask` ->
:func:`match_slice`), so a big case's machines are matched by several processes, or by a
Dask cluster's workers (``detect --workers N`` / ``--cluster``), and the command writes the
findings as one process's pass writes them. A slice is one machine's lifetimes (a big
machine's, one part of them by lifetime id): a finding is one per (rule, lifetime), and a
lifetime is on one machine, so slices never share one. Rules travel as their YAML text
(compiled rules are closures) and are compiled once per worker process.
"""

from __future__ import annotations

import functools
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Select, create_engine, select
from sqlalchemy.orm import aliased
from sqlalchemy.pool import NullPool

from proctrail.store.correlate.pipeline import machines
from proctrail.store.detect.attack import finding_tags
from proctrail.store.detect.fields import sigma_fields
from proctrail.store.detect.index import RuleIndex
from proctrail.store.detect.ioc import hashes_of
from proctrail.store.detect.sigma import Rule, compile_rules
from proctrail.store.models import Channel, EventRow, Process, ProcessSource

LEVELS = {"informational": "info", "low": "low", "medium": "medium", "high": "high",
          "critical": "critical"}
CACHE = 20_000  # distinct field sets remembered (repeats are common, memory is not free)
PLATFORMS = ("windows", "linux")

Row = tuple[object, ...]


class RuleSet:
    """Compiled rules, indexed by platform (a rule naming no product is on both)."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        by_platform: dict[str, list[Rule]] = {name: [] for name in PLATFORMS}
        for rule in rules:
            for name in PLATFORMS if not rule.product else (rule.product,):
                by_platform[name].append(rule)
        self.indexes = {name: RuleIndex(found) for name, found in by_platform.items()}
        self.tags = {id(rule): finding_tags(rule.tags) for rule in rules}  # ATT&CK, as stored

    @property
    def count(self) -> int:
        """Rules over both platforms, a rule naming none counted on each."""
        return sum(len(index.rules) for index in self.indexes.values())


@functools.lru_cache(maxsize=2)
def compiled(texts: tuple[tuple[str, str], ...]) -> RuleSet:
    """The rule set of ``(path, YAML)`` pairs, compiled once per process."""
    return RuleSet(compile_rules(texts)[0])


@dataclass(frozen=True)
class MatchTask:
    """One slice for a worker: the lifetimes of the machine whose host ids (every name it
    goes by) are ``hosts`` (those whose id is ``part[0]`` modulo ``part[1]`` when it is
    cut), matched in the case at ``url``."""

    url: str
    hosts: tuple[int, ...]
    part: tuple[int, int] | None
    rules: tuple[tuple[str, str], ...]
    iocs: tuple[tuple[str, str], ...] | None
    tracked: Callable[[str], bool] | None
    now: int


@dataclass
class Matched:
    """A slice's findings as rows (in :data:`.run.FINDING_COLUMNS` order) and its counts."""

    rows: list[Row] = field(default_factory=list)
    events: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)


def match_slice(task: MatchTask) -> Matched:
    """A worker's matching of one slice (on a connection of its own)."""
    engine = create_engine(task.url, poolclass=NullPool)
    matcher = Matcher(compiled(task.rules), dict(task.iocs) if task.iocs else None,
                      task.tracked, task.now)
    try:
        with engine.connect() as conn:
            rows = list(matcher.rows(conn, task.hosts, task.part))
    finally:
        engine.dispose()
    return Matched(rows, matcher.events, matcher.by_rule)


def starts(hosts: tuple[int, ...], part: tuple[int, int] | None = None) -> Select[tuple]:
    """The process starts to match (every lifetime's start event, with its parent's image
    and command line) of one machine (its host ids), and part of it if given. The
    machine narrows the events too, so the (kind, host) index reads only its starts."""
    parent = aliased(Process)
    query = (select(EventRow.id, EventRow.host_id, Channel.name, EventRow.event_id,
                    EventRow.ts_us, EventRow.data, Process.id.label("process_id"),
                    Process.pid, Process.image,
                    Process.logon_id, parent.image.label("p_image"),
                    parent.command_line.label("p_cmd"))
             .join(Channel, Channel.id == EventRow.channel_id)
             # Only what is the start of a lifetime: a finding always names a process.
             .join(ProcessSource, (ProcessSource.event_pk == EventRow.id)
                   & (ProcessSource.role == "start"))
             .join(Process, Process.id == ProcessSource.process_id)
             .outerjoin(parent, parent.id == Process.parent_id)
             .where(EventRow.kind == "process_start", EventRow.host_id.in_(hosts),
                    Process.host_id.in_(hosts))
             # A lifetime's two starts (4688, Sysmon 1) come in this order however the
             # case is cut, so the same one anchors its findings: the index's order.
             .order_by(EventRow.ts_us, EventRow.id))
    if part is not None:
        query = query.where(Process.id % part[1] == part[0])
    return query


class Matcher:
    """Matches process starts; counts what it read and found by rule."""

    def __init__(self, rules: RuleSet, iocs: dict[str, str] | None,
                 tracked: Callable[[str], bool] | None, now: int) -> None:
        self.rules, self.iocs, self.tracked, self.now = rules, iocs, tracked, now
        self.events = 0
        self.by_rule: Counter[str] = Counter()
        self.cache: OrderedDict[tuple[str, tuple[object, ...]], list[Rule]] = OrderedDict()
        self.seen: set[tuple[str, int]] = set()  # (rule, lifetime): 4688 + Sysmon 1 are one

    def rows(self, conn: Connection, hosts: tuple[int, ...] | None = None,
             part: tuple[int, int] | None = None,
             progress: Callable[[int], None] | None = None) -> Iterator[Row]:
        """The findings of the starts of the machine of ``hosts`` (all machines, one
        after another, if None), as rows."""
        if hosts is None:
            for group in machines(conn):
                yield from self.rows(conn, tuple(group), progress=progress)
            return
        for r in conn.execution_options(stream_results=True, yield_per=5000).execute(
                starts(hosts, part)):
            self.events += 1
            fields = sigma_fields(r.name, r.event_id, orjson.loads(r.data))
            if self.tracked is not None and not self.tracked(r.image or fields.get("Image", "")):
                continue
            if not fields.get("ParentImage") and r.p_image:
                fields["ParentImage"] = r.p_image
            if not fields.get("ParentCommandLine") and r.p_cmd:
                fields["ParentCommandLine"] = r.p_cmd
            yield from self._rule_rows(r, fields)
            if self.iocs:
                yield from self._ioc_rows(r, fields, self.iocs)
            if progress is not None and self.events % 10_000 == 0:
                progress(self.events)

    def _rule_rows(self, r: Any, fields: dict[str, str]) -> Iterator[Row]:
        platform = _platform(r.name)
        index = self.rules.indexes[platform]
        key = (platform, index.cache_key(fields))
        hits = self.cache.get(key)
        if hits is None:
            hits = self.cache[key] = index.matches(fields)
            if len(self.cache) > CACHE:
                self.cache.popitem(last=False)
        for rule in hits:
            marked = (rule.id or rule.path, r.process_id)
            if marked in self.seen:
                continue
            self.seen.add(marked)
            self.by_rule[rule.title] += 1
            yield ("process", r.host_id, r.id, r.pid,
                   r.logon_id or "",
                   r.image or fields.get("Image", ""),
                   LEVELS.get(rule.level, "medium"), rule.title, rule.path,
                   "proctrail detect", self.now, "rule", rule.id, self.rules.tags[id(rule)],
                   r.ts_us)

    def _ioc_rows(self, r: Any, fields: dict[str, str],
                  iocs: dict[str, str]) -> Iterator[Row]:
        for algorithm, digest in hashes_of(fields.get("Hashes", "")):
            listed = iocs.get(digest)
            marked = (f"ioc:{digest}", r.process_id)
            if listed is None or marked in self.seen:
                continue
            self.seen.add(marked)
            self.by_rule[f"IOC {algorithm} {digest}"] += 1
            yield ("process", r.host_id, r.id, r.pid,
                   r.logon_id or "",
                   r.image or fields.get("Image", ""),
                   "high", f"{algorithm} {digest} is on the IOC list {Path(listed).name}",
                   listed, "proctrail detect", self.now, "ioc", digest, "",
                   r.ts_us)


def _platform(channel: str) -> str:
    return "linux" if channel in ("auditd", "Linux-Sysmon/Operational") else "windows"
