"""The readers a fuzzed input goes to: one reader by its mode, or ingest's sniffing of a
file (archive members too); and reading in this process, for the regression tests."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def open_reader(mode: str, stream: Any, name: str, options: dict[str, Any]) -> Iterable[Any]:
    """The records of the reader ``mode`` (evtx is the Rust parser) over ``stream``."""
    from proctrail.store.readers.auditd import open_auditd
    from proctrail.store.readers.base import ReadOptions
    from proctrail.store.readers.evtx_python import open_evtx_python
    from proctrail.store.readers.evtx_rust import open_evtx_rust
    from proctrail.store.readers.jsonl import open_jsonl
    from proctrail.store.readers.sysmon_linux import open_sysmon_syslog
    from proctrail.store.readers.xml import open_xml_export

    opts = ReadOptions(local_offset=options.get("offset"), threads=options.get("threads", 1))
    if mode == "evtx":
        return open_evtx_rust(stream, name, opts.threads)
    if mode == "python-evtx":
        return open_evtx_python(stream, name)
    openers = {"xml": open_xml_export, "jsonl": open_jsonl, "auditd": open_auditd,
               "sysmon-syslog": open_sysmon_syslog}
    return openers[mode](stream, name, opts)


def read_sniffed(path: Path, options: dict[str, Any]) -> Iterable[Any]:
    """What ingest reads of ``path``: every input (archive members too), sniffed."""
    from proctrail.store.readers.base import ReaderError, ReadOptions
    from proctrail.store.readers.sniff import iter_inputs, open_records

    opts = ReadOptions(parser=options.get("parser", "evtx"), threads=options.get("threads", 1))
    for item in iter_inputs([str(path)]):
        if isinstance(item, ReaderError):
            yield ("input error", item.reason)
            continue
        try:
            item.sha256()
            with item.open() as stream:
                _, records = open_records(item, stream, opts)
                yield from records
        except ReaderError as exc:
            yield ("reader error", exc.reason)


def read_direct(mode: str, data: bytes, **options: Any) -> tuple[list[Any], str | None]:
    """Every item a reader yields for ``data`` (in this process), and its ReaderError."""
    from proctrail.store.readers.base import ReaderError

    items: list[Any] = []
    try:
        items.extend(open_reader(mode, io.BytesIO(data), "regression", options))
    except ReaderError as exc:
        return items, exc.reason
    return items, None


def events_and_skips(items: list[Any]) -> tuple[list[Any], Counter[str]]:
    """The events of ``items``, and the count of its skips by reason."""
    from proctrail.store.events import Event, Skip

    return ([i for i in items if isinstance(i, Event)],
            Counter(i.reason for i in items if isinstance(i, Skip)))
