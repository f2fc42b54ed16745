"""Scenarios written to a folder: one log file per host and channel in each format asked
for (a host whose logs came as an export: one JSON lines file of every channel), auditd
for Linux hosts, and ``truth.json`` beside them."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from proctrail.generate import collectors, demo
from proctrail.generate.formats import FORMATS, write_audit, write_export, write_windows
from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import Host, Record
from proctrail.generate.truth import placed, truth, when
from proctrail.generate.windows import WindowsHost

SCENARIOS = ("demo", "scale", "collectors")
CHANNEL_FILES = {"Security": "Security", "Microsoft-Windows-Sysmon/Operational": "Sysmon"}
GAP_EPISODE_US = 3600 * 1_000_000  # record gaps closer than this are one anomaly
# ``mixed``: a case as it arrives: the first Windows host as XML exports, the rest as EVTX.
MIXED = "mixed"


def anomalies(hosts: list[Host], fmt: str = "evtx") -> list[dict[str, Any]]:
    """The integrity anomalies planted in the hosts' logs as format ``fmt`` holds them
    (kinds and counts per host)."""
    out = []
    for host in hosts:
        if not isinstance(host, WindowsHost):
            continue
        export = fmt == "jsonl" and host.collector == "export"
        for channel in host.channels if not export else ():  # an export numbers nothing
            written = host.written(channel)
            episodes = gap_episodes(host, written, fmt)
            if episodes:
                out.append({"host": host.name, "kind": "record_gap", "count": episodes})
            steps = sum(1 for a, b in pairwise(written)
                        if b.logged_us < a.logged_us - 60_000_000)
            if steps:
                out.append({"host": host.name, "kind": "clock_jump", "count": steps})
        for kind, event_id in (("log_cleared", 1102), ("clock_changed", 4616)):
            n = sum(1 for r in host.records if r.event_id == event_id and host.survives(r))
            if n:
                out.append({"host": host.name, "kind": kind, "count": n})
        if export and any(offset for _at, offset in host.export_offsets):
            out.append({"host": host.name, "kind": "time_offset", "count": 1})  # its one file
        unplaced = sum(1 for r in host.records if host.survives(r) and not placed(host, r, fmt))
        if unplaced:
            out.append({"host": host.name, "kind": "unplaced_event", "count": unplaced})
    return sorted(out, key=lambda a: (a["host"], a["kind"]))


def gap_episodes(host: Host, written: list[Record], fmt: str = "evtx") -> int:
    """How many ``record_gap`` anomalies a channel's written records make: its gaps in
    record numbers (none before its first record: the log begins there), one anomaly for
    gaps until :data:`GAP_EPISODE_US` passes between the record after one gap and the
    record before the next."""
    episodes, last = 0, None  # last: the time of the record after the latest gap
    for a, b in pairwise(written):
        if b.record_id <= a.record_id + 1:
            continue
        if last is None or abs(when(host, a, fmt) - last) >= GAP_EPISODE_US:
            episodes += 1
        last = when(host, b, fmt)
    return episodes


def format_truths(hosts: list[Host], scenario: str, seed: int) -> dict[str, Any]:
    """The truth of the logs as EVTX holds them, and under ``by_format`` the lifetimes,
    sessions and anomalies of each format whose collector shapes change them (NXLog's
    JSON rows, an export's local time)."""
    doc = truth(hosts, anomalies(hosts), scenario, seed)
    by_format = {}
    for fmt in FORMATS[1:]:
        other = truth(hosts, anomalies(hosts, fmt), scenario, seed, fmt)
        changed = {k: other[k] for k in ("lifetimes", "sessions", "anomalies")
                   if other[k] != doc[k]}
        if changed:
            by_format[fmt] = changed
    if by_format:
        doc["by_format"] = by_format
    return doc


def default_truth(out: Path, suffix: str = ".json") -> Path:
    """Beside the folder, not in it, so that ingesting the folder reads only logs."""
    return out.with_name(out.name + ".truth" + suffix)


def file_stems(hosts: list[Host]) -> list[str]:
    """What each host's files are named by: its first label, or its whole name where two
    hosts share the first label (``db01.corp.example``, ``db01.lab.example``)."""
    shorts = [h.name.split(".")[0] for h in hosts]
    seen = Counter(s.lower() for s in shorts)
    return [short if seen[short.lower()] == 1 else h.name
            for h, short in zip(hosts, shorts, strict=True)]


def write_hosts(out: Path, hosts: list[Host], formats: tuple[str, ...], scenario: str,
                seed: int, truth_path: Path | None = None) -> list[Path]:
    """Every host's logs in ``out`` and the truth file (see
    :mod:`~proctrail.generate.truth`); returns the log files."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    counts: dict[str, dict[str, int]] = {}
    total = 0
    first_windows = True
    for host, short in zip(hosts, file_stems(hosts), strict=True):
        if isinstance(host, LinuxHost):
            path = out / f"{short}-audit.log"
            write_audit(path, host)
            files.append(path)
            syscalls = {"start": 59, "end": 231}  # execve, exit_group; PAM records are 0
            counts[path.name] = dict(sorted(Counter(
                f"auditd/{syscalls.get(e.role, 0)}" for e in host.audit).items()))
            total += len(host.audit)
            continue
        host_formats = formats
        if MIXED in formats:
            host_formats = ("xml",) if first_windows else ("evtx",)
        first_windows = False
        export = host.collector == "export" and "jsonl" in host_formats
        if export:  # its JSON lines are one export of every channel
            host_formats = tuple(f for f in host_formats if f != "jsonl")
        exported = []
        for channel in host.channels:
            records = host.written(channel)
            exported += records
            total += len(records)
            if not host_formats:
                continue
            written = write_windows(out / f"{short}-{CHANNEL_FILES.get(channel, channel)}",
                                    records, host_formats,
                                    "nxlog" if host.collector == "nxlog" else "evtx_dump")
            files += written
            for path in written:
                counts[path.name] = dict(sorted(Counter(
                    f"{channel}/{r.event_id}" for r in records).items()))
        if export:
            path = write_export(out / f"{short}-export.jsonl", host, exported)
            files.append(path)
            counts[path.name] = dict(sorted(Counter(
                f"{r.channel}/{r.event_id}" for r in exported).items()))
    doc = format_truths(hosts, scenario, seed)
    doc["files"] = counts
    doc["events_total"] = total  # each event once, however many formats hold it
    (truth_path or default_truth(out)).write_bytes(orjson.dumps(
        doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return files


def write_demo(out: Path, seed: int = 20261102, formats: tuple[str, ...] = ("evtx",),
               truth_path: Path | None = None) -> list[Path]:
    """The demo scenario into ``out`` (truth beside it, or at ``truth_path``;
    tests/data/sample_logs_truth.json is sample_logs' truth, written so)."""
    return write_hosts(out, demo.build(seed), formats, "demo", seed, truth_path)


def write_collectors(out: Path, seed: int = 20261103, formats: tuple[str, ...] = ("evtx",),
                     truth_path: Path | None = None) -> list[Path]:
    """The ``collectors`` scenario (issue 13: the shapes real collectors write) into
    ``out``; its truth beside it or at ``truth_path``."""
    if MIXED in formats:
        raise ValueError("--format mixed is for the demo; collectors takes evtx, xml, jsonl")
    return write_hosts(out, collectors.build(seed), formats, "collectors", seed, truth_path)
