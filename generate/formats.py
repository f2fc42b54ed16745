"""Writing a simulated host's records: binary EVTX, Windows XML export, evtx_dump JSON
lines, raw auditd. Every format holds the same events; all output is deterministic."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from proctrail.generate.evtx_writer import EvtxRecord, EvtxWriter
from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import SECOND, Record

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


class ChannelFiles:
    """One channel's records written one at a time to every format asked for: ``.evtx``
    and ``.xml`` as they come, ``.jsonl`` from the finished EVTX (memory stays flat)."""

    def __init__(self, base: Path, formats: Iterable[str]) -> None:
        self.formats = tuple(formats)
        unknown = set(self.formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown log format {sorted(unknown)[0]!r}: use "
                             f"{', '.join(FORMATS)}")
        self.paths = [base.with_name(f"{base.name}.{fmt}") for fmt in self.formats]
        self.evtx_path = base.with_name(f"{base.name}.evtx")
        self.evtx: EvtxWriter | None = None
        if "evtx" in self.formats or "jsonl" in self.formats:
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

    def close(self) -> list[Path]:
        if self.xml is not None:
            self.xml.write("</Events>\n")
            self.xml.close()
        if self.evtx is not None:
            self.evtx.close()
            if "jsonl" in self.formats:
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


def write_windows(base: Path, records: Iterable[Record], formats: Iterable[str]) -> list[Path]:
    """One file per format for a channel's records: ``base.evtx``, ``.xml``, ``.jsonl``."""
    files = ChannelFiles(base, formats)
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
