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
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.orm import aliased

from proctrail.store.bulk import BulkInsert
from proctrail.store.detect import bursts
from proctrail.store.detect.attack import finding_tags, fixed_tags
from proctrail.store.detect.baseline import first_seen
from proctrail.store.detect.config import LOG_ANOMALIES, PROCESS_FLAGS, Config
from proctrail.store.detect.fields import sigma_fields
from proctrail.store.detect.index import RuleIndex
from proctrail.store.detect.ioc import hashes_of
from proctrail.store.detect.sigma import Refused, Rule, load_rules
from proctrail.store.locks import case_lock
from proctrail.store.models import (
    Anomaly,
    Channel,
    EventRow,
    Finding,
    Process,
    ProcessSource,
)

BUILTIN = Path(__file__).with_name("rules")
LEVELS = {"informational": "info", "low": "low", "medium": "medium", "high": "high",
          "critical": "critical"}
FINDING_COLUMNS = ("target", "host_id", "anchor_event", "pid", "logon_id", "image",
                   "severity", "note", "source", "author", "created_us", "kind", "rule_id",
                   "tags", "time_us")
CACHE = 20_000  # distinct field sets remembered (repeats are common, memory is not free)


@dataclass
class DetectReport:
    """What a detection pass loaded, refused and found."""

    rules: int
    refused: list[Refused]
    events: int = 0
    findings: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def has_detections(engine: Engine) -> bool:
    """Whether a detection pass has left findings in the store."""
    with engine.connect() as conn:
        return conn.execute(select(Finding.id).where(Finding.kind != "bookmark")
                            .limit(1)).first() is not None


def _platform(channel: str) -> str:
    return "linux" if channel in ("auditd", "Linux-Sysmon/Operational") else "windows"


def detect(engine: Engine, rule_paths: list[Path] | None = None, builtin: bool = True,
           progress: Callable[[int], None] | None = None,
           iocs: dict[str, str] | None = None,
           baselines: list[str] | None = None,
           config: Config | None = None) -> DetectReport:
    """Run the built-in rules and those under ``rule_paths`` over the store, match the
    processes' hashes against ``iocs`` (digest -> the list it came from), and report the
    first run of every image the named ``baselines`` do not know. ``config`` adds its
    track/ignore lists and turns the integrity anomalies it names into findings. Two
    detection passes over one case take turns."""
    with case_lock(engine, "detect"):
        return _detect(engine, rule_paths, builtin, progress, iocs, baselines, config)


def _detect(engine: Engine, rule_paths: list[Path] | None, builtin: bool,
            progress: Callable[[int], None] | None, iocs: dict[str, str] | None,
            baselines: list[str] | None, config: Config | None) -> DetectReport:
    started = time.perf_counter()
    config = config or Config()
    rules, refused = load_rules(([BUILTIN] if builtin else []) + list(rule_paths or []))
    by_platform: dict[str, list[Rule]] = {"windows": [], "linux": []}
    for rule in rules:
        if rule.product in by_platform:
            by_platform[rule.product].append(rule)
        elif not rule.product:
            by_platform["windows"].append(rule)
            by_platform["linux"].append(rule)
        else:
            refused.append(Refused(rule.path, f"product {rule.product!r} is not logged here"))
    report = DetectReport(rules=sum(map(len, by_platform.values())), refused=refused)
    indexes = {name: RuleIndex(rules) for name, rules in by_platform.items()}
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
             .where(EventRow.kind == "process_start"))
    cache: OrderedDict[tuple[str, tuple[object, ...]], list[Rule]] = OrderedDict()
    insert = BulkInsert(engine, Finding, FINDING_COLUMNS)
    rows: list[tuple[object, ...]] = []
    seen: set[tuple[str, int]] = set()  # (rule, lifetime): 4688 and Sysmon 1 are one process
    tags = {id(rule): finding_tags(rule.tags) for rule in rules}  # ATT&CK, as stored
    now = time.time_ns() // 1000
    with engine.begin() as out, engine.connect() as conn:
        out.execute(delete(Finding).where(Finding.kind.in_(("rule", "ioc", "baseline",
                                                            "anomaly", "burst"))))
        for r in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
            report.events += 1
            fields = sigma_fields(r.name, r.event_id, orjson.loads(r.data))
            if (config.include or config.exclude) and not config.tracked(
                    r.image or fields.get("Image", "")):
                continue
            if not fields.get("ParentImage") and r.p_image:
                fields["ParentImage"] = r.p_image
            if not fields.get("ParentCommandLine") and r.p_cmd:
                fields["ParentCommandLine"] = r.p_cmd
            platform = _platform(r.name)
            key = (platform, indexes[platform].cache_key(fields))
            hits = cache.get(key)
            if hits is None:
                hits = indexes[platform].matches(fields)
                cache[key] = hits
                if len(cache) > CACHE:
                    cache.popitem(last=False)
            for rule in hits:
                marked = (rule.id or rule.path, r.process_id)
                if marked in seen:
                    continue
                seen.add(marked)
                report.by_rule[rule.title] += 1
                rows.append(("process", r.host_id, r.id, r.pid, r.logon_id or "",
                             r.image or fields.get("Image", ""),
                             LEVELS.get(rule.level, "medium"), rule.title, rule.path,
                             "proctrail detect", now, "rule", rule.id, tags[id(rule)],
                             r.ts_us))
            for algorithm, digest in hashes_of(fields.get("Hashes", "")) if iocs else ():
                listed = iocs.get(digest) if iocs else None
                marked = (f"ioc:{digest}", r.process_id)
                if listed is None or marked in seen:
                    continue
                seen.add(marked)
                report.by_rule[f"IOC {algorithm} {digest}"] += 1
                rows.append(("process", r.host_id, r.id, r.pid, r.logon_id or "",
                             r.image or fields.get("Image", ""), "high",
                             f"{algorithm} {digest} is on the IOC list {Path(listed).name}",
                             listed, "proctrail detect", now, "ioc", digest, "", r.ts_us))
            if len(rows) >= 5000:
                report.findings += insert.execute(out, rows)
                rows.clear()
            if progress is not None and report.events % 10_000 == 0:
                progress(report.events)
        report.findings += insert.execute(out, rows)
        rows.clear()
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
