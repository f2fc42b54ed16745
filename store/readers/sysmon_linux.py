"""Sysmon for Linux: one Windows-shaped ``<Event>`` per syslog line.

The lines come as syslog wrote them (``... sysmon: <Event>...``) or bare. Each event is
parsed as an XML export's (:func:`.xml.event_from_xml`, loose references repaired).
Syslog cuts long messages (about 2 KB): a cut event keeps its complete fields.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import IO

from proctrail.store.events import Event, Skip
from proctrail.store.readers.base import (
    MAX_LINE,
    Format,
    ReaderError,
    ReadOptions,
    RecordStream,
    capped_lines,
)
from proctrail.store.readers.xml import event_from_xml

_LAST_DATA = re.compile(r'<Data Name="([^"]*)">[^<]*</Data>$')


def sysmon_message_events(message: str, where: str,
                          received_us: int | None = None) -> Iterator[Event | Skip]:
    """The Sysmon ``<Event>`` in one syslog message; anything else is a counted skip.

    Syslog cuts long messages (about 2 KB): a cut event keeps its complete fields, and a
    skip records what was lost.
    """
    start = message.find("<Event")
    if start == -1 or not message[start:].startswith(("<Event>", "<Event ")):
        if message.strip():
            yield Skip("unsupported syslog message", f"{where}: {message.strip()[:80]!r}")
        return
    end = message.rfind("</Event>")
    cut = ""
    if end != -1:
        xml = message[start : end + len("</Event>")]
    else:
        last = message.rfind("</Data>")
        if last == -1 or message.find("<EventData>", start) == -1:
            yield Skip("truncated syslog message", f"{where}: {len(message)} characters")
            return
        xml = message[start : last + len("</Data>")]
        found = _LAST_DATA.search(xml)
        cut = found.group(1) if found else "?"
        xml += "</EventData></Event>"
    event = event_from_xml(xml, where, received_us)
    yield event
    if cut and isinstance(event, Event):
        yield Skip(
            "truncated syslog message",
            f"{where}: event {event.event_id} record {event.record_id} kept up to {cut}",
        )


def open_sysmon_syslog(stream: IO[bytes], name: str, opts: ReadOptions) -> RecordStream:
    """Sysmon for Linux: one ``<Event>`` per syslog line (``... sysmon: <Event>...``)."""
    del opts
    found = False
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    for number, line in enumerate(capped_lines(text), 1):
        if line is None:
            yield Skip("oversized line", f"line {number}: over {MAX_LINE:,} characters")
            continue
        if "<Event" in line:
            found = True
        yield from sysmon_message_events(line.rstrip("\r\n"), f"line {number}")
    if not found:
        raise ReaderError(name, "no Sysmon <Event> lines found")


def looks_like_sysmon_syslog(head: str) -> bool:
    """Lines each holding one Sysmon ``<Event>`` (with or without a syslog prefix)."""
    lines = [ln for ln in head.splitlines()[:5] if ln.strip()]
    return bool(lines) and all(
        "<Event" in ln and ("sysmon" in ln.lower() or ln.lstrip().startswith("<Event>"))
        for ln in lines[:-1] or lines
    ) and ("Linux-Sysmon" in head or "sysmon:" in head)


def _sniff(head: bytes, text: str) -> bool:
    del head
    return looks_like_sysmon_syslog(text)


FORMAT = Format("sysmon-syslog", _sniff, open_sysmon_syslog)
