"""``proctrail baseline``: known executables, built from a period, imported or exported."""

from __future__ import annotations

import argparse
from pathlib import Path

from proctrail.app.cli.common import EXIT_OK, add_db
from proctrail.store.errors import UsageError
from proctrail.store.text import printable


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baseline", help="known executables: build from a period, import, export",
        description="A baseline lists the executables known to run. 'build' takes every "
                    "image started in a period (all hosts together, --per-host, or the "
                    "--host a golden machine); 'import' reads a listing (dir /s /b output "
                    "or one path a line); 'export' prints it. 'proctrail detect --baseline "
                    "NAME' then reports the first run of every other executable. Paths "
                    "compare case- and separator-insensitively.")
    p.add_argument("action", choices=("build", "import", "export"),
                   help="build from a period, import a listing, or export (print) it")
    p.add_argument("name", help="the baseline's name")
    p.add_argument("file", nargs="?", type=Path, help="import: the listing to read")
    add_db(p)
    p.add_argument("--from", dest="start", metavar="TIME", help="build: from this time")
    p.add_argument("--to", dest="end", metavar="TIME", help="build: up to this time")
    p.add_argument("--host", action="append", default=[],
                   help="build: only these hosts; import: the host the listing is of")
    p.add_argument("--per-host", action="store_true",
                   help="build: each host its own list (default: one list for all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.store.db import open_engine
    from proctrail.store.detect.baseline import build_baseline, export_baseline, import_baseline
    from proctrail.store.readers.base import parse_time

    engine = open_engine(args.db)
    if args.action == "build":
        times = []
        for text in (args.start, args.end):
            us = parse_time(text) if text else None
            if text and us is None:
                raise UsageError(f"not a time: {text!r} (use e.g. 2026-01-01 or "
                                 "2026-01-01T08:00)")
            times.append(us)
        n = build_baseline(engine, args.name, times[0], times[1], args.host, args.per_host)
        print(f"baseline {args.name}: {n:,} executables")
    elif args.action == "import":
        if args.file is None:
            raise UsageError("baseline import needs the listing file to read")
        n = import_baseline(engine, args.name, args.file, args.host[0] if args.host else "")
        print(f"baseline {args.name}: {n:,} executables from {args.file}")
    else:
        for line in export_baseline(engine, args.name):
            print(printable(line))
    return EXIT_OK
