"""The ``proctrail`` command: one module a subcommand over one case store.

Each module (``ingest.py``, ``export.py`` ...) declares its arguments in ``add_parser`` and
does its work in ``run``, dispatched by ``set_defaults(func=run)``; what they share (the
exit codes, the one-line error, ``--db``, ``--redact``, ``--json``) is in ``common.py``.
Every error proctrail refuses with is a :class:`~proctrail.store.errors.ProctrailError`,
caught here, once, into one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from proctrail.app.cli import (
    baseline,
    completion,
    correlate,
    db,
    detect,
    export,
    generate,
    ingest,
    open_case,
    report,
    serve,
    stats,
    tree,
)
from proctrail.app.cli.common import EXIT_OK, EXIT_SKIPPED, error
from proctrail.store import DEFAULT_DB
from proctrail.store.errors import ProctrailError

# In the order ``proctrail --help`` lists them.
COMMANDS = (ingest, correlate, detect, baseline, export, tree, report, generate, open_case,
            serve, stats, db, completion)

DESCRIPTION = """\
proctrail reads process-tracking logs (Windows Security and Sysmon EVTX, XML and JSON
exports, Linux auditd and Sysmon for Linux) into a case store, rebuilds process
lifetimes and parent chains, and lets you investigate them from the terminal."""


def _version() -> str:
    try:
        return version("proctrail")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="proctrail", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"proctrail {_version()}",
                        help="print proctrail's version and exit")
    # Its own dest: a subcommand's --db default would overwrite this one's value.
    parser.add_argument("--db", dest="case_db", metavar="CASE",
                        help="the case store; with no command, open it in the TUI (as "
                             "'proctrail open --db CASE'); before a command, its --db")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        chosen = default_command(args.case_db, sys.stdin.isatty() and sys.stdout.isatty())
        if chosen is None:
            parser.print_help()
            if sys.stdout.isatty():
                print(f"\n{NO_CASE}", file=sys.stderr)
            return EXIT_OK
        args = parser.parse_args(chosen)
    elif args.case_db and getattr(args, "db", None) is None and hasattr(args, "db"):
        args.db = args.case_db  # proctrail --db CASE stats
    try:
        return int(args.func(args))
    except ProctrailError as exc:
        error(str(exc))
        return exc.exit_code
    except BrokenPipeError:
        # The reader of our output went away (``| head``): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        error("interrupted; what was stored is consistent, run the same command to finish")
        return 130
    except Exception as exc:
        if not _from_the_store(exc):
            raise
        # A write or read the store refused: say what it means.
        from proctrail.store.db import database_url
        from proctrail.store.failures import store_failure

        error(str(store_failure(exc, database_url(getattr(args, "db", None)), args.command)))
        return EXIT_SKIPPED


NO_CASE = ("no case here: ./proctrail.db does not exist and $PROCTRAIL_DB is not set. "
           "'proctrail open PATH...' reads logs into a new ./proctrail.db; "
           "'proctrail --db CASE' opens another case.")


def default_command(case_db: str | None, terminal: bool) -> list[str] | None:
    """What ``proctrail`` with no command runs: ``open`` on ``--db CASE`` when given (as
    ``proctrail open --db CASE`` would, terminal or not); else, at a terminal, ``open`` on
    $PROCTRAIL_DB or ./proctrail.db when there is one; else nothing (the help is printed:
    no TUI for a script, and no empty ./proctrail.db left in whatever folder this is)."""
    if case_db:
        return ["open", "--db", case_db]
    if terminal and (os.environ.get("PROCTRAIL_DB") or os.path.isfile(DEFAULT_DB)):
        return ["open"]
    return None


def _from_the_store(exc: BaseException) -> bool:
    """A SQLAlchemy error: without importing SQLAlchemy (0.1 s) when no command did."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)


__all__ = ["build_parser", "main"]
