"""What every command shares: exit codes, the one-line error, the shared options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from proctrail.app.redact import Redactor
from proctrail.store import DEFAULT_DB
from proctrail.store.errors import EXIT_OK, EXIT_SKIPPED, EXIT_SPOOLED, EXIT_USAGE
from proctrail.store.text import printable

if TYPE_CHECKING:
    from proctrail.store.detect.config import Config

__all__ = ["EXIT_OK", "EXIT_SKIPPED", "EXIT_SPOOLED", "EXIT_USAGE", "add_config", "add_db",
           "add_json", "add_redact", "add_workers", "error", "json_text", "print_json",
           "redactor", "settings"]

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
                        help="worker processes that read inputs, correlate machines and "
                             "match the rules "
                             "(default: the cores, or "
                             "$PROCTRAIL_WORKERS; 1 runs everything in this process). "
                             "Small cases and single machines always run in one")
    parser.add_argument("--cluster", metavar="ADDRESS", default=None,
                        help="a Dask scheduler (tcp://HOST:8786, or tls:// with Dask's "
                             "security settings): its workers read the inputs, correlate "
                             "the machines and match the rules; this process stores what "
                             "they return (into a PostgreSQL case they store what they "
                             "read themselves). Needs "
                             "'proctrail[cluster]' here and on the workers, the evidence "
                             "at the same path there, and the case database reachable")


def add_json(parser: argparse.ArgumentParser, what: str = "one JSON object") -> None:
    """``--json``: JSON on stdout instead of text."""
    parser.add_argument("--json", action="store_true", help=f"print {what} instead of text")


def json_text(data: object) -> str:
    """``data`` as one line of JSON, keys sorted (a stable contract), and a newline."""
    import orjson

    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode() + "\n"


def print_json(data: object) -> None:
    """:func:`json_text` on stdout."""
    sys.stdout.write(json_text(data))


CONFIG_HELP = ("settings file (default ./proctrail.toml if present): rule folders, IOC lists, "
               "baselines, track/ignore lists, redaction, which integrity anomalies become "
               "findings")


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: the settings file instead of ./proctrail.toml."""
    parser.add_argument("--config", type=Path, default=None, metavar="FILE", help=CONFIG_HELP)


def settings(args: argparse.Namespace) -> Config:
    """The settings of ``--config`` (else ./proctrail.toml, else the defaults), read once
    per command; a file that cannot be used raises a
    :class:`~proctrail.store.errors.UsageError`."""
    from proctrail.store.detect.config import load_config

    config = getattr(args, "_settings", None)
    if config is None:
        config = load_config(getattr(args, "config", None))
        args._settings = config
    return config


def add_redact(parser: argparse.ArgumentParser) -> None:
    """``--redact`` and ``--redact-pattern``."""
    parser.add_argument("--redact", action="store_true",
                        help="mask secrets in command lines (passwords after net user, "
                             "psexec -p, mysql -p, --password, /password:; keys, tokens, "
                             "Authorization headers, connection strings, user:secret@)")
    parser.add_argument("--redact-pattern", action="append", default=[], metavar="REGEX",
                        help="another secret to mask: a regular expression with two groups, "
                             "the prefix kept and the secret masked; implies --redact")


def redactor(args: argparse.Namespace) -> Redactor | None:
    """A redactor when asked for, on the command line or in the settings (:func:`settings`);
    a bad pattern or config raises a :class:`~proctrail.store.errors.UsageError`."""
    config = settings(args)
    if not (args.redact or args.redact_pattern or config.redact):
        return None
    return Redactor([*config.redact_patterns, *args.redact_pattern])
