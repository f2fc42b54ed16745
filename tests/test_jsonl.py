"""JSON-lines reader: OTRF NXLog rows, Sentinel syslog rows, and hand-written lines."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from proctrail.store.events import SYSMON, SYSMON_LINUX, Event, Skip
from proctrail.store.readers.base import ReaderError, ReadOptions, parse_time, to_us
from proctrail.store.readers.jsonl import looks_like_jsonl, open_jsonl

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason="../shared/samples is absent")

# The manifest's key-event names, by (channel, event id).
KEY_EVENTS = {
    ("Security", 4688): "4688",
    ("Security", 4689): "4689",
    ("Security", 4624): "4624",
    ("Security", 4634): "4634",
    ("Security", 4672): "4672",
    ("Security", 4616): "4616",
    ("Security", 1102): "1102",
    ("System", 104): "104",
    (SYSMON, 1): "S1",
    (SYSMON, 5): "S5",
}


def us(text: str) -> int:
    """UTC microseconds of an ISO time with a zone."""
    return to_us(datetime.fromisoformat(text))


def read_lines(lines: list[str], opts: ReadOptions | None = None) -> list[Event | Skip]:
    data = "\n".join(lines).encode()
    return list(open_jsonl(io.BytesIO(data), "inline.jsonl", opts or ReadOptions()))


def read_zip(rel: str, opts: ReadOptions | None = None) -> list[Event | Skip]:
    """All records of the one JSON member of a sample zip (macOS resource forks left out)."""
    with zipfile.ZipFile(SAMPLES / rel) as archive:
        names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]
        assert len(names) == 1, names
        with archive.open(names[0]) as member:
            return list(open_jsonl(member, names[0], opts or ReadOptions()))


def manifest_entry(rel: str) -> dict:
    entries = json.loads((SAMPLES / "manifest.json").read_text())
    return next(e for e in entries if e["file"] == rel)


def split(records: list[Event | Skip]) -> tuple[list[Event], list[Skip]]:
    events = [r for r in records if isinstance(r, Event)]
    skips = [r for r in records if isinstance(r, Skip)]
    assert len(events) + len(skips) == len(records)
    return events, skips


# --- sniffing -----------------------------------------------------------------------------


def test_looks_like_jsonl() -> None:
    assert looks_like_jsonl(b'{"EventID": 4688}\n{"EventID": 1}\n')
    assert looks_like_jsonl(b'\xef\xbb\xbf\n\n  {"Event": {"System": {}}}')
    assert looks_like_jsonl(b'{"a": 1')  # a head may cut the first line short
    assert not looks_like_jsonl(b'{\n  "pretty": "printed"\n}\n')
    assert not looks_like_jsonl(b"<Events><Event/></Events>")
    assert not looks_like_jsonl(b"type=SYSCALL msg=audit(1.0:1): arch=c000003e")
    assert not looks_like_jsonl(b'[{"EventID": 1}]')
    assert not looks_like_jsonl(b"\n \n")


# --- OTRF datasets ------------------------------------------------------------------------

OTRF_FILES = [
    "otrf/msf_record_mic.zip",  # NXLog: EventTime local (EDT), @timestamp UTC
    "otrf/covenant_psremoting_grunt.zip",  # older NXLog, channel "security" in lower case
    "otrf/psh_python_webserver.zip",  # exported rows: TimeCreated "...Z", no NXLog metadata
    "otrf/cmd_sam_copy_esentutl.zip",  # exported rows: TimeCreated with no zone at all
]


@needs_samples
@pytest.mark.parametrize("rel", OTRF_FILES)
def test_otrf_counts_and_hosts_match_manifest(rel: str) -> None:
    entry = manifest_entry(rel)
    events, skips = split(read_zip(rel))
    assert skips == []
    assert len(events) == entry["records"]
    counts = Counter(KEY_EVENTS[e.channel, e.event_id] for e in events
                     if (e.channel, e.event_id) in KEY_EVENTS)
    assert dict(counts) == entry["key_events"]
    assert sorted({e.host for e in events}) == entry["hosts"]
    assert all(e.ts_us is not None for e in events)
    starts = [e for e in events if e.event_id in (4688, 1) and e.channel in ("Security", SYSMON)]
    assert starts and all(e.kind == "process_start" for e in starts)
    for e in events:
        assert not {"Message", "Hostname", "EventTime", "@timestamp", "Keywords"} & set(e.fields)


@needs_samples
def test_otrf_nxlog_times_fields_and_offsets() -> None:
    events, _ = split(read_zip("otrf/msf_record_mic.zip"))

    # The first row: EventTime 22:50:54 and EventReceivedTime 22:50:56 on the collector's
    # clock (EDT), @timestamp 02:50:56.537Z: so UTC-4, and the event is at 02:50:54Z.
    first = events[0]
    assert (first.channel, first.event_id, first.record_id) == (SYSMON, 13, 713650)
    assert first.ts_us == us("2020-06-10T02:50:54+00:00")
    assert first.received_us == us("2020-06-10T02:50:56+00:00")
    # NXLog kept its own EventType as EventTypeOrignal: this EventType is Sysmon's.
    assert first.fields["EventType"] == "SetValue"
    assert "EventTypeOrignal" not in first.fields
    assert first.fields["ProcessGuid"] == "{6a910b9d-498a-5ee0-c903-000000000400}"

    # 4688's ids stay as logged (hex text), never turned into numbers.
    created = [e for e in events if (e.channel, e.event_id) == ("Security", 4688)]
    assert len(created) == 12
    assert all(re.fullmatch(r"0x[0-9a-f]+", e.fields["NewProcessId"]) for e in created)
    sppsvc = next(e for e in created if e.fields["NewProcessName"].endswith("sppsvc.exe"))
    assert sppsvc.fields["NewProcessId"] == "0x7d8"
    assert sppsvc.fields["ProcessId"] == "0x2b8"
    assert sppsvc.host == "MORDORDC.mordor.local"
    assert sppsvc.ts_us == us("2020-06-10T02:51:04+00:00")

    # The derived UTC time agrees with Sysmon's own UtcTime (EventTime has whole seconds).
    sysmon = [e for e in events if e.channel == SYSMON and e.event_id in (1, 5)]
    assert len(sysmon) == 30
    for e in sysmon:
        utc = parse_time(e.fields["UtcTime"])
        assert utc is not None and e.ts_us is not None
        assert abs(e.ts_us - utc) <= 1_000_000, e.fields["UtcTime"]

    # Every row says when the collector got it: never (much) before the event itself.
    for e in events:
        assert e.received_us is not None and e.ts_us is not None
        assert e.received_us >= e.ts_us - 1_000_000


@needs_samples
def test_older_nxlog_processid_is_not_taken_for_the_events() -> None:
    # There NXLog's ProcessID (the logging process) overwrote the event's ProcessId.
    events, _ = split(read_zip("otrf/covenant_psremoting_grunt.zip"))
    assert all("ProcessID" not in e.fields for e in events)
    starts = [e for e in events if (e.channel, e.event_id) == (SYSMON, 1)]
    assert len(starts) == 17
    assert all(e.fields["ProcessGuid"].startswith("{") for e in starts)
    # EST in December: UTC-5.
    for e in starts:
        assert abs(e.ts_us - parse_time(e.fields["UtcTime"])) <= 1_000_000  # type: ignore[operator]


@needs_samples
def test_exported_rows_take_sysmon_time_from_utctime() -> None:
    # TimeCreated of these rows is a local 12-hour clock marked "Z": Sysmon's UtcTime rules.
    events, _ = split(read_zip("otrf/psh_python_webserver.zip"))
    sysmon = [e for e in events if e.channel == SYSMON]
    assert sysmon
    assert all(e.ts_us == parse_time(e.fields["UtcTime"]) for e in sysmon)
    assert all(e.received_us is None for e in events)
    assert all(e.record_id is None for e in events)


# --- Sentinel syslog rows -----------------------------------------------------------------


@needs_samples
def test_sentinel_sysmon_for_linux() -> None:
    records = read_zip("extra/linux/sysmon_linux_log4shell_sentinel_json.zip")
    events, skips = split(records)
    assert len(events) == 93
    assert Counter(e.event_id for e in events) == {5: 50, 1: 31, 3: 6, 11: 4, 23: 2}
    assert {e.host for e in events} == {"UBUNTU5"}
    assert {e.channel for e in events} == {SYSMON_LINUX}
    starts = [e for e in events if e.event_id == 1]
    assert len(starts) == 31
    assert all(e.kind == "process_start" for e in starts)
    assert all(e.provider == "Linux-Sysmon" for e in starts)
    assert all(e.fields["ProcessGuid"].startswith("{") and e.fields["Image"] for e in starts)
    first = events[0]
    assert (first.event_id, first.record_id, first.kind) == (5, 245753, "process_end")
    assert first.ts_us == us("2022-05-11T18:10:20.399931+00:00")
    assert first.received_us == us("2022-05-11T18:10:20.400000+00:00")  # TimeGenerated

    # Syslog cut the exploit's shell at ~2 KB: kept with its complete fields, and counted.
    assert [s.reason for s in skips] == ["truncated syslog message"]
    assert skips[0].detail == "line 8: event 1 record 245760 kept up to ParentImage"
    shell = records[records.index(skips[0]) - 1]
    assert isinstance(shell, Event) and shell.record_id == 245760
    assert shell.fields["CommandLine"].startswith("bash -c {echo,YmFzaCAtaSA+JiAvZGV2L3RjcC8x")
    assert shell.fields["ParentImage"] == "/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java"
    assert "ParentCommandLine" not in shell.fields

    # Sysmon for Linux writes "&lt unknown process&gt ": read as the "<unknown process>" meant.
    unknown = [e for e in events if e.fields.get("Image") == "<unknown process>"]
    assert len(unknown) == 14
    assert not any("&" in v for e in events for v in e.fields.values())
    quoted = [e for e in starts if e.fields["CommandLine"].startswith("sh -c /opt/omi")]
    assert len(quoted) == 2
    assert all(e.fields["CommandLine"].endswith("'\" | grep =") for e in quoted)


@needs_samples
def test_sentinel_auoms_rows_are_counted_skips() -> None:
    rel = "otrf-linux/syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference.zip"
    events, skips = split(read_zip(rel))
    assert events == []
    assert len(skips) == 50
    assert {s.reason for s in skips} == {"unsupported syslog message"}
    assert skips[0].detail.startswith("line 1: 'type=AUOMS_EXECVE")


# --- hand-written lines -------------------------------------------------------------------

EVTX_DUMP = json.dumps({"Event": {
    "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
    "System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                                     "Guid": "54849625-5478-4994-A5BA-3E3B0328C30D"}},
        "EventID": 4688,
        "TimeCreated": {"#attributes": {"SystemTime": "2019-03-19T23:34:26.123456Z"}},
        "EventRecordID": 1200,
        "Channel": "Security",
        "Computer": "PC01.corp.local",
    },
    "EventData": {"NewProcessId": "0x1a2c", "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                  "ProcessId": "0x3e8", "CommandLine": "cmd /c whoami"},
}})

WINLOGBEAT = json.dumps({
    "@timestamp": "2021-03-04T10:11:12.345Z",
    "event": {"code": "4688", "kind": "event", "created": "2021-03-04T10:11:13.500Z"},
    "host": {"name": "ws01"},
    "winlog": {
        "channel": "Security",
        "computer_name": "WS01.corp.local",
        "event_id": 4688,
        "record_id": 98765,
        "provider_name": "Microsoft-Windows-Security-Auditing",
        "event_data": {"NewProcessId": "0x1a2c", "ProcessId": "0x3e8",
                       "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                       "SubjectLogonId": "0x3e7", "TokenElevationType": "%%1936"},
    },
})

NXLOG_PLUS2 = json.dumps({
    "EventTime": "2021-05-01 12:00:00",
    "EventReceivedTime": "2021-05-01 12:00:03",
    "@timestamp": "2021-05-01T10:00:04.120Z",
    "@version": "1",
    "Hostname": "WS02.corp.local",
    "host": "collector.corp.local",
    "port": 5044,
    "SourceModuleName": "eventlog",
    "SourceModuleType": "im_msvistalog",
    "SourceName": "Microsoft-Windows-Sysmon",
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "EventID": 1,
    "RecordNumber": 42,
    "ExecutionProcessID": 2000,
    "Message": "Process Create: ...",
    "EventType": "INFO",
    "UtcTime": "2021-05-01 09:59:59.870",
    "ProcessGuid": "{ABCDEF01-2345-6789-ABCD-EF0123456789}",
    "ProcessId": "4242",
    "Image": "C:\\Tools\\x.exe",
    "CommandLine": "x.exe --run",
})


def test_evtx_dump_line() -> None:
    [event] = read_lines([EVTX_DUMP])
    assert isinstance(event, Event)
    assert (event.host, event.channel, event.event_id, event.record_id) == (
        "PC01.corp.local", "Security", 4688, 1200)
    assert event.ts_us == us("2019-03-19T23:34:26.123456+00:00")
    assert event.kind == "process_start"
    assert event.fields["NewProcessId"] == "0x1a2c"


def test_winlogbeat_line() -> None:
    [event] = read_lines([WINLOGBEAT])
    assert isinstance(event, Event)
    assert (event.host, event.channel, event.provider, event.event_id, event.record_id) == (
        "WS01.corp.local", "Security", "Microsoft-Windows-Security-Auditing", 4688, 98765)
    assert event.kind == "process_start"
    assert event.ts_us == us("2021-03-04T10:11:12.345+00:00")
    assert event.received_us == us("2021-03-04T10:11:13.5+00:00")
    assert event.fields["NewProcessId"] == "0x1a2c"
    assert event.fields["TokenElevationType"] == "%%1936"


def test_winlogbeat_fallbacks() -> None:
    record = json.loads(WINLOGBEAT)
    del record["winlog"]["event_id"], record["winlog"]["computer_name"], record["event"]["created"]
    record["event"]["ingested"] = "2021-03-04T10:12:00Z"
    [event] = read_lines([json.dumps(record)])
    assert isinstance(event, Event)
    assert (event.host, event.event_id) == ("ws01", 4688)
    assert event.received_us == us("2021-03-04T10:12:00+00:00")


def test_nxlog_line_derives_the_local_offset() -> None:
    [event] = read_lines([NXLOG_PLUS2])
    assert isinstance(event, Event)
    # 12:00:03 local was 10:00:04Z at logstash: UTC+2, so 12:00:00 local is 10:00:00Z.
    assert event.ts_us == us("2021-05-01T10:00:00+00:00")
    assert event.received_us == us("2021-05-01T10:00:03+00:00")
    assert (event.host, event.channel, event.event_id, event.record_id, event.kind) == (
        "WS02.corp.local", SYSMON, 1, 42, "process_start")
    assert event.fields == {
        "UtcTime": "2021-05-01 09:59:59.870",
        "ProcessGuid": "{abcdef01-2345-6789-abcd-ef0123456789}",
        "ProcessId": "4242",
        "Image": "C:\\Tools\\x.exe",
        "CommandLine": "x.exe --run",
    }


def test_nxlog_line_without_stamps_uses_the_analysts_offset() -> None:
    record = json.loads(NXLOG_PLUS2)
    del record["@timestamp"]
    line = json.dumps(record)
    [as_utc] = read_lines([line])
    [as_cest] = read_lines([line], ReadOptions(local_offset=timedelta(hours=2)))
    assert isinstance(as_utc, Event) and isinstance(as_cest, Event)
    assert as_utc.ts_us == us("2021-05-01T12:00:00+00:00")
    assert as_cest.ts_us == us("2021-05-01T10:00:00+00:00")
    del record["Hostname"]
    [nameless] = read_lines([json.dumps(record)], ReadOptions(default_host="case-host"))
    assert isinstance(nameless, Event) and nameless.host == "case-host"
    # An explicit zone wins over any derivation or option.
    record["EventTime"] = "2021-05-01T12:00:00+05:30"
    [zoned] = read_lines([json.dumps(record)], ReadOptions(local_offset=timedelta(hours=2)))
    assert isinstance(zoned, Event)
    assert zoned.ts_us == us("2021-05-01T06:30:00+00:00")


def test_bad_lines_are_skips_and_the_rest_loads() -> None:
    records = read_lines([
        EVTX_DUMP,
        "",
        "this is not json",
        '{"truncated": ',
        "[1, 2, 3]",
        '{"some": "thing else"}',
        '{"Event": {"System": {"Channel": "Security"}}}',  # no EventID
        "   ",
        WINLOGBEAT,
        NXLOG_PLUS2,
    ])
    events, skips = split(records)
    assert [e.event_id for e in events] == [4688, 4688, 1]
    assert [s.reason for s in skips] == [
        "invalid JSON", "invalid JSON", "unknown JSON shape", "unknown JSON shape",
        "malformed event"]
    assert [s.detail.split(":")[0] for s in skips] == [
        "line 3", "line 4", "line 5", "line 6", "line 7"]


def test_not_jsonl_raises_naming_the_file() -> None:
    with pytest.raises(ReaderError) as info:
        list(open_jsonl(io.BytesIO(b"<Events>\n<Event/>\n"), "export.xml", ReadOptions()))
    assert info.value.path == "export.xml"
    assert "not a JSON-lines log" in str(info.value)
    with pytest.raises(ReaderError):
        open_jsonl(io.BytesIO(b'\n[{"EventID": 1}]\n'), "array.json", ReadOptions())


def test_bom_blank_lines_and_bad_utf8_are_tolerated() -> None:
    data = b"\xef\xbb\xbf\n" + EVTX_DUMP.replace("whoami", "who\\u00e4mi").encode()
    data += b"\n\n" + WINLOGBEAT.encode().replace(b"whoami.exe", b"wh\xffami.exe") + b"\r\n"
    events, skips = split(list(open_jsonl(io.BytesIO(data), "bom.jsonl", ReadOptions())))
    assert skips == []
    assert events[0].fields["CommandLine"] == "cmd /c who\u00e4mi"
    assert events[1].fields["NewProcessName"].endswith("wh\ufffdami.exe")
    assert list(open_jsonl(io.BytesIO(b""), "empty.jsonl", ReadOptions())) == []


def test_sentinel_xml_entities_are_never_expanded() -> None:
    def row(message: str) -> str:
        return json.dumps({"TimeGenerated": "2022-05-11T18:10:20Z", "Computer": "UBUNTU5",
                           "SyslogMessage": message})

    event = ("<Event><System><EventID>1</EventID><Computer>U5</Computer>"
             "<Channel>Linux-Sysmon/Operational</Channel></System>"
             '<EventData><Data Name="Image">{}</Data></EventData></Event>')
    records = read_lines([
        row('<!DOCTYPE Event [<!ENTITY e "boom">]>' + event.format("&e;")),
        row(event.format("/bin/a&amp;b &lt;x&gt;")),
        row("sysmon: " + event.format("<x")),
    ])
    assert [type(r).__name__ for r in records] == ["Event", "Event", "Skip"]
    declared, plain, broken = records
    # The DTD before <Event> is never parsed: its entity stays literal text.
    assert isinstance(declared, Event) and declared.fields["Image"] == "&e;"
    assert isinstance(plain, Event)
    assert (plain.host, plain.fields["Image"]) == ("U5", "/bin/a&b <x>")
    assert isinstance(broken, Skip) and broken.reason == "XML error"
    assert broken.detail.startswith("line 3: ")


def test_reading_is_streamed() -> None:
    class Lines(io.RawIOBase):
        """A stream that counts the lines handed out."""

        def __init__(self, lines: list[bytes]) -> None:
            self.lines = lines
            self.taken = 0

        def __iter__(self) -> Iterator[bytes]:
            while line := self.readline():
                yield line

        def readline(self, size: int | None = -1) -> bytes:
            if self.taken == len(self.lines):
                return b""
            self.taken += 1
            return self.lines[self.taken - 1]

    source = Lines([NXLOG_PLUS2.encode() + b"\n"] * 1000)
    stream: IO[bytes] = source  # type: ignore[assignment]
    records = open_jsonl(stream, "big.jsonl", ReadOptions())
    next(records)
    next(records)
    assert source.taken <= 3
    assert sum(1 for _ in records) == 998

