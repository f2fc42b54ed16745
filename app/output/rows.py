"""Rows out: JSON lines or formula-safe CSV, to a file or a terminal that shows them.

Standard output that is a terminal gets log text shown, never run (:class:`TerminalText`);
a file (``--out``) or a pipe gets the exact text, unless asked for it shown
(``--printable``).
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson

from proctrail.store.text import printable

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: formula-leading text gets a ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _json_default(value: object) -> object:
    return str(value)


def write_rows(out: IO[str] | Any, records: Iterable[dict[str, Any]], columns: list[str],
               fmt: str) -> int:
    """``records`` as JSON lines or CSV (a header of ``columns``, formula-safe cells);
    returns how many."""
    n = 0
    if fmt == "jsonl":
        for n, record in enumerate(records, 1):  # noqa: B007
            out.write(orjson.dumps(record, default=_json_default).decode() + "\n")
        return n
    writer = csv.writer(out)
    writer.writerow(columns)
    for n, record in enumerate(records, 1):  # noqa: B007
        writer.writerow([csv_cell(_cell(record.get(c))) for c in columns])
    return n


def write_records(out: IO[str] | Any, records: Iterable[dict[str, Any]], fmt: str) -> int:
    """Like :func:`write_rows`, the columns those of the first record (no records, no
    CSV header); returns how many."""
    rows = iter(records)
    first = next(rows, None)
    if first is None:
        return 0
    return write_rows(out, itertools.chain([first], rows), list(first), fmt)


def _cell(value: object) -> object:
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return value


class TerminalText:
    """Standard output when it is a terminal: what the logs hold is shown, never run by
    the terminal (escape sequences, C1 controls, line separators made visible). A file
    (``--out``) or a pipe gets the exact text."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text.replace("\r\n", "\n"), keep_newlines=True))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)


@contextlib.contextmanager
def open_output(path: str | None, shown: bool = False) -> Iterator[Any]:
    """``path`` to write, else standard output: the exact text, except to a terminal or
    when ``shown`` (``--printable``), where control characters and escape sequences are
    made visible (:class:`TerminalText`)."""
    if path:
        with open(path, "w", newline="", encoding="utf-8") as f:
            yield TerminalText(f) if shown else f
        return
    yield TerminalText(sys.stdout) if shown or sys.stdout.isatty() else sys.stdout
