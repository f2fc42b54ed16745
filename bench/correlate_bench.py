"""Correlation benchmark: time and peak memory of correlating N synthetic lifetimes in a store.

    python bench/correlate_bench.py [N ...]      # default 100000 300000 1000000

For each N, one child process writes a fresh SQLite store of synthetic events (not timed),
and a second child runs ``correlate()`` on it: the real pipeline, reading each host's
events in time order from SQL and writing lifetimes and sessions back. Peak memory is the
correlating child's VmHWM. The stream has Security 4688 and Sysmon 1 starts for each
process (merged), ends for most, PID reuse on a small PID space, parents alive at the
child's start, a logon session per 500 processes, over 10 hosts.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOSTS = 10


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _events(n: int) -> Iterator[tuple[int, str, int, int, str, dict[str, str]]]:
    """(host, channel, event id, time, kind, fields), host by host, in time order."""
    rng = random.Random(n)
    per_host = n // HOSTS
    for host in range(HOSTS):
        alive: list[int] = []
        logon = "0x0"
        for i in range(per_host):
            t = 1_700_000_000_000_000 + i * 20_000  # 50 process starts a second
            if i % 500 == 0:
                logon = hex(0x10000 + host * 100_000 + i)
                yield host, "Security", 4624, t, "logon", {
                    "TargetUserName": f"user{i % 7}", "TargetDomainName": "CORP",
                    "TargetLogonId": logon, "LogonType": "2"}
            pid = rng.randrange(4, 65536, 4)
            ppid = alive[rng.randrange(len(alive))] if alive else 4
            image = f"C:\\Windows\\System32\\prog{pid % 97}.exe"
            yield host, "Security", 4688, t + 1, "process_start", {
                "NewProcessId": hex(pid), "ProcessId": hex(ppid), "NewProcessName": image,
                "SubjectUserName": "u", "SubjectDomainName": "CORP", "SubjectLogonId": logon,
                "CommandLine": f"{image} /run {i}"}
            yield host, "Microsoft-Windows-Sysmon/Operational", 1, t + 300, "process_start", {
                "ProcessId": str(pid), "ParentProcessId": str(ppid), "Image": image,
                "ProcessGuid": f"{{{host:08x}-0000-0000-0000-{i:012x}}}",
                "LogonId": logon, "CommandLine": f"{image} /run {i}"}
            alive.append(pid)
            if len(alive) > 200:
                ended = alive.pop(rng.randrange(len(alive)))
                yield host, "Security", 4689, t + 500, "process_end", {
                    "ProcessId": hex(ended), "SubjectLogonId": logon}


def make_store(n: int, path: str) -> dict:
    """Write the synthetic events straight into a new store."""
    import orjson
    from sqlalchemy import insert

    from proctrail.store.db import open_engine
    from proctrail.store.models import Channel, EventRow, Host, Source

    engine = open_engine(path)
    rows: list[dict] = []
    channels = {"Security": 1, "Microsoft-Windows-Sysmon/Operational": 2}
    records: dict[tuple[int, str], int] = {}
    total = 0
    with engine.begin() as conn:
        conn.execute(insert(Source), [{"id": 1, "path": "synthetic", "sha256": "0" * 64,
                                       "size": 0, "format": "synthetic", "parser": "bench",
                                       "started_us": 0, "status": "complete"}])
        conn.execute(insert(Host), [{"id": h + 1, "key": f"host{h:02d}", "name": f"HOST{h:02d}"}
                                    for h in range(HOSTS)])
        conn.execute(insert(Channel), [{"id": i, "key": c.lower(), "name": c}
                                       for c, i in channels.items()])
        for host, channel, eid, t, kind, fields in _events(n):
            cid = channels[channel]
            rid = records[(host, channel)] = records.get((host, channel), 0) + 1
            rows.append({"source_id": 1, "host_id": host + 1, "channel_id": cid,
                         "provider": "bench", "event_id": eid, "record_id": rid, "ts_us": t,
                         "ts_key": t // 1_000_000, "received_us": None, "kind": kind,
                         "data": orjson.dumps(fields).decode()})
            if len(rows) >= 20_000:
                total += len(rows)
                conn.execute(insert(EventRow), rows)
                rows.clear()
        total += len(rows)
        if rows:
            conn.execute(insert(EventRow), rows)
    return {"events": total}


def run_correlation(path: str) -> dict:
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine

    engine = open_engine(path)
    started = time.perf_counter()
    report = correlate(engine)
    seconds = time.perf_counter() - started
    return {"lifetimes": report.processes, "sessions": report.sessions, "seconds": seconds,
            "per_s": report.processes / seconds, "peak_mb": _peak_mb()}


def _child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--make":
        print(json.dumps(make_store(int(sys.argv[2]), sys.argv[3])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--correlate":
        print(json.dumps(run_correlation(sys.argv[2])))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 300_000, 1_000_000]
    print(f"{'lifetimes':>10} {'events':>10} {'sessions':>8} {'seconds':>8} "
          f"{'lifetimes/s':>12} {'peak MB':>8}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "bench.db")
            made = _child("--make", str(n), path)
            r = _child("--correlate", path)
        print(f"{r['lifetimes']:>10,} {made['events']:>10,} {r['sessions']:>8,} "
              f"{r['seconds']:>8.1f} {r['per_s']:>12,.0f} {r['peak_mb']:>8,.0f}")


if __name__ == "__main__":
    main()
