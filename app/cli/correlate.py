"""``proctrail correlate``: rebuild process lifetimes and logon sessions."""

from __future__ import annotations

import argparse

from proctrail.app.cli.common import EXIT_OK, add_config, add_db, add_workers, settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("correlate", help="rebuild process lifetimes and logon sessions",
                       description="Rebuild process lifetimes and logon sessions from every "
                                   "stored event (ingest does this after reading).")
    add_db(p)
    add_workers(p)
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.cli.summary import print_correlation
    from proctrail.store.correlate import correlate
    from proctrail.store.db import open_engine

    config = settings(args)
    print_correlation(correlate(open_engine(args.db), tracked=config.track_filter,
                                workers=args.workers, image_loads=config.image_loads,
                                cluster=args.cluster))
    return EXIT_OK
