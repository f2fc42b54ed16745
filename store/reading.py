"""An input read into rows: the part of an ingest that needs no database.

:func:`read_input` is a plain task (a function of an input and the read options) that a
worker process can run: it detects the format, reads every record, turns each event into
the row the store takes (host and channel by name, synthetic record ids numbered as the
serial path numbers them) and notes what damaged chunks held, all in file order. The
single writer (:class:`~proctrail.store.ingest.Ingestor`) stores the result exactly as
it stores what it reads itself.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from proctrail.store.damage import DamageTally
from proctrail.store.events import Damage, Event, Skip
from proctrail.store.readers.base import ReaderError, ReadOptions
from proctrail.store.readers.sniff import Input, open_records

# A read record before the store gives it ids (host and channel by name): also the spool's.
Row = tuple[Any, ...]


def synthetic_record_id(event: Event, occurrence: int = 0) -> int:
    """A stable negative id for a record that carries none, so re-ingest dedups it.

    ``occurrence`` tells apart records of one file that are identical in every field
    (Sysmon repeats registry and process-access events within a millisecond): the n-th
    copy gets its own id, and the same file read again gives the same ids.
    """
    key = orjson.dumps(
        [event.host, event.channel, event.event_id, event.ts_us, event.fields, occurrence],
        option=orjson.OPT_SORT_KEYS,
    )
    return -(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 1)


def event_row(event: Event, default_host: str, occurrences: Occurrences) -> Row:
    """One event as the store will take it, host and channel by name; ``occurrences``
    numbers identical records of one input (:func:`synthetic_record_id`)."""
    record_id = event.record_id
    if record_id is None:
        record_id = synthetic_record_id(event)
        occurrence = occurrences.next(record_id)
        if occurrence:
            record_id = synthetic_record_id(event, occurrence)
    ts = event.ts_us
    return (
        event.host or default_host,
        event.channel,
        event.provider,
        event.event_id,
        record_id,
        ts,
        ts // 1_000_000 if ts is not None else 0,
        event.received_us,
        event.kind,
        orjson.dumps(event.fields).decode(),
    )


class Occurrences:
    """How often each synthetic id was seen lately in one source (bounded memory).

    Identical records share a timestamp, so they arrive close together: a window of the
    most recent ids is enough to number them.
    """

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self.seen: OrderedDict[int, int] = OrderedDict()

    def next(self, base: int) -> int:
        count = self.seen.pop(base, 0)
        self.seen[base] = count + 1
        if len(self.seen) > self.size:
            self.seen.popitem(last=False)
        return count


def with_cut(records: Iterable[Event | Skip], stream: object, name: str
              ) -> Iterator[Event | Skip]:
    """``records``, then a counted skip if the archive member ended before its end marker
    (a ``.gz`` copied short): every complete record before the cut is kept."""
    yield from records
    if getattr(getattr(stream, "raw", None), "truncated", False):
        yield Skip("truncated archive", f"{name}: the compressed data ends before its end; "
                                        "what came before the cut is kept")


@dataclass(frozen=True)
class ReadTask:
    """One input to read in a worker: nothing but data."""

    item: Input
    opts: ReadOptions


@dataclass
class ReadResult:
    """An input read whole: its format, its rows, skips and damage in file order, what
    its damaged chunks held, and the reason it stopped early (``None``: read to the end).
    ``opened`` is False when it failed before any record (detection, an empty file)."""

    format: str = ""
    items: list[Row | Skip | Damage] = field(default_factory=list)
    tally: DamageTally = field(default_factory=DamageTally)
    error: str | None = None
    opened: bool = False
    missing: bool = False  # the file is not where the reader looked: the writer reads it


def read_rows(item: Input, stream: IO[bytes], opts: ReadOptions, tally: DamageTally
              ) -> tuple[str, Iterator[Row | Skip | Damage]]:
    """Detect the format of an opened input and read it as rows, skips and damage in file
    order, noting in ``tally`` what each damaged chunk held: what the writer stores, in
    this process or from a worker."""
    fmt, records = open_records(item, stream, opts)
    return fmt, _rows(with_cut(records, stream, item.name), opts.default_host, tally)


def _rows(records: Iterable[Event | Skip | Damage], default_host: str, tally: DamageTally
          ) -> Iterator[Row | Skip | Damage]:
    occurrences = Occurrences()  # identical records are numbered within one input
    for item in records:
        if isinstance(item, Skip):
            yield item
        elif isinstance(item, Damage):  # before its records, which are read as any
            tally.add(item)
            yield item
        else:
            if tally.watching:
                tally.see(item)
            yield event_row(item, default_host, occurrences)


def read_input(task: ReadTask) -> ReadResult:
    """Read ``task.item`` into rows (see the module's docstring); never raises for what
    the input holds: a failure is the result's ``error``, as the serial path words it."""
    result = ReadResult()
    try:
        with task.item.open() as stream:
            fmt, rows = read_rows(task.item, stream, task.opts, result.tally)
            result.format, result.opened = fmt, True
            for row in rows:  # one by one: what came before a failure is kept
                result.items.append(row)
    except ReaderError as exc:
        result.error = exc.reason
    except FileNotFoundError as exc:  # not here (a cluster worker without the share)
        result.error, result.missing = f"read error ({exc})", True
    except (OSError, EOFError, ValueError) as exc:
        result.error = f"read error ({exc})"
    return result
