"""Every core: ingest + correlate of one case with 1, 2 and all workers, beside the bare parse.

    python bench/workers_bench.py PATH... [--workers 1,2,0] [--repeat N] [--cluster N] [--pg]

Each measurement is a fresh child process (so peak memory is its own) into a fresh SQLite
store: ``Ingestor(..., workers=N).run(PATHS)`` then ``correlate(..., workers=N)``, timed
apart. The bare parse (the Rust parser's ``records_json()`` iterated over every ``.evtx``
under PATHS, single-threaded and with the parser's own threads) runs in the same session;
the ratios are records/s over the bare single-thread parse's. ``0`` in ``--workers`` means
all the cores. Best of ``--repeat`` (default 1) runs, peak memory the highest.
``--cluster N`` adds a row through a Dask cluster started here for the run (a scheduler
and N one-thread worker processes on 127.0.0.1): ``--cluster`` as a team would use it,
minus the network (peak memory is the command's, not the workers'). ``--pg`` runs every
row into a fresh PostgreSQL database too (a throwaway server from Debian's packages with
its durable defaults, ``tests/pg_server.py``), SQLite and PostgreSQL taking turns so a
busy machine slows both alike, and prints PostgreSQL's ingest rate over SQLite's per row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = """
import json, sys, time
from pathlib import Path
if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor
    engine = open_engine(spec["url"])
    t0 = time.perf_counter()
    report = Ingestor(engine, workers=spec["workers"], cluster=spec.get("cluster")).run(
        spec["paths"])
    t1 = time.perf_counter()
    result = correlate(engine, workers=spec["workers"], cluster=spec.get("cluster"))
    t2 = time.perf_counter()
    peak = next(int(line.split()[1]) / 1024 for line in
                Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    print(json.dumps({"records": report.total("records_read"), "read_s": t1 - t0,
                      "correlate_s": t2 - t1, "processes": result.processes,
                      "peak_mb": peak}))
"""


def bare(paths: list[str], threads: int) -> tuple[int, float]:
    import evtx

    files = sorted({f for p in paths for f in (Path(p).rglob("*.evtx") if Path(p).is_dir()
                                                 else [Path(p)]) if f.suffix == ".evtx"})
    n, t0 = 0, time.perf_counter()
    for f in files:
        for _record in evtx.PyEvtxParser(str(f), number_of_threads=threads).records_json():
            n += 1
    return n, time.perf_counter() - t0


def run(paths: list[str], workers: int, tmp: Path, i: int,
        cluster: str | None = None, pg: str | None = None) -> dict[str, float]:
    name = f"case{workers}-{i}-{bool(cluster)}"
    url = _fresh_pg(pg, name) if pg else f"sqlite:///{tmp / f'{name}.db'}"
    spec = {"url": url, "paths": paths, "workers": workers or None, "cluster": cluster}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--workers", default="1,2,0", help="worker counts (0: all cores)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cluster", type=int, default=0, metavar="N",
                        help="also through a local Dask cluster of N workers")
    parser.add_argument("--pg", action="store_true",
                        help="every row into PostgreSQL too (a throwaway server)")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    n, single = bare(args.paths, 1)
    _n, threaded = bare(args.paths, 0)
    print(f"bare parse: {n:,} records, single-threaded {single:.1f} s ({n / single:,.0f}/s),"
          f" parser threads {threaded:.1f} s ({n / threaded:,.0f}/s); cores "
          f"{os.cpu_count()}")
    print(f"{'workers':>10} {'read s':>7} {'correlate s':>12} {'total s':>8} {'rec/s':>9} "
          f"{'× bare':>7} {'peak MB':>8} {'read PG/SQLite':>15}")
    line = []
    rows: list[tuple[int, str | None]] = [(w, None) for w in counts]
    cluster = _start_cluster(args.cluster) if args.cluster else None
    if cluster is not None:
        rows.append((args.cluster, cluster[0]))
    server = _pg_server() if args.pg else None
    stores: list[str | None] = [None, server.url()] if server is not None else [None]
    try:
        with tempfile.TemporaryDirectory() as folder:
            for workers, address in rows:
                best: dict[str | None, dict[str, float]] = {}
                for store in stores:
                    runs = [run(args.paths, workers, Path(folder), i, address, store)
                            for i in range(args.repeat)]
                    best[store] = min(runs, key=lambda r: r["read_s"] + r["correlate_s"])
                    best[store]["peak_mb"] = max(r["peak_mb"] for r in runs)
                for store, got in best.items():
                    total = got["read_s"] + got["correlate_s"]
                    rate = got["records"] / total
                    name = (f"dask {workers}" if address else str(workers or "all")) + (
                        " PG" if store else "")
                    ratio = (f"{best[None]['read_s'] / got['read_s']:>15.2f}" if store
                             else "")
                    print(f"{name:>10} {got['read_s']:>7.1f} {got['correlate_s']:>12.1f} "
                          f"{total:>8.1f} {rate:>9,.0f} {rate / (n / single):>7.3f} "
                          f"{got['peak_mb']:>8.0f} {ratio}")
                    line.append(f"{name}: {total:.1f} s")
    finally:
        if server is not None:
            server.stop()
            server.remove()
    if cluster is not None:
        for proc in cluster[1]:
            proc.kill()
    print("scaling: " + ", ".join(line))
    return 0


def _pg_server() -> Any:
    """A throwaway PostgreSQL server (durable defaults) for the run."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from pg_server import PgServer

    return PgServer(port=55451, fast=False).start()


def _fresh_pg(server_url: str, name: str) -> str:
    """A new empty database ``name`` on that server, its URL (pg_bench's helper)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pg_bench", Path(__file__).with_name(
        "pg_bench.py"))
    assert spec and spec.loader
    pg_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pg_bench)
    url: str = pg_bench._fresh_pg(server_url, name)
    return url


def _start_cluster(n: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A scheduler and ``n`` one-thread workers on 127.0.0.1, up and registered."""
    import socket

    from distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(n)]
    for _ in range(120):
        try:
            with Client(address, timeout=5) as client:
                if len(client.nthreads()) >= n:
                    return address, procs
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the local Dask cluster at {address} did not come up")


if __name__ == "__main__":
    raise SystemExit(main())
