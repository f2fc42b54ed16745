"""Detection benchmark: Sigma rules over stored process starts.

    python bench/detect_bench.py [--events N] [--rules DIR]... [--workers 1,2]

Writes a generated ``scale`` case with about N process-start events (4688 and Sysmon 1,
every command line distinct, so no repeat is free), ingests and correlates it (not
timed), then times ``detect()`` in a fresh child process with the built-in rules and the
given rule folders (default: every SigmaHQ process_creation rule in ../shared/samples),
once per ``--workers`` count (machine slices matched by that many worker processes).
Prints process starts per second, the speed-up over the first count, rules, findings,
and the child's peak memory (its worker processes' are their own, not counted).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIGMA = REPO.parent / "shared" / "samples" / "sigma" / "rules" / "windows" / "process_creation"


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(db: str, rules: list[str], workers: int) -> dict:
    from proctrail.store.db import open_engine
    from proctrail.store.detect.run import detect

    started = time.perf_counter()
    report = detect(open_engine(db), [Path(r) for r in rules], workers=workers)
    seconds = time.perf_counter() - started
    return {"events": report.events, "rules": report.rules, "refused": len(report.refused),
            "findings": report.findings, "seconds": seconds, "slices": report.slices,
            "per_s": report.events / seconds, "peak_mb": _peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rules", action="append", default=None)
    parser.add_argument("--workers", default="1,2", help="worker counts to time, e.g. 1,2")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rules = args.rules if args.rules is not None else [str(SIGMA)]
    if args.child:
        print(json.dumps(child(args.child[0], json.loads(args.child[1]),
                               int(args.child[2]))))
        return
    from proctrail.generate.scale import write_scale
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor

    with tempfile.TemporaryDirectory(prefix="proctrail-detect-") as tmp:
        out = Path(tmp) / "scale"
        processes = max(1, args.events // 2)  # a 4688 and a Sysmon 1 each
        print(f"generating {processes:,} processes ...", file=sys.stderr)
        files = write_scale(out, processes, hosts=max(1, processes // 500_000))
        db = str(Path(tmp) / "case.db")
        engine = open_engine(db)
        print("ingesting and correlating ...", file=sys.stderr)
        Ingestor(engine).run([str(f) for f in files])
        correlate(engine)
        runs = []
        for workers in [int(w) for w in args.workers.split(",")]:
            done = subprocess.run([sys.executable, __file__, "--child", db, json.dumps(rules),
                                   str(workers)], capture_output=True, text=True, check=True)
            runs.append((workers, json.loads(done.stdout)))
    print(f"{'workers':>7} {'slices':>6} {'process starts':>15} {'rules':>6} {'findings':>9} "
          f"{'seconds':>8} {'starts/s':>9} {'x first':>7} {'peak MB':>8}")
    first = runs[0][1]["per_s"]
    for workers, r in runs:
        print(f"{workers:>7} {r['slices']:>6} {r['events']:>15,} {r['rules']:>6,} "
              f"{r['findings']:>9,} {r['seconds']:>8.1f} {r['per_s']:>9,.0f} "
              f"{r['per_s'] / first:>7.2f} {r['peak_mb']:>8,.0f}")


if __name__ == "__main__":
    main()
