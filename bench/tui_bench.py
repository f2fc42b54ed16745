"""TUI benchmark: how long the screens take on a big host, and whether the UI stays live.

    python bench/tui_bench.py [N]        # default 100000 processes on one host

Writes a store with N lifetimes on one host (a tree of fan-out 8 under one root, written
straight into the processes table: correlation is measured elsewhere), then drives the
app headless at 80x24: open the host's tree, ``e`` on the root, and while it expands
times how late a 10 ms timer on the UI's event loop fires (how long a key would wait);
then ``e`` again and ``esc`` at once. Prints the times, how many rows ``e`` opened, the
longest and mean stall, and the peak memory.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FANOUT = 8


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_store(n: int, path: str) -> None:
    from sqlalchemy import insert

    from proctrail.store.db import open_engine
    from proctrail.store.models import Host, Process

    engine = open_engine(path)
    t0 = 1_700_000_000_000_000
    with engine.begin() as conn:
        conn.execute(insert(Host), [{"id": 1, "key": "big", "name": "BIG"}])
        rows = []
        for i in range(1, n + 1):
            parent = (i - 2) // FANOUT + 1 if i > 1 else None
            rows.append({"id": i, "host_id": 1, "pid": 4 * i, "image": f"C:\\w\\p{i % 97}.exe",
                         "command_line": f"p{i % 97}.exe /run {i}", "user": "CORP\\u",
                         "start_us": t0 + i * 1000, "end_us": t0 + i * 1000 + 500,
                         "parent_id": parent, "flags": ""})
            if len(rows) == 20_000:
                conn.execute(insert(Process), rows)
                rows.clear()
        if rows:
            conn.execute(insert(Process), rows)
    engine.dispose()


async def drive(path: str) -> dict[str, float]:
    from proctrail.app.screens.tree import TreeScreen
    from proctrail.app.tui import ProctrailApp
    from proctrail.store.db import open_engine
    from proctrail.widgets.process_tree import ProcessTree

    out: dict[str, float] = {}
    app = ProctrailApp(open_engine(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        started = time.perf_counter()
        app.open_tree(host="BIG")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        out["open tree s"] = time.perf_counter() - started
        tree = app.screen.query_one(ProcessTree)
        screen = app.screen
        assert isinstance(screen, TreeScreen)
        started = time.perf_counter()
        await pilot.press("e")
        gaps: list[float] = []  # how late a 10 ms timer on the UI's loop fires
        while screen.expanding is not None:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            gaps.append(time.perf_counter() - t - 0.01)
        out["expand s"] = time.perf_counter() - started
        out["rows opened"] = len(tree.nodes_by_id)
        out["UI stall max s"] = max(gaps, default=0.0)
        out["UI stall mean s"] = sum(gaps) / len(gaps) if gaps else 0.0
        await pilot.press("e")
        await pilot.pause(0.2)
        started = time.perf_counter()
        await pilot.press("escape")
        out["esc stops in s"] = time.perf_counter() - started
        started = time.perf_counter()
        await pilot.press("c")
        await pilot.pause()
        out["collapse s"] = time.perf_counter() - started
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = f"sqlite:///{Path(tmp) / 'tui.db'}"
        make_store(n, path)
        result = asyncio.run(drive(path))
    print(f"{n:,} processes on one host")
    for key, value in result.items():
        print(f"  {key:<20} {value:,.2f}")
    print(f"  {'peak MB':<20} {_peak_mb():,.0f}")


if __name__ == "__main__":
    main()
