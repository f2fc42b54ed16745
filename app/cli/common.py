"""What every command shares: exit codes, the one-line error, the shared options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from proctrail.app.redact import Redactor
from proctrail.store import DEFAULT_DB
from proctrail.store.errors import EXIT_OK, EXIT_SKIPPED, EXIT_SPOOLED, EXIT_USAGE
from proctrail.store.text import printable

__all__ = ["EXIT_OK", "EXIT_SKIPPED", "EXIT_SPOOLED", "EXIT_USAGE", "add_db", "add_json",
           "add_redact", "add_workers", "error", "redactor", "track_filter"]

DB_HELP = (f"case store: a SQLite file or a SQLAlchemy URL (default ./{DEFAULT_DB}, or "
           "$PROCTRAIL_DB)")


def error(message: str) -> None:
    """``proctrail: error: MESSAGE`` on stderr, one line, log text made printable."""
    print(f"proctrail: error: {printable(message)}", file=sys.stderr)


def add_db(parser: argparse.ArgumentParser) -> None:
    """``--db``: the case store."""
    parser.add_argument("--db", help=DB_HELP)


def add_workers(parser: argparse.ArgumentParser) -> None:
    """``--workers N``: processes for the parallel steps."""
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes that read inputs and correlate machines "
                             "(default: the cores, or "
                             "$PROCTRAIL_WORKERS; 1 runs everything in this process). "
                             "Small cases and single machines always run in one")


def add_json(parser: argparse.ArgumentParser) -> None:
    """``--json``: one JSON object instead of text."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def add_redact(parser: argparse.ArgumentParser) -> None:
    """``--redact`` and ``--redact-pattern``."""
    parser.add_argument("--redact", action="store_true",
                        help="mask secrets in command lines (passwords after net user, "
                             "psexec -p, mysql -p, --password, /password:; keys, tokens, "
                             "Authorization headers, connection strings, user:secret@)")
    parser.add_argument("--redact-pattern", action="append", default=[], metavar="REGEX",
                        help="another secret to mask: a regular expression with two groups, "
                             "the prefix kept and the secret masked; implies --redact")


def track_filter() -> Callable[[str], bool] | None:
    """The track/ignore lists of ./proctrail.toml, if any."""
    from proctrail.store.detect.config import load_config

    return load_config(None).track_filter


def redactor(args: argparse.Namespace) -> Redactor | None:
    """A redactor when asked for, on the command line or in ./proctrail.toml; a bad
    pattern or config raises a :class:`~proctrail.store.errors.UsageError`."""
    from proctrail.store.detect.config import load_config

    config = load_config(None)
    if not (args.redact or args.redact_pattern or config.redact):
        return None
    return Redactor([*config.redact_patterns, *args.redact_pattern])
