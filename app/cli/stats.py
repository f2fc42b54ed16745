"""``proctrail stats``: counts of the case store."""

from __future__ import annotations

import argparse
import sys

from proctrail.app.cli.common import EXIT_OK, add_db, add_json
from proctrail.store.text import printable


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="counts of the case store",
                        description="Counts of the case store: events, sources, hosts, skips, "
                                    "and events per channel and event id.")
    add_db(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import orjson

    from proctrail.store.db import open_engine
    from proctrail.store.queries import stats
    from proctrail.store.timefmt import clock

    engine = open_engine(args.db)
    data = stats(engine)
    if args.json:
        sys.stdout.write(orjson.dumps(data).decode() + "\n")
        return EXIT_OK
    print(f"events   {data['events']:,}")
    print(f"sources  {data['sources']:,} ({data['failed_sources']} unreadable)")
    aliases = data["host_aliases"]  # a machine's other names in the logs
    print("hosts    " + ", ".join(
        printable(h) + (f" (also {', '.join(printable(a) for a in aliases[h])})"
                        if h in aliases else "") for h in data["hosts"]))
    first, last = clock(data["first_us"], "unknown"), clock(data["last_us"], "unknown")
    print(f"span     {first} .. {last} (UTC)")
    print(f"skipped  {data['skipped']:,}")
    if data["uncorrelated_events"]:
        print(f"         {data['uncorrelated_events']:,} events stored since the last "
              "correlation: run 'proctrail correlate'")
    for reason, n in sorted(data["skip_reasons"].items()):
        print(f"  {printable(reason):<20} {n:,}")
    if data["damaged_chunks"]:  # stored as read; the chunks fail their checksums
        checks = ", ".join(f"{c} {n:,}" for c, n in data["damage_checks"].items())
        print(f"damaged  {data['damaged_chunks']:,} chunk(s) fail their checksums ({checks}): "
              "the 'checksum_mismatch' anomalies")
    if data["unplaced"]:  # read and stored, but about a process none was found for
        print(f"unplaced {sum(data['unplaced'].values()):,} (the 'unplaced_event' anomalies)")
        for reason, n in data["unplaced"].items():
            print(f"  {printable(reason):<45} {n:,}")
    print("kinds")
    for kind, n in data["kinds"].items():
        print(f"  {kind:<20} {n:,}")
    print("\nchannel / event id")
    for row in data["counts"]:
        print(f"  {printable(row['channel']):<45} {row['event_id']:>6} {row['n']:>9,}")
    return EXIT_OK
