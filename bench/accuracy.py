"""Accuracy benchmark: how correctly proctrail rebuilds processes and sessions from real logs.

    .venv/bin/python bench/accuracy.py [PATH ...] [--evtx] [--json] [--markdown]
                                       [--db-dir DIR] [--jobs N] [--examples N] [--label TEXT]

Each dataset (one OTRF zip, one evtx-attack-samples top folder with ``--evtx``, or one PATH
as given) is ingested into a fresh SQLite store with the project's own ``Ingestor`` and
correlated with ``correlate()``; then plain SQL over the store's tables, checked against
the raw event fields, measures (see ``bench/ACCURACY.md`` for the exact definitions):

1. ``s1_coverage``: Sysmon 1 events that are the ``start`` source of a process row;
2. ``parent``: Sysmon 1 events whose known parent GUID is their lifetime's parent's GUID;
3. ``merge``: Sysmon 1 / Security 4688 pairs of one process (host, PID, image name, within
   2 s) that ended in one process row; ``merge_tz``: the same for pairs that match only
   once a whole-quarter-hour time-zone shift is allowed (a collector's local clock);
   ``merge_nopid``: Sysmon 1 records without ``ProcessId`` and their one 4688 (same image
   and creator PID, within 2 s);
4. ``session``: 4688 events with a TargetLogonId whose process's session has that logon id;
5. ``elevation``: 4624 logons with a 4672 for the same logon id within 2 s whose session
   row is ``elevated``;
6. ``unplaced``: process start/end events that are the source of no process row (lower is
   better), and the ``unplaced_event`` anomalies, where correlation records them;
7. ``hosts``: machines (host rows that are no other row's alias), and NetBIOS/FQDN pairs
   among them (``WS6`` and ``ws6.corp.local`` shown as two machines).

With no PATH it takes every zip in ``../shared/samples/otrf`` (the samples folder next to
the repository). Datasets run in ``--jobs`` worker processes (default 2). Progress goes to
stderr, the table (or ``--json``) to stdout. The workers import ``proctrail`` as this
script does, so ``PYTHONPATH`` selects the code measured (see ``bench/README.md`` for
measuring a pinned commit while the tree moves).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, inspect, text

import proctrail.store
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.readers.base import ReadOptions

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "samples"
MATCH_US = 2_000_000  # Sysmon 1 / 4688 of one process, 4624 / 4672 of one logon
QUARTER_US = 15 * 60 * 1_000_000
# A collector's clock error: a zone offset (up to 14 h), plus 12 h where a local 12-hour clock
# lost its AM/PM (seen in the OTRF exports: 13:55 PDT written as 01:55, labelled UTC).
MAX_SKEW_US = 26 * 3600 * 1_000_000
PROCESS_KINDS = ("process_start", "process_end")
SESSION_KINDS = ("logon", "special_privileges")

# The ratio metrics, in table order: key, column header, and whether lower is better.
RATIOS: tuple[tuple[str, str, bool], ...] = (
    ("s1_coverage", "S1 coverage", False),
    ("parent", "parent agree", False),
    ("merge", "merge S1+4688", False),
    ("merge_tz", "merge tz-skewed", False),
    ("merge_nopid", "merge S1 w/o PID", False),
    ("session", "4688 session", False),
    ("elevation", "elevation", False),
    ("unplaced", "unplaced", True),
)


# -- small, forgiving parsers for raw fields ------------------------------------------------


def field_of(fields: Mapping[str, Any], name: str) -> str | None:
    """A raw field by name, case-insensitively (collectors respell them); None if absent
    or empty."""
    value = fields.get(name)
    if value is None:
        lower = name.lower()
        for key, candidate in fields.items():
            if key.lower() == lower:
                value = candidate
                break
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def norm_guid(value: str | None) -> str | None:
    """A GUID lower-cased without braces; None when absent or all zeros."""
    if not value:
        return None
    inner = value.strip().strip("{}").strip().lower()
    if not inner or not inner.replace("-", "").strip("0"):
        return None
    return inner


def hex_int(value: str | None) -> int | None:
    """A hex number (``0x1F40``, ``1f40``, Windows 2003's ``(0x0,0x3E7)``); None if not."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("(") and value.endswith(")") and "," in value:
        high, _, low = value[1:-1].partition(",")
        high_n, low_n = hex_int(high), hex_int(low)
        return None if high_n is None or low_n is None else (high_n << 32) | low_n
    try:
        return int(value, 16)
    except ValueError:
        return None


def dec_int(value: str | None) -> int | None:
    """A decimal number (or ``0x`` hex); None if not."""
    if not value:
        return None
    value = value.strip()
    try:
        return int(value, 16) if value[:2].lower() == "0x" else int(value)
    except ValueError:
        return None


def basename(path: str | None) -> str:
    """The file name of a Windows or POSIX path, lower case, quotes dropped."""
    if not path:
        return ""
    return path.strip().strip('"').replace("/", "\\").rsplit("\\", 1)[-1].lower()


def utc_us(value: str | None) -> int | None:
    """``YYYY-MM-DD HH:MM:SS[.fff...]`` (``T`` and ``Z`` allowed), read as UTC, in us."""
    if not value:
        return None
    s = value.strip().rstrip("Zz").replace("T", " ")
    base, _, frac = s.partition(".")
    try:
        dt = datetime.strptime(base, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    digits = "".join(ch for ch in frac if ch.isdigit())
    return int(dt.timestamp()) * 1_000_000 + int(digits[:6].ljust(6, "0") or 0)


# -- results --------------------------------------------------------------------------------


@dataclass
class Ratio:
    """``ok`` of ``total``, with counted reasons for the misses and a few example events."""

    ok: int = 0
    total: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # informative counts, not misses
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, ok: bool, reason: str = "", example: Callable[[], dict[str, Any]] | None = None,
            keep: int = 0) -> None:
        self.total += 1
        if ok:
            self.ok += 1
            return
        self.misses[reason] += 1
        if example is not None and len(self.examples) < keep:
            self.examples.append({"reason": reason, **example()})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "total": self.total, "pct": pct(self.ok, self.total),
                "misses": dict(self.misses.most_common()),
                "notes": dict(self.notes.most_common()), "examples": self.examples}


def pct(ok: int, total: int) -> float | None:
    return round(100.0 * ok / total, 1) if total else None


def cell(ok: int, total: int) -> str:
    value = pct(ok, total)
    return "n/a" if value is None else f"{ok}/{total} ({value:.1f}%)"


# -- one dataset ----------------------------------------------------------------------------


@dataclass
class Job:
    name: str
    paths: list[str]
    db: str | None  # keep the store here; None: a temporary file


def run_job(job: Job, keep_examples: int) -> dict[str, Any]:
    """Ingest, correlate and measure one dataset (in a worker process)."""
    out: dict[str, Any] = {"dataset": job.name, "paths": job.paths}
    with tempfile.TemporaryDirectory(prefix="proctrail-accuracy-") as tmp:
        db = Path(job.db) if job.db else Path(tmp) / "case.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        engine: Engine | None = None
        try:
            engine = open_engine(f"sqlite:///{db}")
            report = Ingestor(engine, ReadOptions()).run(job.paths)
            ingested = time.perf_counter()
            correlate(engine)
            correlated = time.perf_counter()
            out["ingest"] = {
                "inputs": len(report.sources),
                "records_read": report.total("records_read"),
                "stored": report.total("stored"),
                "skipped": dict(report.skipped),
                "failed": [f"{s.name}: {s.error}" for s in report.failed],
            }
            out.update(measure(engine, keep_examples))
            out["seconds"] = round(correlated - started, 2)
            out["ingest_seconds"] = round(ingested - started, 2)
            out["correlate_seconds"] = round(correlated - ingested, 2)
        except Exception as exc:  # one broken dataset must not lose the others
            out["error"] = f"{type(exc).__name__}: {exc}"
            out["traceback"] = traceback.format_exc(limit=6)
            out["seconds"] = round(time.perf_counter() - started, 2)
        finally:
            if engine is not None:
                engine.dispose()
    return out


@dataclass
class Ev:
    """A stored event with its raw fields."""

    pk: int
    host: int
    event_id: int
    kind: str
    ts_us: int | None
    channel: str
    fields: dict[str, Any]
    host_name: str = ""

    @property
    def sysmon(self) -> bool:
        return self.channel.lower().endswith("sysmon/operational")

    @property
    def security(self) -> bool:
        return self.channel.lower() == "security"

    def get(self, name: str) -> str | None:
        return field_of(self.fields, name)

    def brief(self, *names: str) -> dict[str, Any]:
        return {"event": self.pk, "host": self.host_name, "event_id": self.event_id,
                "ts_us": self.ts_us, **{n: self.get(n) for n in names}}


def _rows(conn: Connection, sql: str) -> list[Any]:
    return list(conn.execute(text(sql)))


def measure(engine: Engine, keep: int) -> dict[str, Any]:
    """Every metric of one correlated store."""
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        n_events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        hosts = {r.id: r.name for r in _rows(conn, "SELECT id, name FROM hosts")}
        # Machines: a host name that is another spelling of one (alias_of) is not one.
        has_alias = "alias_of" in {c["name"] for c in inspect(conn).get_columns("hosts")}
        machines = [r.name for r in _rows(conn, "SELECT name FROM hosts" + (
            " WHERE alias_of IS NULL" if has_alias else ""))]
        kinds = ", ".join(f"'{k}'" for k in PROCESS_KINDS + SESSION_KINDS)
        events = [
            Ev(r.id, r.host_id, r.event_id, r.kind, r.ts_us, r.name or "",
               _fields(r.data), hosts.get(r.host_id, ""))
            for r in _rows(conn, "SELECT e.id, e.host_id, e.event_id, e.kind, e.ts_us, c.name,"
                                 " e.data FROM events e JOIN channels c ON c.id = e.channel_id"
                                 f" WHERE e.kind IN ({kinds}) ORDER BY e.id")]
        starts: dict[int, set[int]] = defaultdict(set)
        placed: set[int] = set()
        for r in _rows(conn, "SELECT process_id, event_pk, role FROM process_sources"):
            placed.add(r.event_pk)
            if r.role == "start":
                starts[r.event_pk].add(r.process_id)
        procs = {r.id: r for r in _rows(
            conn, "SELECT id, host_id, process_guid, parent_id, session_id, flags"
                  " FROM processes")}
        sessions = {r.id: r for r in _rows(
            conn, "SELECT id, host_id, logon_id, elevated, logon_event, flags FROM sessions")}
        unplaced_anomalies: int | None = None
        if "anomalies" in tables:
            found = conn.execute(text(
                "SELECT count(*) FROM anomalies WHERE kind = 'unplaced_event'")).scalar_one()
            unplaced_anomalies = found or None  # none: the kind may not exist (yet)

    s1 = [e for e in events if e.sysmon and e.event_id == 1 and e.kind == "process_start"]
    n4688 = [e for e in events if e.security and e.event_id == 4688
             and e.kind == "process_start"]
    result: dict[str, Any] = {
        "events": n_events, "processes": len(procs), "sessions": len(sessions),
        "s1_events": len(s1), "4688_events": len(n4688),
    }
    ratios = {
        "s1_coverage": _coverage(s1, starts, keep),
        "parent": _parents(s1, starts, procs, keep),
        **_merges(s1, n4688, starts, keep),
        "session": _sessions(n4688, starts, procs, sessions, keep),
        "elevation": _elevation(events, sessions, keep),
        "unplaced": _unplaced(events, placed, keep),
    }
    result["metrics"] = {k: v.as_dict() for k, v in ratios.items()}
    result["unplaced_anomalies"] = unplaced_anomalies
    names = sorted(machines, key=str.lower)
    result["hosts"] = {"count": len(names), "names": names, "netbios_fqdn": _dup_hosts(names)}
    return result


def _fields(data: str | bytes | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _coverage(s1: list[Ev], starts: Mapping[int, set[int]], keep: int) -> Ratio:
    """Sysmon 1 events that start a process row."""
    r = Ratio()
    for e in s1:
        reason = "no ProcessId" if dec_int(e.get("ProcessId")) is None else "not a start source"
        if norm_guid(e.get("ProcessGuid")) is None:
            reason += ", no ProcessGuid"
        r.add(e.pk in starts, reason,
              partial(e.brief, "ProcessId", "ProcessGuid", "Image", "UtcTime"), keep)
    return r


def _parents(s1: list[Ev], starts: Mapping[int, set[int]], procs: Mapping[int, Any],
             keep: int) -> Ratio:
    """Sysmon 1 events with a known parent GUID: is the lifetime's parent that process?"""
    known: dict[int, set[str]] = defaultdict(set)
    for p in procs.values():
        guid = norm_guid(p.process_guid)
        if guid:
            known[p.host_id].add(guid)
    r = Ratio()
    for e in s1:
        parent_guid = norm_guid(e.get("ParentProcessGuid"))
        if parent_guid is None or parent_guid not in known[e.host]:
            continue
        rows = [procs[i] for i in starts.get(e.pk, ()) if i in procs]
        ok = False
        reason = "event in no process row"
        for p in rows:
            parent = procs.get(p.parent_id) if p.parent_id is not None else None
            if parent is not None and norm_guid(parent.process_guid) == parent_guid:
                ok = True
            elif parent is None:
                reason = ("no parent (flags: " + (p.flags or "-") + ")")
            else:
                reason = "parent is another process"
        r.add(ok, reason, partial(e.brief, "ProcessId", "ParentProcessId",
                                                "ParentProcessGuid", "Image", "ParentImage"),
              keep)
    return r


def _merges(s1: list[Ev], n4688: list[Ev], starts: Mapping[int, set[int]],
            keep: int) -> dict[str, Ratio]:
    """Sysmon 1 / 4688 pairs of one process: in one process row?"""
    by_key: dict[tuple[int, int, str], list[tuple[int, Ev]]] = defaultdict(list)
    for e in s1:
        pid = dec_int(e.get("ProcessId"))
        when = utc_us(e.get("UtcTime"))
        if when is None:
            when = e.ts_us  # no UtcTime: the stored time
        if pid is None or when is None:
            continue
        by_key[(e.host, pid, basename(e.get("Image")))].append((when, e))
    aligned, skewed = Ratio(), Ratio()
    paired: set[int] = set()
    candidates: list[tuple[Ev, Ev, int]] = []
    for sec in n4688:
        pid = hex_int(sec.get("NewProcessId"))
        if pid is None or sec.ts_us is None:
            continue
        for when, sys_ev in by_key.get((sec.host, pid, basename(sec.get("NewProcessName"))), ()):
            delta = sec.ts_us - when
            if abs(delta) <= MATCH_US:
                paired.update((sec.pk, sys_ev.pk))
                same = bool(starts.get(sec.pk, set()) & starts.get(sys_ev.pk, set()))
                aligned.add(same, _merge_reason(sec, sys_ev, starts),
                            partial(_pair_example, sys_ev, sec, delta), keep)
            else:
                candidates.append((sys_ev, sec, delta))
    for sys_ev, sec, delta in candidates:
        zone = round(delta / QUARTER_US) * QUARTER_US
        if (sys_ev.pk in paired or sec.pk in paired or zone == 0
                or abs(zone) > MAX_SKEW_US or abs(delta - zone) > MATCH_US):
            continue
        skewed.notes[f"clock offset {zone / 3_600_000_000:+g} h"] += 1
        same = bool(starts.get(sec.pk, set()) & starts.get(sys_ev.pk, set()))
        skewed.add(same, _merge_reason(sec, sys_ev, starts),
                   partial(_pair_example, sys_ev, sec, delta), keep)
    return {"merge": aligned, "merge_tz": skewed,
            "merge_nopid": _merges_without_pid(s1, n4688, starts, keep)}


def _merges_without_pid(s1: list[Ev], n4688: list[Ev], starts: Mapping[int, set[int]],
                        keep: int) -> Ratio:
    """Sysmon 1 events whose ProcessId the collector dropped, paired with the one 4688 of
    the same host, image name and creator PID (4688 ProcessId = Sysmon ParentProcessId)
    within 2 s of UtcTime: in one process row?"""
    by_key: dict[tuple[int, int, str], list[Ev]] = defaultdict(list)
    for sec in n4688:
        creator = hex_int(sec.get("ProcessId"))
        if creator is not None and sec.ts_us is not None:
            by_key[(sec.host, creator, basename(sec.get("NewProcessName")))].append(sec)
    r = Ratio()
    for e in s1:
        if dec_int(e.get("ProcessId")) is not None:
            continue
        parent, when = dec_int(e.get("ParentProcessId")), utc_us(e.get("UtcTime"))
        if parent is None or when is None:
            r.notes["no ParentProcessId or UtcTime either"] += 1
            continue
        found = [sec for sec in by_key.get((e.host, parent, basename(e.get("Image"))), ())
                 if sec.ts_us is not None and abs(sec.ts_us - when) <= MATCH_US]
        if len(found) != 1:
            r.notes["no 4688 match" if not found else "ambiguous 4688 match"] += 1
            continue
        sec = found[0]
        same = bool(starts.get(sec.pk, set()) & starts.get(e.pk, set()))
        r.add(same, _merge_reason(sec, e, starts),
              partial(_pair_example, e, sec, (sec.ts_us or 0) - when), keep)
    return r


def _merge_reason(sec: Ev, sys_ev: Ev, starts: Mapping[int, set[int]]) -> str:
    a, b = sys_ev.pk in starts, sec.pk in starts
    if a and b:
        return "two process rows"
    if a:
        return "4688 in no process row"
    if b:
        return "Sysmon 1 in no process row"
    return "neither in a process row"


def _pair_example(sys_ev: Ev, sec: Ev, delta: int) -> dict[str, Any]:
    return {"sysmon": sys_ev.brief("ProcessId", "Image", "UtcTime"),
            "security": sec.brief("NewProcessId", "NewProcessName"),
            "delta_s": round(delta / 1e6, 3),
            "stored_delta_s": (round(((sec.ts_us or 0) - (sys_ev.ts_us or 0)) / 1e6, 3)
                               if sec.ts_us is not None and sys_ev.ts_us is not None
                               else None)}


def _sessions(n4688: list[Ev], starts: Mapping[int, set[int]], procs: Mapping[int, Any],
              sessions: Mapping[int, Any], keep: int) -> Ratio:
    """4688 events naming a TargetLogonId: is their process's session that logon?"""
    r = Ratio()
    for e in n4688:
        target = hex_int(e.get("TargetLogonId"))
        if not target:
            continue
        subject = hex_int(e.get("SubjectLogonId"))
        rows = [procs[i] for i in starts.get(e.pk, ()) if i in procs]
        ok, reason = False, "event in no process row"
        for p in rows:
            s = sessions.get(p.session_id) if p.session_id is not None else None
            if s is None:
                reason = "process has no session"
                continue
            logon = hex_int(s.logon_id)
            if logon == target:
                ok = True
            elif logon == subject:
                reason = "session is the SubjectLogonId's"
            else:
                reason = "session is another logon"
        r.add(ok, reason, partial(e.brief, "NewProcessName", "SubjectLogonId",
                                                "TargetLogonId", "TargetUserName"), keep)
    return r


def _elevation(events: Iterable[Ev], sessions: Mapping[int, Any], keep: int) -> Ratio:
    """Logons with a 4672 for the same logon id within 2 s: is the session elevated?"""
    privileges: dict[tuple[int, int], list[int]] = defaultdict(list)
    logons: list[tuple[Ev, int]] = []
    for e in events:
        if not e.security or e.ts_us is None:
            continue
        if e.event_id == 4672:
            subject = hex_int(e.get("SubjectLogonId"))
            if subject is not None:
                privileges[(e.host, subject)].append(e.ts_us)
        elif e.event_id == 4624:
            target = hex_int(e.get("TargetLogonId"))
            if target is not None:
                logons.append((e, target))
    by_logon: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for s in sessions.values():
        logon = hex_int(s.logon_id)
        if logon is not None:
            by_logon[(s.host_id, logon)].append(s)
    seen: set[tuple[int, int]] = set()
    r = Ratio()
    for e, target in logons:
        key = (e.host, target)
        if key in seen:
            continue
        ts = e.ts_us
        assert ts is not None
        if not any(abs(t - ts) <= MATCH_US for t in privileges.get(key, ())):
            continue
        seen.add(key)
        rows = by_logon.get(key, [])
        ok = any(bool(s.elevated) for s in rows)
        reason = "no session row" if not rows else "session not elevated"
        r.add(ok, reason, partial(e.brief, "TargetLogonId", "TargetUserName", "LogonType"),
              keep)
    return r


def _unplaced(events: Iterable[Ev], placed: set[int], keep: int) -> Ratio:
    """Process starts and ends that no process row cites ("ok" here means unplaced)."""
    r = Ratio()
    for e in events:
        if e.kind not in PROCESS_KINDS:
            continue
        if e.pk in placed:
            r.total += 1
            continue
        if e.sysmon:
            pid = dec_int(e.get("ProcessId"))
        elif e.event_id in (4688, 592):
            pid = hex_int(e.get("NewProcessId"))
        else:
            pid = dec_int(e.get("ProcessId") or e.get("pid"))
        reason = f"{'Sysmon' if e.sysmon else e.channel} {e.event_id}"
        reason += " without a PID" if pid is None else " with a PID"
        r.total += 1
        r.ok += 1
        r.misses[reason] += 1
        if len(r.examples) < keep:
            r.examples.append({"reason": reason, **e.brief(
                "ProcessId", "NewProcessId", "ProcessGuid", "Image", "NewProcessName")})
    return r


def _dup_hosts(names: list[str]) -> list[list[str]]:
    """Pairs where one host name is the first DNS label of another (NetBIOS vs FQDN)."""
    pairs = []
    for short in names:
        for full in names:
            if "." in full and short.lower() != full.lower() \
                    and full.split(".", 1)[0].lower() == short.lower():
                pairs.append([short, full])
    return pairs


# -- the run --------------------------------------------------------------------------------


def datasets(paths: list[str], evtx: bool) -> list[tuple[str, list[str]]]:
    """(name, inputs) of every dataset to measure."""
    out: list[tuple[str, list[str]]] = []
    if not paths:
        otrf = SAMPLES / "otrf"
        if not otrf.is_dir():
            sys.exit(f"accuracy: no {otrf}: give the datasets as paths")
        out += [(z.stem, [str(z)]) for z in sorted(otrf.glob("*.zip"))]
    for p in map(Path, paths):
        out.append((p.stem if p.is_file() else p.name, [str(p)]))
    if evtx:
        root = SAMPLES / "evtx-attack-samples"
        if not root.is_dir():
            sys.exit(f"accuracy: no {root}")
        out += [(f"evtx:{d.name}", [str(d)]) for d in sorted(root.iterdir()) if d.is_dir()]
    return out


def _size(paths: list[str]) -> int:
    total = 0
    for p in map(Path, paths):
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


def _worker(args: tuple[Job, int]) -> dict[str, Any]:
    return run_job(*args)


def code_dir() -> Path:
    """Where the measured ``proctrail.store`` was imported from."""
    return Path(proctrail.store.__file__).resolve().parent


def commit() -> str:
    """The measured code: the repository's commit (``+dirty`` when ``store/`` has
    uncommitted changes), or the folder of a copy outside the repository."""
    store = code_dir()
    if not store.is_relative_to(REPO):
        return f"copy at {store.parent}"
    try:
        head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "store"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"unknown ({store.parent})"
    return head + ("+dirty" if dirty else "")


def totals(results: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in results if "metrics" in r]
    total: dict[str, Any] = {"dataset": "TOTAL", "metrics": {}}
    for key in ("events", "processes", "sessions"):
        total[key] = sum(r[key] for r in good)
    total["seconds"] = round(sum(r.get("seconds", 0.0) for r in results), 2)
    for key, _title, _lower in RATIOS:
        ok = sum(r["metrics"][key]["ok"] for r in good)
        n = sum(r["metrics"][key]["total"] for r in good)
        misses: Counter[str] = Counter()
        for r in good:
            misses.update(r["metrics"][key]["misses"])
        total["metrics"][key] = {"ok": ok, "total": n, "pct": pct(ok, n),
                                 "misses": dict(misses.most_common())}
    anomalies = [r["unplaced_anomalies"] for r in good if r["unplaced_anomalies"] is not None]
    total["unplaced_anomalies"] = sum(anomalies) if anomalies else None
    total["hosts"] = {"count": sum(r["hosts"]["count"] for r in good),
                      "netbios_fqdn": sum(len(r["hosts"]["netbios_fqdn"]) for r in good)}
    total["errors"] = [f"{r['dataset']}: {r['error']}" for r in results if "error" in r]
    return total


def worst(results: list[dict[str, Any]], n: int = 3) -> dict[str, list[str]]:
    """Per metric, the datasets that do worst (lowest share, highest for ``unplaced``)."""
    out: dict[str, list[str]] = {}
    good = [r for r in results if "metrics" in r]
    for key, _title, lower in RATIOS:
        scored = [(r["metrics"][key]["pct"], r["metrics"][key]["total"], r["dataset"],
                   r["metrics"][key]["ok"]) for r in good if r["metrics"][key]["total"]]
        scored.sort(key=lambda t: ((-t[0] if lower else t[0]), -t[1]))
        out[key] = [f"{name} {ok}/{total} ({p:.1f}%)" for p, total, name, ok in scored[:n]
                    if (p > 0 if lower else p < 100)]
    return out


def _host_cell(r: dict[str, Any]) -> str:
    hosts = r.get("hosts") or {}
    dups = hosts.get("netbios_fqdn", 0)
    dups = dups if isinstance(dups, int) else len(dups)
    return f"{hosts.get('count', 0)}" + (f" ({dups} dup)" if dups else "")


def _row(r: dict[str, Any]) -> list[str]:
    if "metrics" not in r:
        return [r["dataset"], "error", *([""] * (len(RATIOS) + 4)), f"{r.get('seconds', 0):.1f}"]
    anomalies = r.get("unplaced_anomalies")
    return [r["dataset"], f"{r['events']:,}", f"{r['processes']:,}", f"{r['sessions']:,}",
            *(cell(r["metrics"][k]["ok"], r["metrics"][k]["total"]) for k, _t, _l in RATIOS),
            "n/a" if anomalies is None else str(anomalies), _host_cell(r),
            f"{r.get('seconds', 0):.1f}"]


HEADERS = ["dataset", "events", "procs", "sessions", *(t for _k, t, _l in RATIOS),
           "unplaced anom.", "hosts", "secs"]


def table(results: list[dict[str, Any]], total: dict[str, Any], markdown: bool) -> str:
    rows = [_row(r) for r in results] + [_row(total)]
    if markdown:
        lines = ["| " + " | ".join(HEADERS) + " |",
                 "|---|" + "---:|" * (len(HEADERS) - 1)]
        for i, row in enumerate(rows):
            if i == len(rows) - 1:
                row = [f"**{c}**" if c else c for c in row]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(HEADERS)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    lines = [line(HEADERS), rule]
    for i, row in enumerate(rows):
        if i == len(rows) - 1:
            lines.append(rule)
        lines.append(line(row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="datasets: a file, archive or folder each "
                    "(default: every zip in ../shared/samples/otrf)")
    ap.add_argument("--evtx", action="store_true",
                    help="also each top folder of ../shared/samples/evtx-attack-samples")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    ap.add_argument("--markdown", action="store_true", help="the table in Markdown")
    ap.add_argument("--db-dir", type=Path, help="keep each dataset's store here "
                    "(<dataset>.db, replaced if present) instead of a temporary file")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--label", help="name the measured code in the output (default: the "
                    "commit, or the folder of a copy)")
    ap.add_argument("--examples", type=int, default=3,
                    help="example misses kept per metric and dataset (in --json)")
    args = ap.parse_args(argv)
    sets = datasets(args.paths, args.evtx)
    if not sets:
        ap.error("no datasets")
    if args.db_dir:
        args.db_dir.mkdir(parents=True, exist_ok=True)
    used: Counter[str] = Counter()
    jobs: list[Job] = []
    for name, paths in sets:
        used[name] += 1
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        safe += f"-{used[name]}" if used[name] > 1 else ""
        db = str(args.db_dir.resolve() / f"{safe}.db") if args.db_dir else None
        jobs.append(Job(name, paths, db))
    order = sorted(jobs, key=lambda j: -_size(j.paths))  # largest first: better packing
    measured = args.label or commit()
    print(f"accuracy: {len(jobs)} datasets, proctrail {measured} ({code_dir()}), "
          f"{args.jobs} workers", file=sys.stderr)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    # One task a worker: the ingest's gc.freeze() would keep each dataset's garbage alive.
    with ctx.Pool(max(1, args.jobs), maxtasksperchild=1) as pool:
        for done, r in enumerate(pool.imap_unordered(
                _worker, [(j, args.examples) for j in order]), 1):
            results.append(r)
            status = r.get("error") or (f"{r['events']:,} events, {r['processes']:,} "
                                        f"processes")
            print(f"[{done}/{len(jobs)}] {r['dataset']}: {status} ({r['seconds']:.1f} s)",
                  file=sys.stderr)
    rank = {j.name: i for i, j in enumerate(jobs)}
    results.sort(key=lambda r: rank[r["dataset"]])
    total = totals(results)
    wall = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps({"commit": measured, "wall_seconds": wall, "datasets": results,
                          "total": total, "worst": worst(results)}, indent=1))
        return 1 if total["errors"] else 0
    print(f"proctrail {measured}; {len(jobs)} datasets; {wall} s wall on {args.jobs} workers")
    print(table(results, total, args.markdown))
    print("\nworst datasets:")
    for key, names in worst(results).items():
        print(f"  {key}: {'; '.join(names) if names else '-'}")
    print("\nmisses by reason (all datasets):")
    for key, _title, _lower in RATIOS:
        misses = total["metrics"][key]["misses"]
        if misses:
            print(f"  {key}: " + "; ".join(f"{k} {v}" for k, v in misses.items()))
    dup = [f"{r['dataset']}: {' = '.join(p)}" for r in results if "hosts" in r
           for p in r["hosts"]["netbios_fqdn"]]
    if dup:
        print("\nNetBIOS/FQDN host pairs:\n  " + "\n  ".join(dup))
    for line in total["errors"]:
        print(f"error: {line}", file=sys.stderr)
    return 1 if total["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
