"""The detection pass: every stored process start against the loaded Sigma rules.

Each start event is mapped to Sigma's field names (:mod:`.fields`), enriched with its
correlated parent's image and command line where the record lacks them, and matched
against the rules of its platform that can match it at all (:mod:`.index`). Identical
field sets are matched once (logs repeat the same command lines endlessly). Matches become
findings of kind ``rule``, anchored on the event; a new pass replaces the previous pass's
rule findings and keeps bookmarks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, func, select

from proctrail.store.bulk import BulkInsert
from proctrail.store.correlate.pipeline import machines
from proctrail.store.db import shareable
from proctrail.store.detect import bursts
from proctrail.store.detect.attack import fixed_tags
from proctrail.store.detect.baseline import first_seen
from proctrail.store.detect.config import LOG_ANOMALIES, PROCESS_FLAGS, Config
from proctrail.store.detect.matching import (
    PLATFORMS,
    Matcher,
    MatchTask,
    RuleSet,
    match_slice,
)
from proctrail.store.detect.sigma import Refused, compile_rules, read_rules
from proctrail.store.locks import case_lock
from proctrail.store.models import Anomaly, Finding, Process, ProcessSource
from proctrail.store.tasks import Executor, default_workers, executor

BUILTIN = Path(__file__).with_name("rules")
FINDING_COLUMNS = ("target", "host_id", "anchor_event", "pid", "logon_id", "image",
                   "severity", "note", "source", "author", "created_us", "kind", "rule_id",
                   "tags", "time_us")
# A parallel pass (:mod:`.matching`) pays from this many lifetimes (starting the workers
# and compiling the rules there take about 2 s); a few slices a worker, of at least
# MIN_SLICE lifetimes each.
PARALLEL_MIN_PROCESSES = 50_000
SLICES_A_WORKER = 3
MIN_SLICE = 5_000

Machine = tuple[int, ...]  # a machine's host ids: every name it goes by


@dataclass
class DetectReport:
    """What a detection pass loaded, refused and found."""

    rules: int
    refused: list[Refused]
    events: int = 0
    findings: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    slices: int = 0  # machine slices matched by worker processes or a cluster (0: here)


def has_detections(engine: Engine) -> bool:
    """Whether a detection pass has left findings in the store."""
    with engine.connect() as conn:
        return conn.execute(select(Finding.id).where(Finding.kind != "bookmark")
                            .limit(1)).first() is not None


def detect(engine: Engine, rule_paths: list[Path] | None = None, builtin: bool = True,
           progress: Callable[[int], None] | None = None,
           iocs: dict[str, str] | None = None,
           baselines: list[str] | None = None,
           config: Config | None = None, workers: int | None = None,
           cluster: str | None = None) -> DetectReport:
    """Run the built-in rules and those under ``rule_paths`` over the store, match the
    processes' hashes against ``iocs`` (digest -> the list it came from), and report the
    first run of every image the named ``baselines`` do not know. ``config`` adds its
    track/ignore lists and turns the integrity anomalies it names into findings. A big
    case's machines are matched by ``workers`` processes (default: the cores), or on the
    Dask cluster whose scheduler is at ``cluster`` (:mod:`.matching`). Two detection
    passes over one case take turns."""
    with case_lock(engine, "detect"):
        return _detect(engine, rule_paths, builtin, progress, iocs, baselines, config,
                       workers, cluster)


def _detect(engine: Engine, rule_paths: list[Path] | None, builtin: bool,
            progress: Callable[[int], None] | None, iocs: dict[str, str] | None,
            baselines: list[str] | None, config: Config | None,
            workers: int | None = None, cluster: str | None = None) -> DetectReport:
    started = time.perf_counter()
    config = config or Config()
    texts, refused = read_rules(([BUILTIN] if builtin else []) + list(rule_paths or []))
    rules, not_compiled = compile_rules(texts)
    refused += not_compiled
    kept = []
    for rule in rules:
        if not rule.product or rule.product in PLATFORMS:
            kept.append(rule)
        else:
            refused.append(Refused(rule.path, f"product {rule.product!r} is not logged here"))
    rule_set = RuleSet(kept)
    report = DetectReport(rules=rule_set.count, refused=refused)
    now = time.time_ns() // 1000
    insert = BulkInsert(engine, Finding, FINDING_COLUMNS)
    with engine.begin() as out, engine.connect() as conn:
        out.execute(delete(Finding).where(Finding.kind.in_(("rule", "ioc", "baseline",
                                                            "anomaly", "burst"))))
        pool = _pool(conn, engine, workers, cluster)
        if pool is not None:
            accepted = {rule.path for rule in kept}
            shipped = tuple(t for t in texts if t[0] in accepted)
            try:
                _match_elsewhere(pool, conn, out, insert, report, progress, Matcher(
                    rule_set, iocs, config.track_filter, now), shipped)
            finally:
                pool.close()
        else:
            matcher = Matcher(rule_set, iocs, config.track_filter, now)
            rows: list[tuple[object, ...]] = []
            for row in matcher.rows(conn, progress=progress):
                rows.append(row)
                if len(rows) >= 5000:
                    report.findings += insert.execute(out, rows)
                    rows.clear()
            report.findings += insert.execute(out, rows)
            report.events, report.by_rule = matcher.events, matcher.by_rule
        rows = []
        for name in baselines or []:
            for item in first_seen(engine, name):
                anchor = conn.execute(
                    select(ProcessSource.event_pk)
                    .where(ProcessSource.process_id == item["id"],
                           ProcessSource.role.in_(("start", "end")))
                    .order_by(ProcessSource.role.desc(), ProcessSource.event_pk)).scalar()
                report.by_rule[f"not in baseline {name}"] += 1
                rows.append(("process", item["host_id"], anchor, item["pid"],
                             item["logon_id"] or "", item["image"], "medium",
                             f"first run of an executable not in baseline {name}",
                             f"baseline:{name}", "proctrail detect", now, "baseline", name,
                             "", item["start_us"]))
        if builtin:
            rows += _burst_rows(conn, config, now, report)
        rows += _anomaly_rows(conn, config.anomalies, now, report)
        report.findings += insert.execute(out, rows)
    report.seconds = time.perf_counter() - started
    return report


def _pool(conn: Connection, engine: Engine, workers: int | None,
          cluster: str | None) -> Executor | None:
    """The worker processes or cluster a pass matches on; None when it runs here (a small
    case, one worker, or a store no other process can open)."""
    if not shareable(engine):
        return None
    if not cluster:
        if (workers or default_workers()) < 2:
            return None
        if conn.execute(select(func.count()).select_from(Process)).scalar_one() \
                < PARALLEL_MIN_PROCESSES:
            return None
    return executor(workers, cluster)


def machine_slices(per_machine: list[tuple[Machine, int]],
                   workers: int) -> list[tuple[Machine, tuple[int, int] | None]]:
    """``(machine, part)`` slices for ``workers`` out of lifetimes counted by machine: a
    few slices a worker (so one big machine does not leave the others idle), a machine
    cut in equal parts no bigger than the slice size (never under :data:`MIN_SLICE`
    lifetimes); biggest first."""
    total = sum(n for _machine, n in per_machine)
    size = max(MIN_SLICE, -(-total // (SLICES_A_WORKER * workers)))
    slices: list[tuple[int, Machine, tuple[int, int] | None]] = []
    for machine, n in per_machine:
        parts = max(1, -(-n // size))
        slices += [(n // parts, machine, (i, parts) if parts > 1 else None)
                   for i in range(parts)]
    return [(machine, part) for _n, machine, part in sorted(slices,
                                                            key=lambda s: (-s[0], s[1]))]


def _match_elsewhere(pool: Executor, conn: Connection, out: Connection, insert: BulkInsert,
                     report: DetectReport, progress: Callable[[int], None] | None,
                     here: Matcher, rules: tuple[tuple[str, str], ...]) -> None:
    """Every machine slice matched by ``pool``'s workers, written here in slice order;
    if the pool or cluster goes away, the rest matched ``here``."""
    per_host = dict(conn.execute(select(Process.host_id, func.count())
                                 .group_by(Process.host_id)).all())
    per_machine = [(tuple(group), sum(per_host.get(h, 0) for h in group))
                   for group in machines(conn)]
    slices = machine_slices([(m, n) for m, n in per_machine if n], pool.workers)
    report.slices = len(slices)
    url = conn.engine.url.render_as_string(hide_password=False)
    iocs = tuple(here.iocs.items()) if here.iocs else None
    tasks = (MatchTask(url, hosts, part, rules, iocs, here.tracked, here.now)
             for hosts, part in slices)
    done = 0
    try:
        for matched in pool.map(match_slice, tasks):
            report.events += matched.events
            report.by_rule.update(matched.by_rule)
            report.findings += insert.execute(out, matched.rows)
            done += 1
            if progress is not None:
                progress(report.events)
    except BrokenProcessPool:  # a worker died, or the cluster went away: the rest here
        for hosts, part in slices[done:]:
            report.findings += insert.execute(out, list(here.rows(conn, hosts, part)))
        report.events += here.events
        report.by_rule.update(here.by_rule)
        report.slices = done
        if progress is not None:
            progress(report.events)


def _burst_rows(conn: Connection, config: Config, now: int,
                report: DetectReport) -> list[tuple[object, ...]]:
    """Findings of kind ``burst``: many discovery commands close together
    (:mod:`.bursts`), one per burst."""
    rows: list[tuple[object, ...]] = []
    for b in bursts.find_bursts(conn, config.track_filter):
        report.by_rule["discovery burst"] += 1
        rows.append(("process", b.host_id, b.anchor_event, b.pid, b.logon_id, b.image,
                     bursts.SEVERITY, b.note, bursts.SOURCE, "proctrail detect", now, "burst",
                     bursts.RULE_ID, b.tags, b.start_us))
    return rows


def _anomaly_rows(conn: Connection, severities: dict[str, str], now: int,
                  report: DetectReport) -> list[tuple[object, ...]]:
    """Findings for the integrity anomalies and process flags the config names, tagged
    with :data:`.attack.FIXED`'s techniques."""
    rows: list[tuple[object, ...]] = []
    logged = [k for k in severities if k in LOG_ANOMALIES]
    if logged:
        for a in conn.execute(select(Anomaly.host_id, Anomaly.event_pk, Anomaly.kind,
                                     Anomaly.detail, Anomaly.start_us)
                              .where(Anomaly.kind.in_(logged))
                              .order_by(Anomaly.host_id, Anomaly.start_us)):
            report.by_rule[f"integrity: {a.kind}"] += 1
            rows.append(("log", a.host_id, a.event_pk, None, "", "", severities[a.kind],
                         f"{a.kind}: {a.detail}", "anomalies", "proctrail detect", now,
                         "anomaly", a.kind, fixed_tags(a.kind), a.start_us))
    for flag in (k for k in severities if k in PROCESS_FLAGS):
        anchor = (select(ProcessSource.event_pk)
                  .where(ProcessSource.process_id == Process.id,
                         ProcessSource.role.in_(("start", "end")))
                  .order_by(ProcessSource.event_pk).limit(1).scalar_subquery())
        for p in conn.execute(select(Process.host_id, Process.pid, Process.image,
                                     Process.logon_id, Process.start_us, anchor.label("a"))
                              .where(("," + Process.flags + ",").contains(f",{flag},"))):
            report.by_rule[f"process flag: {flag}"] += 1
            rows.append(("process", p.host_id, p.a, p.pid, p.logon_id or "", p.image,
                         severities[flag], f"process flagged {flag}", "anomalies",
                         "proctrail detect", now, "anomaly", flag, fixed_tags(flag),
                         p.start_us))
    return rows
