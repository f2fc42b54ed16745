"""``proctrail open``: the investigator TUI (the default with no command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from proctrail.app.cli.common import (
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_USAGE,
    add_config,
    add_db,
    add_redact,
    error,
    redactor,
    settings,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "open", help="open the investigator TUI (the default with no command)",
        description="Open the investigator TUI on the case store; log paths given are read "
                    "into it first (with progress), then correlated. Keys: 2 sessions, / "
                    "search, 3 findings, ? keys, ctrl+p every action, q quit.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="logs to read in first")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep reading PATHs as they grow and as files are dropped in; "
                        "the screens refresh in place (as 'proctrail ingest --follow')")
    add_db(p)
    add_redact(p)
    add_config(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proctrail.app.tui import ProctrailApp
    from proctrail.store.db import open_engine

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        error(f"{missing[0]}: no such file or folder")
        return EXIT_USAGE
    masking = redactor(args)  # a bad pattern, or a config file that cannot be used: exit 2
    if args.follow and not args.paths:
        error("open --follow: give the PATHs to follow")
        return EXIT_USAGE
    app = ProctrailApp(open_engine(args.db), ingest=args.paths, redactor=masking,
                       config=settings(args), follow=args.follow)
    app.run()
    if app.return_code:  # Textual printed the traceback; a script must not read success
        error(f"the TUI stopped on an error (exit {app.return_code}); see above")
        return EXIT_SKIPPED
    return EXIT_OK
