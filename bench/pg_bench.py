"""Team-case benchmark: ingest and correlate a generated case into PostgreSQL.

    python bench/pg_bench.py [--events N] [--db URL] [--sqlite] [--repeat K] [--fast] [--json]

Writes a scale case of about N events (default 10,000,000; EVTX, Security and Sysmon of
several hosts) into ``bench/out/scale-N/`` once, starts a throwaway PostgreSQL server from
Debian's packages (``tests/pg_server.py``; with ``--db``, uses that database instead),
then measures, each in a fresh child process that reports its own peak RSS (VmHWM):

- ``bare``: the Rust EVTX parser alone over the same files (records_json to the end);
- ``ingest``: ``Ingestor.run`` into PostgreSQL (binary COPY straight into ``events``, or
  through a staging table when rows already exist; a writer thread overlapping the
  server's work with parsing);
- ``correlate``: ``correlate()`` over everything stored (lifetimes, sessions, anomalies).

It prints records/s, seconds and peak memory per phase and the ingest's ratio to the bare
parser. ``--sqlite`` runs the same ingest and correlation into a SQLite file beside it, for
comparison, and prints PostgreSQL's ingest rate over SQLite's. ``--repeat K`` runs each
ingest K times into a fresh database (PostgreSQL and SQLite taking turns, so a busy
machine slows both alike) and reports the median run. The server runs with PostgreSQL's
durable defaults (fsync on) unless ``--fast`` (the test suite's settings: fsync and
synchronous_commit off).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
EVENTS_PER_PROCESS = 3.9  # what the scale scenario writes per process (measured)


def _sibling(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ingest_bench = _sibling("ingest_bench", REPO / "bench" / "ingest_bench.py")


# -- child side ---------------------------------------------------------------------------------


def _child() -> int:
    spec = json.loads(sys.stdin.read())
    mode = spec["mode"]
    if mode == "bare":
        import evtx  # noqa: F401 - imported before the clock starts

        out = ingest_bench._run_bare(spec)
    elif mode == "ingest":
        from proctrail.store.db import open_engine
        from proctrail.store.ingest import Ingestor

        engine = open_engine(spec["db"])
        started = time.perf_counter()
        report = Ingestor(engine).run(spec["paths"])
        out = {"seconds": time.perf_counter() - started,
               "records": report.total("records_read"), "stored": report.total("stored"),
               "skipped": sum(report.skipped.values()), "failed": len(report.failed)}
        engine.dispose()
    else:
        from proctrail.store.correlate import correlate
        from proctrail.store.db import open_engine

        engine = open_engine(spec["db"])
        started = time.perf_counter()
        result = correlate(engine)
        out = {"seconds": time.perf_counter() - started, "records": result.processes,
               "sessions": result.sessions}
        engine.dispose()
    out["peak_rss_mb"] = ingest_bench._peak_rss_mb()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child"],
                          input=json.dumps(spec), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"pg_bench: {spec['mode']} run failed (exit {done.returncode}):\n"
                         f"{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- parent side --------------------------------------------------------------------------------


def _logs(events: int, quiet: bool) -> list[Path]:
    """The generated case for ``events``, written once and kept in bench/out."""
    where = OUT / f"scale-{events}"
    done = where / ".complete"
    if not done.exists():
        from proctrail.generate.scale import write_scale

        processes = max(1, int(events / EVENTS_PER_PROCESS))
        hosts = max(2, events // 1_250_000)
        if not quiet:
            print(f"generating about {events:,} events ({processes:,} processes, "
                  f"{hosts} hosts) into {where} ...", file=sys.stderr)
        write_scale(where, processes, hosts, seed=11, truth_path=OUT / f"scale-{events}.truth")
        done.touch()
    return sorted(where.glob("*.evtx"))


def _server_db(args: argparse.Namespace) -> tuple[str, Any]:
    if args.db:
        return args.db, None
    sys.path.insert(0, str(REPO / "tests"))
    from pg_server import PgServer

    server = PgServer(port=55450, fast=args.fast).start()
    return server.url(), server


def _fresh_pg(server_url: str, name: str) -> str:
    """A new empty database ``name`` on the benchmark's own server (its URL)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def _row(name: str, run: dict[str, Any], bare_rate: float | None) -> dict[str, Any]:
    rate = run["records"] / run["seconds"] if run["seconds"] else 0.0
    return {"phase": name, "records": run["records"], "seconds": round(run["seconds"], 1),
            "per_s": round(rate), "peak_rss_mb": round(run["peak_rss_mb"] or 0, 1),
            "ratio_to_bare": round(rate / bare_rate, 3) if bare_rate else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", help="an empty PostgreSQL database (default: a throwaway "
                                     "server of Debian's packages)")
    parser.add_argument("--sqlite", action="store_true", help="also into a SQLite file")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="each ingest K times, taking turns; the median is shown")
    parser.add_argument("--fast", action="store_true",
                        help="throwaway server with fsync and synchronous_commit off")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet", "-q", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child()
    files = _logs(args.events, args.quiet)
    paths = [str(f) for f in files]
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    say("bare parser ...")
    bare = _spawn({"mode": "bare", "inputs": [{"kind": "file", "path": p} for p in paths]})
    bare_rate = bare["records"] / bare["seconds"]
    rows = [_row("bare evtx parser", bare, None)]
    url, server = _server_db(args)
    pg_runs: list[dict[str, Any]] = []
    lite_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        try:
            for k in range(args.repeat):
                # The last PostgreSQL database is the one correlated (the given one with
                # --db, which is used once).
                db = url if server is None else _fresh_pg(url, f"bench{k}")
                say(f"ingest into PostgreSQL ({'fast' if args.fast else 'durable'} "
                    f"settings) {k + 1}/{args.repeat} ...")
                pg_runs.append(_spawn({"mode": "ingest", "db": db, "paths": paths}))
                if args.sqlite:
                    lite = f"sqlite:///{Path(tmp) / f'bench{k}.db'}"
                    say(f"ingest into SQLite {k + 1}/{args.repeat} ...")
                    lite_runs.append(_spawn({"mode": "ingest", "db": lite, "paths": paths}))
                if server is None:
                    break
            rows.append(_row("ingest, PostgreSQL", _median(pg_runs), bare_rate))
            say("correlate, PostgreSQL ...")
            rows.append(_row("correlate, PostgreSQL (lifetimes)",
                             _spawn({"mode": "correlate", "db": db}), None))
        finally:
            if server is not None:
                server.remove()
        if args.sqlite:
            rows.append(_row("ingest, SQLite", _median(lite_runs), bare_rate))
            say("correlate, SQLite ...")
            rows.append(_row("correlate, SQLite (lifetimes)",
                             _spawn({"mode": "correlate", "db": lite}), None))
    result: dict[str, Any] = {"events": bare["records"], "files": len(files),
                               "cpus": os.cpu_count(), "repeat": len(pg_runs), "rows": rows}
    if lite_runs:
        rate = {r["phase"]: r["per_s"] for r in rows}
        result["pg_over_sqlite"] = round(rate["ingest, PostgreSQL"]
                                         / rate["ingest, SQLite"], 3)
        result["runs_per_s"] = {
            "postgresql": [round(r["records"] / r["seconds"]) for r in pg_runs],
            "sqlite": [round(r["records"] / r["seconds"]) for r in lite_runs]}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['events']:,} events in {len(files)} EVTX files, {os.cpu_count()} cores")
    print(f"{'phase':36} {'records':>11} {'seconds':>8} {'per s':>9} {'peak MB':>8} "
          f"{'x bare':>7}")
    for r in rows:
        ratio = f"{r['ratio_to_bare']:.3f}" if r["ratio_to_bare"] is not None else ""
        print(f"{r['phase']:36} {r['records']:>11,} {r['seconds']:>8} {r['per_s']:>9,} "
              f"{r['peak_rss_mb']:>8} {ratio:>7}")
    if "pg_over_sqlite" in result:
        runs = result["runs_per_s"]
        print(f"ingest PostgreSQL / SQLite: {result['pg_over_sqlite']:.2f} (median of "
              f"{len(pg_runs)}; runs, records/s: PostgreSQL {runs['postgresql']}, SQLite "
              f"{runs['sqlite']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
