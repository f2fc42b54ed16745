"""``proctrail db``: the store's schema version; upgrade an older store."""

from __future__ import annotations

import argparse
from pathlib import Path

from proctrail.app.cli.common import EXIT_OK, EXIT_SKIPPED, add_db, error


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "db", help="the store's schema version: show it, or upgrade an older store",
        description="'current' prints the store's schema revision; 'upgrade' brings a store "
                    "made by an older proctrail to this one's revision, in one transaction, "
                    "keeping every row (a store made before schema versions is recognised "
                    "by its tables). Other commands refuse an older store until then.")
    p.add_argument("action", choices=("upgrade", "current"),
                   help="current: print the store's schema revision; upgrade: bring it "
                        "to this proctrail's")
    add_db(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.store.db import (
        HEAD,
        REVISIONS,
        open_engine,
        schema_state,
        shown,
        upgrade,
        upgrade_command,
    )

    engine = open_engine(args.db, create=False, check=False)
    name = shown(engine.url)
    if engine.dialect.name == "sqlite" and name == engine.url.database and \
            not Path(name).is_file():
        error(f"{name}: no such store")
        return EXIT_SKIPPED
    if args.action == "upgrade":
        start, end = upgrade(engine)
        if start is None:
            print(f"created {name} at {end}")
        elif start == end:
            print(f"{name} is up to date ({end})")
        else:
            print(f"upgraded {name} from {start} to {end}")
        return EXIT_OK
    state = schema_state(engine)
    if state.revision is None:
        note = "empty: no proctrail tables yet"
    elif state.revision == HEAD:
        note = "up to date" if state.stamped else \
            "made before schema versions; opening it stamps it"
    elif state.revision in REVISIONS:
        note = ("older" if state.stamped else "made before schema versions") + \
            f"; run '{upgrade_command(name)}' to bring it to {HEAD}"
    else:
        note = f"newer than this proctrail, which knows up to {HEAD}"
    print(f"{name}: {state.revision or '-'} ({note})")
    return EXIT_OK
