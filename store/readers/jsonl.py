"""JSON lines: one Windows (or Sysmon for Linux) event per line, in any of four shapes.

* ``evtx_dump -o jsonl`` / the Rust ``evtx`` tree: ``{"Event": {"System": ..., ...}}``;
* Winlogbeat / ECS: a ``winlog`` object beside ``@timestamp`` (UTC);
* flat NXLog rows (the OTRF datasets): the event's data at the top level, mixed with
  collector metadata, ``EventTime`` in the collector's local time with no zone;
* Azure Sentinel syslog rows whose ``SyslogMessage`` holds a Sysmon for Linux ``<Event>``.

The shape is decided per line, so a file may mix them. A line that cannot be read is a
counted :class:`Skip`; only a file whose first line is no JSON object is refused.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import IO, Any

import orjson

from proctrail.store.events import (
    REMOTE_CHANNELS,
    SYSMON,
    SYSMON_LINUX,
    Event,
    Skip,
    canonical_channel,
)
from proctrail.store.readers.base import (
    MAX_LINE,
    Format,
    ReaderError,
    ReadOptions,
    RecordStream,
    as_text,
    capped_lines,
    parse_time,
    to_int,
)
from proctrail.store.readers.sysmon_linux import sysmon_message_events
from proctrail.store.readers.winevent import event_from_json, make_event

_BOM = "\ufeff"
_JSONL_HEAD = re.compile(r'^\{\s*["}]')
# A time of day followed by a zone: "...:54Z", "... 22:50:54+02:00", "...:54 UTC".
_ZONED = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)$")
_QUARTER_US = 15 * 60 * 1_000_000
_MIN_OFFSET_US = -12 * 3600 * 1_000_000
_MAX_OFFSET_US = 14 * 3600 * 1_000_000
_SYSMON_PROVIDERS = {"microsoft-windows-sysmon", "linux-sysmon"}

# Top-level keys of flat rows that NXLog, logstash or an export script added: not event data.
_FLAT_METADATA = frozenset(
    {
        "EventTime", "EventReceivedTime", "@timestamp", "@version", "Hostname", "host", "port",
        "tags", "type", "SourceModuleName", "SourceModuleType", "Severity", "SeverityValue",
        "EventType", "EventTypeOrignal", "Keywords", "Task", "Version", "OpcodeValue", "Opcode",
        "Category", "RecordNumber", "ProviderGuid", "SourceName", "Channel", "EventID",
        "ExecutionProcessID", "ThreadID", "Message", "Domain", "AccountName", "UserID",
        "AccountType", "Level", "ActivityID", "RelatedActivityID", "ERROR_EVT_UNRESOLVED",
        "TimeCreated", "UserData",
    }
)
# What NXLog adds from the header's UserID: the event's own data when there is no UserID
# (4778/4779's AccountName is the reconnecting user, not the logging account).
_FROM_USER_ID = frozenset({"Domain", "AccountName", "AccountType"})


def looks_like_jsonl(head: bytes) -> bool:
    """True when the first non-empty line opens a one-line JSON object (``{"...``)."""
    text = head.decode("utf-8", errors="replace").lstrip(_BOM)
    for line in text.splitlines():
        if line.strip():
            return bool(_JSONL_HEAD.match(line.lstrip()))
    return False


def open_jsonl(stream: IO[bytes], name: str, opts: ReadOptions) -> RecordStream:
    """Events of a JSON-lines log, read line by line; :class:`ReaderError` if it is none."""
    lines = _lines(stream)
    oversized: list[Skip] = []  # before the first record as anywhere else: a counted skip
    for number, line in lines:
        if line is None:
            oversized.append(Skip("oversized line", f"line {number}: over {MAX_LINE:,} bytes"))
            continue
        if not line.strip():
            continue
        try:
            first = orjson.loads(line)
        except orjson.JSONDecodeError:
            first = None
        if not isinstance(first, dict):
            raise ReaderError(name, f"not a JSON-lines log (line {number} is no JSON object)")
        return itertools.chain(oversized, _records(first, number, lines, opts))
    return iter(oversized)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """Numbered lines decoded as UTF-8 (bad bytes replaced), without a leading BOM; None
    for a line over MAX_LINE (no record is that long)."""
    for number, raw in enumerate(capped_lines(stream), 1):
        if raw is None:
            yield number, None
            continue
        line = raw.decode("utf-8", errors="replace")
        if number == 1:
            line = line.lstrip(_BOM)
        yield number, line


def _records(
    first: dict[str, Any], first_number: int, lines: Iterator[tuple[int, str | None]],
    opts: ReadOptions,
) -> RecordStream:
    yield from _record(first, first_number, opts)
    for number, line in lines:
        if line is None:
            yield Skip("oversized line", f"line {number}: over {MAX_LINE:,} bytes")
            continue
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Skip("invalid JSON", f"line {number}: {exc}"[:300])
            continue
        yield from _record(obj, number, opts)


def _record(obj: Any, number: int, opts: ReadOptions) -> list[Event | Skip]:
    """One parsed line as an event (with a skip if it was cut), or a skip saying why not."""
    records = _shaped(obj, number, opts)
    for record in records:
        if isinstance(record, Event) and not record.host:
            record.host = opts.default_host
    return records


def _shaped(obj: Any, number: int, opts: ReadOptions) -> list[Event | Skip]:
    """The records of one JSON value, read by its shape."""
    if not isinstance(obj, dict):
        return [Skip("unknown JSON shape", f"line {number}: a JSON {type(obj).__name__}")]
    try:
        event = obj.get("Event")
        if isinstance(event, dict) and "System" in event:
            return [event_from_json(obj)]
        winlog = obj.get("winlog")
        if isinstance(winlog, dict):
            return [_winlogbeat(obj, winlog)]
        if "SyslogMessage" in obj:
            return list(_syslog(obj, number))
        if "EventID" in obj and ("Channel" in obj or "SourceName" in obj):
            return [_flat(obj, opts)]
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # RecursionError: data nested deeper than Python recurses (orjson allows 1024).
        return [Skip("malformed event", f"line {number}: {exc!r}"[:300])]
    keys = ", ".join(list(obj)[:8])
    return [Skip("unknown JSON shape", f"line {number}: keys {keys}"[:300])]


# --- Winlogbeat / ECS ---------------------------------------------------------------------


def _winlogbeat(obj: Mapping[str, Any], winlog: Mapping[str, Any]) -> Event:
    ecs_event = obj.get("event") if isinstance(obj.get("event"), dict) else {}
    event_id = to_int(winlog.get("event_id"))
    if event_id is None:
        event_id = to_int(ecs_event.get("code"))
    if event_id is None:
        raise ValueError("no event id (winlog.event_id, event.code)")
    host = obj.get("host")
    computer = as_text(winlog.get("computer_name")) or as_text(
        host.get("name") if isinstance(host, dict) else host
    )
    fields: dict[str, str] = {}
    for key in ("event_data", "user_data"):
        data = winlog.get(key)
        if isinstance(data, dict):
            _flatten(data, fields)
    received = ecs_event.get("created") or ecs_event.get("ingested")
    return make_event(
        computer=computer,
        channel=as_text(winlog.get("channel")),
        provider=as_text(winlog.get("provider_name")),
        event_id=event_id,
        record_id=to_int(winlog.get("record_id")),
        ts_us=parse_time(as_text(obj.get("@timestamp"))),
        fields=fields,
        received_us=parse_time(as_text(received)),
        execution_pid=as_text((winlog.get("process") or {}).get("pid"))
        if isinstance(winlog.get("process"), dict) else None,
    )


def _flatten(data: Mapping[str, Any], out: dict[str, str]) -> None:
    """Nested user data: every leaf becomes a field named by its own key."""
    for key, value in data.items():
        if isinstance(value, dict):
            _flatten(value, out)
        elif key != "xml_name":
            out[key] = as_text(value)


# --- flat NXLog rows ----------------------------------------------------------------------


def _flat(obj: Mapping[str, Any], opts: ReadOptions) -> Event:
    event_id = to_int(obj.get("EventID"))
    if event_id is None:
        raise ValueError(f"no EventID ({obj.get('EventID')!r})")
    provider = as_text(obj.get("SourceName"))
    channel = as_text(obj.get("Channel"))
    fields = {k: as_text(v) for k, v in obj.items() if k not in _FLAT_METADATA}
    if "UserID" not in obj:
        fields.update((k, as_text(obj[k])) for k in _FROM_USER_ID if k in obj)
    if channel.strip().lower() in REMOTE_CHANNELS and "Message" in obj:
        # NXLog does not flatten UserData: Terminal Services' data is only in the text.
        fields["Message"] = as_text(obj.get("Message"))
    if "EventTypeOrignal" in obj:
        # NXLog renamed its own EventType because the event has a field of that name.
        fields["EventType"] = as_text(obj.get("EventType"))
    if "SourceModuleType" in obj and "ExecutionProcessID" not in obj:
        # Older NXLog: "ProcessID" is the logging process, and it overwrote the event's
        # own ProcessId (field names clash case-insensitively).
        fields.pop("ProcessID", None)
    received_us = None
    if "EventTime" in obj:
        offset = _nxlog_offset(obj, opts)
        ts_us = parse_time(as_text(obj.get("EventTime")), offset)
        received_us = parse_time(as_text(obj.get("EventReceivedTime")), offset)
    else:
        ts_us = None
        if _is_sysmon(provider, channel):
            # Exported rows' TimeCreated is often a local 12-hour clock: UtcTime is exact.
            ts_us = parse_time(fields.get("UtcTime"))
        if ts_us is None:
            when = obj.get("TimeCreated") or obj.get("@timestamp")
            ts_us = parse_time(as_text(when), opts.local_offset)
    return make_event(
        computer=as_text(obj.get("Hostname") or obj.get("Computer")),
        channel=channel,
        provider=provider,
        event_id=event_id,
        record_id=to_int(obj.get("RecordNumber")),
        ts_us=ts_us,
        fields=fields,
        received_us=received_us,
        execution_pid=as_text(obj.get("ExecutionProcessID")) or None,
    )


def _nxlog_offset(obj: Mapping[str, Any], opts: ReadOptions) -> timedelta | None:
    """The collector's UTC offset: EventReceivedTime (its local clock) minus @timestamp (UTC).

    Rounded to the nearest 15 minutes, which absorbs the shipping delay; ``opts``'
    offset when the record lacks either time or the difference is no real offset.
    """
    received = as_text(obj.get("EventReceivedTime"))
    stamp = parse_time(as_text(obj.get("@timestamp")))
    if stamp is None or not received or _ZONED.search(received.strip()):
        return opts.local_offset
    local = parse_time(received)  # the wall-clock reading, as if it were UTC
    if local is None:
        return opts.local_offset
    offset_us = (local - stamp + _QUARTER_US // 2) // _QUARTER_US * _QUARTER_US
    if not _MIN_OFFSET_US <= offset_us <= _MAX_OFFSET_US:
        return opts.local_offset
    return timedelta(microseconds=offset_us)


def _is_sysmon(provider: str, channel: str) -> bool:
    return provider.lower() in _SYSMON_PROVIDERS or canonical_channel(channel) in (
        SYSMON,
        SYSMON_LINUX,
    )


# --- Azure Sentinel syslog rows -----------------------------------------------------------

def _syslog(obj: Mapping[str, Any], number: int) -> Iterator[Event | Skip]:
    """A Sysmon for Linux ``<Event>`` from a syslog row; other messages are counted skips."""
    message = as_text(obj.get("SyslogMessage"))
    received = parse_time(as_text(obj.get("TimeGenerated")))
    for item in sysmon_message_events(message, f"line {number}", received):
        if isinstance(item, Event) and not item.host:
            item.host = as_text(obj.get("Computer") or obj.get("HostName")).strip()
        yield item


def _sniff(head: bytes, text: str) -> bool:
    return text.lstrip().startswith("{") and looks_like_jsonl(head)


FORMAT = Format("jsonl", _sniff, open_jsonl)
