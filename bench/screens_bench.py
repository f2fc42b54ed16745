"""Screen reads on a big case: how long each query a screen waits for takes.

    python bench/screens_bench.py CASE.db [--repeat N]

Times, on an existing case (e.g. the generated 300k-process case with the SigmaHQ
process-creation findings: see bench/README.md), the reads behind the first screens:
the overview (with its findings summary), the sessions list (people first), a host's
root groups and each group's first page, the children of the process with the most
children, a search, the findings list (ranked) and one process's detail and activity.
Best of ``--repeat`` runs (default 3), in milliseconds, with the rows each returned and
the process's peak memory. Not a test: the targets are in bench/README.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", help="a case store: SQLite file or URL")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--search", default="svchost", help="the search's text")
    args = parser.parse_args()

    from sqlalchemy import func, select

    from proctrail.store.db import open_engine
    from proctrail.store.models import Process
    from proctrail.store.queries import activity, browse
    from proctrail.store.queries.findings import findings_summary, ranked_findings
    from proctrail.store.queries.sessions import ranked_sessions

    engine = open_engine(args.case)
    with engine.connect() as conn:
        busiest, n = conn.execute(
            select(Process.parent_id, func.count()).where(Process.parent_id.is_not(None))
            .group_by(Process.parent_id).order_by(func.count().desc()).limit(1)).one()
        processes = conn.execute(select(func.count()).select_from(Process)).scalar_one()
    host = browse.overview(engine).hosts[0]["name"]
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("overview", lambda: browse.overview(engine)),
        ("overview's findings summary", lambda: findings_summary(engine, 5)),
        ("sessions list, people first", lambda: ranked_sessions(engine)),
        (f"host root groups ({host})", lambda: browse.host_root_groups(engine, host)),
        *((f"host roots: {group}, first 1001", lambda group=group: browse.host_roots(
            engine, host, limit=1001, group=group)) for group in browse.ROOT_GROUPS),
        (f"children of the busiest ({n})", lambda: browse.children(engine, busiest)),
        (f"search {args.search!r} (first 1000)", lambda: browse.search(engine, args.search)),
        ("search 'exe' (first 1000)", lambda: browse.search(engine, "exe")),
        ("findings list, ranked", lambda: ranked_findings(engine)),
        ("process detail", lambda: browse.process_detail(engine, busiest)),
        ("process activity (first 50)", lambda: activity.process_activity(engine, busiest, 50)),
    ]
    print(f"case {args.case}: {processes:,} processes; best of {args.repeat}")
    for name, fn in steps:
        ms, result = _best(fn, args.repeat)
        rows = len(result) if isinstance(result, list) else "-"
        print(f"  {name:<44} {ms:>9.1f} ms  {rows!s:>7} rows")
    print(f"peak memory {_peak_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
