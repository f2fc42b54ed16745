"""Would partitioning PostgreSQL's events table by host pay? Measured, not guessed.

    python bench/pg_partition_bench.py PATH... [--partitions 8] [--db URL]

Ingests PATH (a generated case, say ``proctrail generate scale --hosts 8``) into a fresh
PostgreSQL database (a throwaway server from Debian's packages with its durable defaults,
or ``--db``), dumps its events once in binary, then loads them into two tables shaped
like ``events`` with the same unique and secondary indexes: one plain (``events`` as
proctrail has it), one hash-partitioned by ``host_id`` (its primary key must then hold
``host_id``, which is what the real table's foreign keys from processes and activity
could not follow). For each it times:

- ``load``: one writer, the whole dump (a fresh case's ingest with indexes live);
- ``load 2 streams``: two writers at once, each its own hosts (one writer connection per
  host stream);
- ``read``: every host's correlation read (``host_id`` and process kinds, in time order),
  what each machine's correlation task runs, warm.

Prints seconds and the partitioned table's time over the plain one's.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
KINDS = ("process_start", "process_end", "logon", "logoff", "boot")
COLUMNS = ("id, source_id, host_id, channel_id, provider, event_id, record_id, ts_us, "
           "ts_key, received_us, kind, data")


def _server() -> Any:
    sys.path.insert(0, str(REPO / "tests"))
    from pg_server import PgServer

    return PgServer(port=55452, fast=False).start()


def _tables(conn: Any, partitions: int) -> None:
    """``t_plain`` and ``t_part``: the events' columns, keys and indexes."""
    conn.execute("DROP TABLE IF EXISTS t_plain, t_part CASCADE")
    conn.execute("CREATE TABLE t_plain (LIKE events INCLUDING DEFAULTS)")
    conn.execute("ALTER TABLE t_plain ADD PRIMARY KEY (id)")
    conn.execute("CREATE TABLE t_part (LIKE events INCLUDING DEFAULTS) "
                 "PARTITION BY HASH (host_id)")
    conn.execute("ALTER TABLE t_part ADD PRIMARY KEY (host_id, id)")
    for i in range(partitions):
        conn.execute(f"CREATE TABLE t_part_{i} PARTITION OF t_part "
                     f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {i})")
    for table in ("t_plain", "t_part"):
        conn.execute(f"CREATE UNIQUE INDEX {table}_natural ON {table} "
                     "(host_id, channel_id, record_id, ts_key, event_id)")
        conn.execute(f"CREATE INDEX {table}_kind_host_ts ON {table} (kind, host_id, ts_us)")
        conn.execute(f"CREATE INDEX {table}_host_ts ON {table} (host_id, ts_us)")
        conn.execute(f"CREATE INDEX {table}_source ON {table} (source_id)")


def _load(url: str, table: str, hosts: list[int] | None = None) -> None:
    """COPY the dump's rows (those of ``hosts`` if given) into ``table``, in batches of
    5,000 rows as an ingest writes them."""
    import psycopg

    with psycopg.connect(url) as conn:
        where = f" WHERE host_id IN ({','.join(map(str, hosts))})" if hosts else ""
        with conn.cursor(name="dump", withhold=True) as cur:  # lives across commits
            cur.execute(f"SELECT {COLUMNS} FROM dump{where} ORDER BY id")
            while rows := cur.fetchmany(5000):
                with conn.cursor() as out, out.copy(
                        f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.commit()


def _read(url: str, table: str, hosts: list[int]) -> int:
    import psycopg

    n = 0
    kinds = ",".join(f"'{k}'" for k in KINDS)
    with psycopg.connect(url) as conn:
        for host in hosts:
            with conn.cursor(name="r") as cur:  # server-side, streamed like the real read
                cur.execute(f"SELECT id, ts_us, kind, data FROM {table} WHERE host_id = "
                            f"{host} AND kind IN ({kinds}) ORDER BY ts_us, record_id, id")
                while batch := cur.fetchmany(5000):
                    n += len(batch)
            conn.commit()
    return n


def _timed(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--db", help="an empty PostgreSQL database (default: a throwaway "
                                     "server)")
    args = parser.parse_args()
    import psycopg
    from sqlalchemy.engine import make_url

    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor

    server = None if args.db else _server()
    url = args.db or server.url()
    try:
        engine = open_engine(url)
        print("ingesting ...", file=sys.stderr)
        Ingestor(engine).run(args.paths)
        engine.dispose()
        raw = make_url(url)
        dsn = raw.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS dump")
            conn.execute(f"CREATE TABLE dump AS SELECT {COLUMNS} FROM events")
            hosts = [h for (h,) in conn.execute("SELECT DISTINCT host_id FROM dump "
                                                "ORDER BY 1")]
            events = conn.execute("SELECT count(*) FROM dump").fetchone()[0]
        print(f"{events:,} events, {len(hosts)} hosts, {args.partitions} partitions")
        results: dict[str, dict[str, float]] = {}
        for table in ("t_plain", "t_part"):
            got = results[table] = {}
            with psycopg.connect(dsn, autocommit=True) as conn:
                _tables(conn, args.partitions)
            got["load"] = _timed(_load, dsn, table)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"VACUUM ANALYZE {table}")
            _read(dsn, table, hosts)  # warm
            got["read"] = _timed(_read, dsn, table, hosts)
            with psycopg.connect(dsn, autocommit=True) as conn:
                _tables(conn, args.partitions)
            halves = [hosts[0::2], hosts[1::2]]
            threads = [threading.Thread(target=_load, args=(dsn, table, h))
                       for h in halves]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            got["load 2 streams"] = time.perf_counter() - started
        print(f"{'':<16} {'plain s':>8} {'by host s':>10} {'by host / plain':>16}")
        for what in ("load", "load 2 streams", "read"):
            plain, part = results["t_plain"][what], results["t_part"][what]
            print(f"{what:<16} {plain:>8.1f} {part:>10.1f} {part / plain:>16.2f}")
    finally:
        if server is not None:
            server.stop()
            server.remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
