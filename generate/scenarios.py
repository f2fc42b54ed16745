"""Scenarios written to a folder: one log file per host and channel in each format asked
for, auditd for Linux hosts, and ``truth.json`` beside them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from proctrail.generate import demo
from proctrail.generate.formats import write_audit, write_windows
from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import Host
from proctrail.generate.truth import truth
from proctrail.generate.windows import WindowsHost

SCENARIOS = ("demo", "scale")
CHANNEL_FILES = {"Security": "Security", "Microsoft-Windows-Sysmon/Operational": "Sysmon"}


def anomalies(hosts: list[Host]) -> list[dict[str, Any]]:
    """The integrity anomalies planted in the hosts' logs (kinds and counts per host)."""
    out = []
    for host in hosts:
        if not isinstance(host, WindowsHost):
            continue
        for channel in host.channels:
            written = host.written(channel)
            gaps = sum(1 for a, b in pairwise(written)
                       if b.record_id > a.record_id + 1)
            if gaps:
                out.append({"host": host.name, "kind": "record_gap", "count": gaps})
            steps = sum(1 for a, b in pairwise(written)
                        if b.logged_us < a.logged_us - 60_000_000)
            if steps:
                out.append({"host": host.name, "kind": "clock_jump", "count": steps})
        for kind, event_id in (("log_cleared", 1102), ("clock_changed", 4616)):
            n = sum(1 for r in host.records if r.event_id == event_id and host.survives(r))
            if n:
                out.append({"host": host.name, "kind": kind, "count": n})
    return sorted(out, key=lambda a: (a["host"], a["kind"]))


def default_truth(out: Path, suffix: str = ".json") -> Path:
    """Beside the folder, not in it, so that ingesting the folder reads only logs."""
    return out.with_name(out.name + ".truth" + suffix)


def write_hosts(out: Path, hosts: list[Host], formats: tuple[str, ...], scenario: str,
                seed: int, truth_path: Path | None = None) -> list[Path]:
    """Every host's logs in ``out`` and the truth file; returns the log files."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for host in hosts:
        short = host.name.split(".")[0]
        if isinstance(host, LinuxHost):
            path = out / f"{short}-audit.log"
            write_audit(path, host)
            files.append(path)
            continue
        for channel in host.channels:
            files += write_windows(out / f"{short}-{CHANNEL_FILES.get(channel, channel)}",
                                   host.written(channel), formats)
    (truth_path or default_truth(out)).write_bytes(orjson.dumps(
        truth(hosts, anomalies(hosts), scenario, seed),
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return files


def write_demo(out: Path, seed: int = 20261102, formats: tuple[str, ...] = ("evtx",),
               truth_path: Path | None = None) -> list[Path]:
    """The demo scenario into ``out`` (truth beside it, or at ``truth_path``)."""
    return write_hosts(out, demo.build(seed), formats, "demo", seed, truth_path)
