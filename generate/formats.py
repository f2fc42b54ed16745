"""Writing a simulated host's records: binary EVTX, Windows XML export, evtx_dump JSON
lines (or NXLog's flat JSON rows, for a host collected by NXLog; or, for a host whose logs
came as an export, one file of flat rows that wrote local time as UTC), raw auditd. Every
format holds the same events; all output is deterministic. What a format changes of a
record (:func:`written_data`, :func:`written_us`) is what the truth of that format reads.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson

from proctrail.generate.evtx_writer import EvtxRecord, EvtxWriter
from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import SECOND, SECURITY, SYSMON, Host, Record

FORMATS = ("evtx", "xml", "jsonl")
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def evtx_record(r: Record) -> EvtxRecord:
    return EvtxRecord(event_id=r.event_id, time_us=r.logged_us, channel=r.channel,
                      provider=r.provider[0], computer=r.host, data=list(r.data),
                      provider_guid=r.provider[1], version=r.version, level=r.level,
                      task=r.task, keywords=r.keywords, process_id=r.pid, thread_id=r.tid,
                      user_sid=r.user_sid, record_id=r.record_id)


def _text(value: str) -> str:
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"&#x{ord(c):x};" if ord(c) < 32 and c not in "\t\n\r" else c for c in out)


def _attr(value: str) -> str:
    return _text(value).replace("'", "&apos;")


def _system_time(us: int) -> str:
    stamp = datetime.fromtimestamp(us // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{us % SECOND:06d}0Z"


def render_xml(r: Record) -> str:
    """One ``<Event>`` as Event Viewer's "Save as XML" writes it."""
    name, guid = r.provider
    provider = f"<Provider Name='{_attr(name)}'" + (f" Guid='{guid}'/>" if guid else "/>")
    security = f"<Security UserID='{r.user_sid}'/>" if r.user_sid else "<Security/>"
    data = "".join(f"<Data Name='{_attr(k)}'>{_text(v)}</Data>" if k is not None
                   else f"<Data>{_text(v)}</Data>" for k, v in r.data)
    return (f"<Event xmlns='{EVENT_NS}'><System>{provider}<EventID>{r.event_id}</EventID>"
            f"<Version>{r.version}</Version><Level>{r.level}</Level><Task>{r.task}</Task>"
            f"<Opcode>0</Opcode><Keywords>0x{r.keywords:x}</Keywords>"
            f"<TimeCreated SystemTime='{_system_time(r.logged_us)}'/>"
            f"<EventRecordID>{r.record_id}</EventRecordID><Correlation/>"
            f"<Execution ProcessID='{r.pid}' ThreadID='{r.tid}'/>"
            f"<Channel>{_text(r.channel)}</Channel><Computer>{_text(r.host)}</Computer>"
            f"{security}</System><EventData>{data}</EventData></Event>")


# NXLog's collector zone in the rows it writes (US Eastern, November: UTC-5).
NXLOG_ZONE = timezone(timedelta(hours=-5))
NXLOG_RECEIVED_US = 1_250_000  # the collector reads a record this long after it is written


def _nxlog_time(us: int) -> str:
    """A time as NXLog writes it with ``DateFormat YYYY-MM-DD hh:mm:ss.sTZ``: the collector's
    local time, microseconds, its UTC offset (``2026-11-03 04:12:33.123456-05:00``)."""
    local = datetime.fromtimestamp(us // SECOND, NXLOG_ZONE)
    zone = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S}.{us % SECOND:06d}{zone[:3]}:{zone[3:]}"


def written_data(r: Record, fmt: str, collector: str) -> list[tuple[str | None, str]]:
    """A record's data as format ``fmt`` holds it for a host collected by ``collector``: in
    NXLog's JSON rows, a record that came through an older NXLog (``via == "nxlog-old"``)
    lost its ``ProcessId`` to NXLog's own ``ProcessID`` (field names clash
    case-insensitively). Sysmon records of that path lost it in every format (the data
    has none); a Security 4689 of it keeps it in EVTX and XML."""
    if fmt == "jsonl" and collector == "nxlog" and r.via == "nxlog-old":
        return [(k, v) for k, v in r.data if k is None or k.lower() != "processid"]
    return r.data


def written_us(host: Host, r: Record, fmt: str) -> int:
    """A record's header time as format ``fmt`` holds it, read back in UTC (an export's
    local-as-UTC offset undone, as correlation does): an export writes milliseconds."""
    if fmt == "jsonl" and host.collector == "export":
        return r.logged_us // 1000 * 1000
    return r.logged_us


def nxlog_row(r: Record) -> dict[str, object]:
    """One record as NXLog's ``im_msvistalog`` + ``to_json()`` writes it: the event's data at
    the top level beside NXLog's own fields. A record that came through an older NXLog
    (``via == "nxlog-old"``) has ``ProcessID``, the logging process, where newer ones write
    ``ExecutionProcessID``: the older one let it overwrite the event's own ``ProcessId``
    (NXLog field names clash case-insensitively), so that record carries none
    (:func:`written_data`)."""
    security = r.channel == SECURITY
    row: dict[str, object] = {
        "EventTime": _nxlog_time(r.logged_us), "Hostname": r.host,
        "Keywords": r.keywords - (1 << 64) if r.keywords >= 1 << 63 else r.keywords,
        "EventType": "AUDIT_SUCCESS" if security else "INFO", "SeverityValue": 2,
        "Severity": "INFO", "EventID": r.event_id, "SourceName": r.provider[0]}
    if r.provider[1]:
        row["ProviderGuid"] = r.provider[1].upper()
    row.update({"Version": r.version, "Task": r.task, "OpcodeValue": 0,
                "RecordNumber": r.record_id,
                "ProcessID" if r.via == "nxlog-old" else "ExecutionProcessID": r.pid,
                "ThreadID": r.tid, "Channel": r.channel})
    if r.user_sid:
        row.update({"Domain": "NT AUTHORITY", "AccountName": "SYSTEM", "UserID": r.user_sid,
                    "AccountType": "User"})
    row["Opcode"] = "Info"
    for name, value in written_data(r, "jsonl", "nxlog"):
        if name is None:
            raise ValueError("NXLog rows name every field: no positional data")
        row[name] = value
    row.update({"EventReceivedTime": _nxlog_time(r.logged_us + NXLOG_RECEIVED_US),
                "SourceModuleName": "eventlog", "SourceModuleType": "im_msvistalog"})
    return row


# What Event Viewer renders as each event's message, its first line (exports carry it).
_MESSAGES = {
    (SECURITY, 4688): "A new process has been created.", (SECURITY, 4689): "A process has exited.",
    (SECURITY, 4624): "An account was successfully logged on.",
    (SECURITY, 4634): "An account was logged off.",
    (SECURITY, 4672): "Special privileges assigned to new logon.",
    (SECURITY, 4608): "Windows is starting up.", (SECURITY, 1102): "The audit log was cleared.",
    (SYSMON, 1): "Process Create:", (SYSMON, 5): "Process terminated:",
    (SYSMON, 3): "Network connection detected:", (SYSMON, 22): "Dns query:"}


def _export_time(us: int) -> str:
    """``2026-11-03T08:00:00.123Z``: milliseconds, marked UTC whatever zone it is in."""
    stamp = datetime.fromtimestamp(us // SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{us % SECOND // 1000:03d}Z"


def export_row(host: Host, r: Record) -> dict[str, object]:
    """One record as a PowerShell export writes it (the OTRF datasets' shape): flat, the
    event's data by name beside ``EventID``, ``Channel``, ``Hostname``, ``TimeCreated`` and
    ``@timestamp``, no record number, keys in a hashtable's order. The times are the
    machine's local time marked ``Z`` (:meth:`Host.export_offset`); Sysmon's ``UtcTime``
    stays true."""
    stamp = _export_time(r.logged_us + host.export_offset(r.logged_us))
    sysmon = r.channel == SYSMON
    title = _MESSAGES.get((r.channel, r.event_id), f"Event {r.event_id}.")
    if sysmon:
        message = "\r\n".join([title, *(f"{k}: {v}" for k, v in r.data)])
    else:
        message = title + "\r\n\r\n" + "\r\n".join(f"\t{k}:\t{v}" for k, v in r.data)
    items: list[tuple[str, object]] = [(k, v) for k, v in r.data if k is not None]
    if len(items) != len(r.data):
        raise ValueError("exported rows name every field: no positional data")
    items += [("@timestamp", stamp), ("TimeCreated", stamp), ("Message", message),
              ("EventID", r.event_id), ("SourceName", r.provider[0]), ("Hostname", r.host),
              ("Channel", r.channel), ("Level", str(r.level)), ("Task", str(r.task)),
              ("Keywords", f"0x{r.keywords:x}")]
    if r.provider[1]:
        items.append(("ProviderGuid", r.provider[1]))
    random.Random(f"{r.host}|{r.channel}|{r.record_id}").shuffle(items)
    return dict(items)


def write_export(path: Path, host: Host, records: Iterable[Record]) -> Path:
    """Records of every channel of a host, in time order, as one export's JSON lines."""
    with path.open("wb") as out:
        for r in sorted(records, key=lambda r: (r.logged_us, r.order)):
            out.write(orjson.dumps(export_row(host, r)) + b"\n")
    return path


class ChannelFiles:
    """One channel's records written one at a time to every format asked for: ``.evtx``
    and ``.xml`` as they come, ``.jsonl`` from the finished EVTX (memory stays flat), or,
    with ``jsonl_shape="nxlog"``, as NXLog's flat rows as they come."""

    def __init__(self, base: Path, formats: Iterable[str], jsonl_shape: str = "evtx_dump"
                 ) -> None:
        self.formats = tuple(formats)
        unknown = set(self.formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown log format {sorted(unknown)[0]!r}: use "
                             f"{', '.join(FORMATS)}")
        self.paths = [base.with_name(f"{base.name}.{fmt}") for fmt in self.formats]
        if jsonl_shape not in ("evtx_dump", "nxlog"):
            raise ValueError(f"unknown JSON lines shape {jsonl_shape!r}")
        self.evtx_path = base.with_name(f"{base.name}.evtx")
        self.nxlog = None
        if "jsonl" in self.formats and jsonl_shape == "nxlog":
            self.nxlog = base.with_name(f"{base.name}.jsonl").open("wb")
        self.evtx: EvtxWriter | None = None
        if "evtx" in self.formats or ("jsonl" in self.formats and self.nxlog is None):
            self.evtx = EvtxWriter(self.evtx_path)
        self.xml = None
        if "xml" in self.formats:
            self.xml = base.with_name(f"{base.name}.xml").open("w", encoding="utf-8",
                                                               newline="\r\n")
            self.xml.write('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n'
                           "<Events>\n")

    def write(self, r: Record) -> None:
        if self.evtx is not None:
            self.evtx.write(evtx_record(r))
        if self.xml is not None:
            self.xml.write(render_xml(r) + "\n")
        if self.nxlog is not None:
            self.nxlog.write(orjson.dumps(nxlog_row(r)) + b"\n")

    def close(self) -> list[Path]:
        if self.xml is not None:
            self.xml.write("</Events>\n")
            self.xml.close()
        if self.nxlog is not None:
            self.nxlog.close()
        if self.evtx is not None:
            self.evtx.close()
            if "jsonl" in self.formats and self.nxlog is None:
                _evtx_to_jsonl(self.evtx_path, self.evtx_path.with_suffix(".jsonl"))
            if "evtx" not in self.formats:
                self.evtx_path.unlink()
        return self.paths


def _evtx_to_jsonl(source: Path, target: Path) -> None:
    """``evtx_dump -o jsonl``: the Rust parser's JSON of each record, one a line."""
    from evtx import PyEvtxParser

    with target.open("wb") as out:
        for item in PyEvtxParser(str(source)).records_json():
            out.write(orjson.dumps(orjson.loads(item["data"])) + b"\n")


def write_windows(base: Path, records: Iterable[Record], formats: Iterable[str],
                  jsonl_shape: str = "evtx_dump") -> list[Path]:
    """One file per format for a channel's records: ``base.evtx``, ``.xml``, ``.jsonl``
    (``jsonl_shape``: ``evtx_dump`` or ``nxlog``)."""
    files = ChannelFiles(base, formats, jsonl_shape)
    for r in records:
        files.write(r)
    return files.close()


def write_audit(path: Path, host: LinuxHost) -> int:
    """The host's raw audit.log."""
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for event in host.written_audit():
            out.write("\n".join(event.lines) + "\n")
            n += 1
    return n
