"""Correlation benchmark: time and peak memory of building N synthetic lifetimes.

    python bench/correlate_bench.py [N ...]      # default 100000 300000 1000000

Each N runs in a fresh child process (peak memory is that child's VmHWM). The synthetic
stream has Security and Sysmon starts (merged), ends for most processes, PID reuse on a
small PID space, and parents alive at the child's start, over 10 hosts. It measures the
pure algorithm (store/correlate/lifetimes.py), not the store reads around it.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _events(n: int) -> list:
    from proctrail.store.correlate.extract import SECURITY, SYSMON, ProcEvent

    rng = random.Random(n)
    out = []
    pk = 0
    alive: dict[int, list[int]] = {h: [] for h in range(10)}
    for i in range(n):
        host = i % 10
        t = i * 1000
        pid = rng.randrange(4, 65536, 4)
        parents = alive[host]
        ppid = parents[rng.randrange(len(parents))] if parents else 4
        image = f"C:\\Windows\\System32\\prog{pid % 97}.exe"
        pk += 1
        out.append(ProcEvent(pk, host, True, SECURITY, t, pk, pid, ppid=ppid, image=image))
        pk += 1
        out.append(ProcEvent(pk, host, True, SYSMON, t + 300, pk, pid, ppid=ppid, image=image,
                             guid=f"{{{host:08x}-{i:028x}}}"))
        parents.append(pid)
        if len(parents) > 200:
            ended = parents.pop(rng.randrange(len(parents)))
            pk += 1
            out.append(ProcEvent(pk, host, False, SECURITY, t + 500, pk, ended))
    return out


def child(n: int) -> dict:
    from proctrail.store.correlate.lifetimes import build_lifetimes

    events = _events(n)
    made = _peak_mb()
    started = time.perf_counter()
    lifetimes = build_lifetimes(events)
    seconds = time.perf_counter() - started
    return {"n": n, "events": len(events), "lifetimes": len(lifetimes), "seconds": seconds,
            "per_s": len(lifetimes) / seconds, "peak_mb_events": made, "peak_mb": _peak_mb()}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 300_000, 1_000_000]
    print(f"{'lifetimes':>10} {'events':>10} {'seconds':>8} {'lifetimes/s':>12} "
          f"{'peak MB (events only)':>22} {'peak MB':>8}")
    for n in sizes:
        done = subprocess.run([sys.executable, __file__, "--child", str(n)],
                              capture_output=True, text=True, check=True)
        r = json.loads(done.stdout)
        print(f"{r['lifetimes']:>10,} {r['events']:>10,} {r['seconds']:>8.1f} "
              f"{r['per_s']:>12,.0f} {r['peak_mb_events']:>22,.0f} {r['peak_mb']:>8,.0f}")


if __name__ == "__main__":
    main()
