"""The EVTX writer: files that both parsers, and proctrail's readers, read back exactly."""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import tracemalloc
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import Evtx.Evtx as e_evtx
import Evtx.Nodes as e_nodes
import pytest
from evtx import PyEvtxParser

from proctrail.generate.evtx_writer import CHUNK_SIZE, EvtxRecord, EvtxWriter
from proctrail.store.events import (
    Event,
    canonical_channel,
    canonical_fields,
    name_positional,
)
from proctrail.store.readers.base import ReadOptions
from proctrail.store.readers.sniff import iter_inputs, open_records

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
SYSTEM_TAGS = ["Provider", "EventID", "Version", "Level", "Task", "Opcode", "Keywords",
               "TimeCreated", "EventRecordID", "Correlation", "Execution", "Channel",
               "Computer", "Security"]
SECURITY_GUID = "{54849625-5478-4994-a5ba-3e3b0328c30d}"
SYSMON_GUID = "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
T0 = 1_700_000_000_123_456
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FILETIME_EPOCH_TICKS = 116_444_736_000_000_000


# --- records to write ----------------------------------------------------------------------


def tricky_records() -> list[EvtxRecord]:
    """Values that break naive writers: markup, non-ASCII, empty, huge, odd shapes."""
    long_cmd = "powershell.exe -enc " + "QUJD" * 7495  # 30,000 characters
    return [
        EvtxRecord(4688, T0, "Security", "Microsoft-Windows-Security-Auditing", "WS01",
                   [("SubjectUserSid", "S-1-5-18"), ("NewProcessName", "C:\\a&b<c>d.exe"),
                    ("CommandLine", 'cmd /c "echo <x> & echo \'y\'" > nul'),
                    ("Unicode", "Ünïcødé ☃ 漢字テスト"), ("Astral", "emoji 😀 𝄞"),
                    ("Empty", ""), ("Spaces", "  line1\nline2\ttab  ")],
                   provider_guid=SECURITY_GUID, version=2, level=0, task=13312,
                   keywords=0x8020000000000000, process_id=4, thread_id=7840,
                   user_sid="S-1-5-21-3623811015-3361044348-30300820-1013"),
        EvtxRecord(1, T0 + 1, SYSMON, "Microsoft-Windows-Sysmon", "ws01.corp.example",
                   [("UtcTime", "2023-11-14 22:13:20.123"), ("CommandLine", long_cmd),
                    ("Image", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")],
                   provider_guid=SYSMON_GUID, version=5, level=4, task=1, opcode=0,
                   keywords=0x8000000000000000, process_id=3000, thread_id=4000,
                   user_sid="S-1-5-18"),
        # Legacy positional data, no provider GUID, no user.
        EvtxRecord(592, T0 + 999_999, "Security", "Security", "OLDHOST",
                   [(None, "1234"), (None, "C:\\WINDOWS\\system32\\cmd.exe"), (None, ""),
                    (None, "bob")]),
        EvtxRecord(7045, T0 + 2_000_000, "System", "Service Control Manager", "WS01", []),
        EvtxRecord(65535, 0, "Application", "Ünïcødé Provider", "名前", [("Only", "x")],
                   version=255, level=255, task=65535, opcode=255, keywords=0,
                   process_id=2**32 - 1, thread_id=0, user_sid="S-1-0-0"),
        EvtxRecord(4624, T0 + 3_000_007, "Security", "Microsoft-Windows-Security-Auditing",
                   "WS01", [("TargetLogonGuid", "{00000000-0000-0000-0000-000000000000}"),
                            ("IpAddress", "::1"), ("LogonType", "3")],
                   provider_guid=SECURITY_GUID, keywords=0xFFFFFFFFFFFFFFFF),
    ]


def mixed_records(n: int) -> Iterator[EvtxRecord]:
    """A deterministic stream of a few event shapes, as scenario generators write."""
    for i in range(n):
        t = T0 + i * 1_234_567 + (i % 7)
        kind = i % 5
        if kind == 0:
            yield EvtxRecord(4688, t, "Security", "Microsoft-Windows-Security-Auditing",
                             "WS01.corp.local",
                             [("SubjectUserSid", "S-1-5-18"), ("SubjectUserName", "WS01$"),
                              ("NewProcessId", hex(0x1000 + i)),
                              ("NewProcessName", f"C:\\Tools\\tool{i % 13}.exe"),
                              ("CommandLine", f"tool{i % 13}.exe --run {i} \"a&b\""),
                              ("ParentProcessName", "C:\\Windows\\explorer.exe")],
                             provider_guid=SECURITY_GUID, version=2, task=13312,
                             process_id=4, thread_id=100 + i % 50,
                             user_sid=None if i % 2 else "S-1-5-18")
        elif kind == 1:
            yield EvtxRecord(4689, t, "Security", "Microsoft-Windows-Security-Auditing",
                             "WS01.corp.local",
                             [("ProcessId", hex(0x1000 + i - 1)), ("Status", "0x0")],
                             provider_guid=SECURITY_GUID, task=13313, process_id=4,
                             thread_id=200)
        elif kind == 2:
            yield EvtxRecord(1, t, SYSMON, "Microsoft-Windows-Sysmon", "WS01.corp.local",
                             [("RuleName", "-"), ("ProcessGuid", f"{{5770385f-0000-0000-{i:04x}"
                                                  f"-00000000{i % 9999:04d}}}"),
                              ("ProcessId", str(i)), ("Image", "C:\\Windows\\System32\\ß.exe"),
                              ("CommandLine", "x" * (i % 300))],
                             provider_guid=SYSMON_GUID, version=5, level=4, task=1,
                             process_id=3000, thread_id=4000, user_sid="S-1-5-18")
        elif kind == 3:
            yield EvtxRecord(592, t, "Security", "Security", "OLDHOST",
                             [(None, str(i)), (None, "C:\\WINNT\\notepad.exe"), (None, "4")])
        else:
            yield EvtxRecord(7036, t, "System", "Service Control Manager", "WS01",
                             [("param1", "Windows Update"), ("param2", "running")],
                             provider_guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}",
                             keywords=0x8080000000000000)


def write(path: Path, records: Iterable[EvtxRecord]) -> list[EvtxRecord]:
    written = []
    with EvtxWriter(path) as writer:
        for record in records:
            assert writer.write(record) == len(written) + 1
            written.append(record)
    return written


# --- what a parser should show --------------------------------------------------------------


def expected(record: EvtxRecord, record_id: int) -> dict[str, Any]:
    return {
        "provider": record.provider,
        "guid": record.provider_guid.strip("{}").upper() if record.provider_guid else None,
        "event_id": record.event_id, "version": record.version, "level": record.level,
        "task": record.task, "opcode": record.opcode, "keywords": record.keywords,
        "time_us": record.time_us, "record_id": record_id,
        "pid": record.process_id, "tid": record.thread_id,
        "channel": record.channel, "computer": record.computer, "user_sid": record.user_sid,
        "data": [(name, value) for name, value in record.data],
    }


def iso_us(text: str) -> int:
    text = text.removesuffix(" UTC")  # the Rust parser's record header times end so
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // timedelta(microseconds=1)


def from_xml(text: str) -> dict[str, Any]:
    """A rendered ``<Event>`` (either parser's XML) as the fields :func:`expected` gives."""
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == NS + "Event"
    assert [child.tag for child in root] == [NS + "System", NS + "EventData"]
    system = root.find(NS + "System")
    assert [child.tag for child in system] == [NS + tag for tag in SYSTEM_TAGS]
    values = {child.tag[len(NS):]: child for child in system}
    guid = values["Provider"].get("Guid")
    assert not values["Correlation"].attrib and not list(values["Correlation"])
    return {
        "provider": values["Provider"].get("Name"),
        "guid": guid.strip("{}").upper() if guid is not None else None,
        "event_id": int(values["EventID"].text), "version": int(values["Version"].text),
        "level": int(values["Level"].text), "task": int(values["Task"].text),
        "opcode": int(values["Opcode"].text), "keywords": int(values["Keywords"].text, 16),
        "time_us": iso_us(values["TimeCreated"].get("SystemTime")),
        "record_id": int(values["EventRecordID"].text),
        "pid": int(values["Execution"].get("ProcessID")),
        "tid": int(values["Execution"].get("ThreadID")),
        "channel": values["Channel"].text, "computer": values["Computer"].text,
        "user_sid": values["Security"].get("UserID"),
        "data": [(d.get("Name"), d.text or "") for d in root.find(NS + "EventData")],
    }


def from_json(text: str) -> dict[str, Any]:
    """The Rust parser's JSON rendering as the fields :func:`expected` gives."""
    event = json.loads(text)["Event"]
    system = event["System"]
    provider = system["Provider"]["#attributes"]
    security = system["Security"] or {}
    data = event.get("EventData")
    pairs: list[tuple[str | None, str]] = []
    if isinstance(data, dict) and set(data) == {"Data"}:
        texts = data["Data"]["#text"]
        pairs = [(None, t or "") for t in (texts if isinstance(texts, list) else [texts])]
    elif isinstance(data, dict):
        pairs = [(name, value or "") for name, value in data.items()]
    else:
        assert data is None
    guid = provider.get("Guid")
    return {
        "provider": provider["Name"],
        "guid": guid.strip("{}").upper() if guid is not None else None,
        "event_id": system["EventID"], "version": system["Version"], "level": system["Level"],
        "task": system["Task"], "opcode": system["Opcode"],
        "keywords": int(system["Keywords"], 16),
        "time_us": iso_us(system["TimeCreated"]["#attributes"]["SystemTime"]),
        "record_id": system["EventRecordID"],
        "pid": system["Execution"]["#attributes"]["ProcessID"],
        "tid": system["Execution"]["#attributes"]["ThreadID"],
        "channel": system["Channel"], "computer": system["Computer"],
        "user_sid": security.get("#attributes", {}).get("UserID"),
        "data": pairs,
    }


# --- the parsers ---------------------------------------------------------------------------


def rust_views(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every record through the Rust parser, XML and JSON; any Err fails the test."""
    views: list[list[dict[str, Any]]] = [[], []]
    for out, records in zip(views, (PyEvtxParser(str(path)).records(),
                                    PyEvtxParser(str(path)).records_json()), strict=True):
        for record in records:  # an Err result is raised here
            view = (from_xml if out is views[0] else from_json)(record["data"])
            assert view["record_id"] == record["event_record_id"]
            assert iso_us(record["timestamp"]) == view["time_us"]  # the record header time
            out.append(view)
    return views[0], views[1]


# python-evtx's typed value nodes: the value types the writer must use.
VALUE_NODES = {
    "provider": e_nodes.WstringTypeNode, "guid": e_nodes.GuidTypeNode,
    "event_id": e_nodes.UnsignedWordTypeNode, "version": e_nodes.UnsignedByteTypeNode,
    "level": e_nodes.UnsignedByteTypeNode, "task": e_nodes.UnsignedWordTypeNode,
    "opcode": e_nodes.UnsignedByteTypeNode, "keywords": e_nodes.Hex64TypeNode,
    "time_us": e_nodes.FiletimeTypeNode, "record_id": e_nodes.UnsignedQwordTypeNode,
    "pid": e_nodes.UnsignedDwordTypeNode, "tid": e_nodes.UnsignedDwordTypeNode,
    "channel": e_nodes.WstringTypeNode, "computer": e_nodes.WstringTypeNode,
    "user_sid": e_nodes.SIDTypeNode,
}
TEMPLATE_SLOTS = {  # where each field sits in the template: element, or element@attribute
    "Provider@Name": "provider", "Provider@Guid": "guid", "EventID": "event_id",
    "Version": "version", "Level": "level", "Task": "task", "Opcode": "opcode",
    "Keywords": "keywords", "TimeCreated@SystemTime": "time_us",
    "EventRecordID": "record_id", "Execution@ProcessID": "pid",
    "Execution@ThreadID": "tid", "Channel": "channel", "Computer": "computer",
    "Security@UserID": "user_sid",
}


def template_slots(template: Any) -> tuple[dict[str, int], list[tuple[str | None, int]]]:
    """Which substitution feeds each field, read from a template through python-evtx."""
    slots: dict[str, int] = {}
    data: list[tuple[str | None, int]] = []

    def walk(node: Any) -> None:
        if not isinstance(node, e_nodes.OpenStartElementNode):
            return
        tag = node.tag_name()
        literal: dict[str, str] = {}
        for child in node.children():
            if isinstance(child, e_nodes.AttributeNode):
                name, value = child.attribute_name().string(), child.attribute_value()
                if isinstance(value, e_nodes.NormalSubstitutionNode):
                    slots[TEMPLATE_SLOTS[f"{tag}@{name}"]] = value.index()
                else:
                    literal[name] = value.children()[0].string()
        subs = [c for c in node.children() if isinstance(c, e_nodes.NormalSubstitutionNode)]
        if tag == "Data":
            data.append((literal.get("Name"), subs[0].index()))
        elif subs:
            slots[TEMPLATE_SLOTS[tag]] = subs[0].index()
        for child in node.children():
            walk(child)

    for child in template.children():
        walk(child)
    return slots, data


def python_views(path: Path, every: int = 1, render_every: int = 1) -> dict[int, dict[str, Any]]:
    """Records through python-evtx by record id, with every checksum verified.

    Every record's framing, id and header time is checked. Fields come from the typed
    substitution values (exact) of every ``every``-th record and of the first and last
    record of each chunk; every ``render_every``-th of those is also rendered to XML by
    python-evtx and compared. (python-evtx re-parses the template for each record, about
    1,500 records/s, so big files are sampled.)
    """
    views: dict[int, dict[str, Any]] = {}
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append  # type: ignore[method-assign]
    logger = logging.getLogger("Evtx")
    logger.addHandler(handler)
    seen = 0
    try:
        with e_evtx.Evtx(str(path)) as log:
            header = log.get_file_header()
            assert header.verify() and not header.is_dirty() and not header.is_full()
            for chunk in log.chunks():
                assert chunk.verify(), f"checksum of {chunk}"
                cache: dict[int, Any] = {}
                records = list(chunk.records())
                for i, record in enumerate(records):
                    seen += 1
                    assert record.verify() and record.record_num() == seen
                    if not (i in (0, len(records) - 1) or seen % every == 0):
                        continue
                    root = record.root()
                    offset = root.template_instance().template_offset()
                    if offset not in cache:
                        cache[offset] = template_slots(root.template())
                    view = _python_view(root.substitutions(), *cache[offset])
                    assert view["record_id"] == seen
                    assert record.unpack_qword(0x10) == _ticks(view["time_us"])
                    if len(views) % render_every == 0:
                        xml_view = from_xml(record.xml())
                        # python-evtx renders FILETIMEs through a float (FILETIME ticks
                        # exceed 2**53): a few us off. The exact value is checked above.
                        assert abs(xml_view.pop("time_us") - view["time_us"]) <= 5
                        assert xml_view == {k: v for k, v in view.items() if k != "time_us"}
                    views[seen] = view
    finally:
        logger.removeHandler(handler)
    assert not warnings, [w.getMessage() for w in warnings]
    return views


def _ticks(time_us: int) -> int:
    return time_us * 10 + FILETIME_EPOCH_TICKS


def _python_view(subs: list[Any], slots: dict[str, int],
                 data: list[tuple[str | None, int]]) -> dict[str, Any]:
    view: dict[str, Any] = {"guid": None, "user_sid": None}
    for field, index in slots.items():
        node = subs[index]
        assert isinstance(node, VALUE_NODES[field]), (field, node)
        if field == "time_us":
            ticks = node.unpack_qword(0)
            assert ticks % 10 == 0
            view[field] = (ticks - FILETIME_EPOCH_TICKS) // 10
        elif field == "guid":
            view[field] = node.guid().upper()
        elif field == "keywords":
            view[field] = int(node.string(), 16)
        elif isinstance(node, e_nodes.WstringTypeNode | e_nodes.SIDTypeNode):
            view[field] = node.string()
        else:
            view[field] = int(node.string())
    for _, index in data:
        assert isinstance(subs[index], e_nodes.WstringTypeNode)
    view["data"] = [(name, subs[index].string()) for name, index in data]
    return {key: view[key] for key in VALUE_NODES} | {"data": view["data"]}


# --- the raw layout -------------------------------------------------------------------------


def check_layout(data: bytes, n_records: int) -> list[list[int]]:
    """Check headers, checksums and record framing byte by byte; the ids of each chunk."""
    assert (len(data) - 4096) % CHUNK_SIZE == 0
    (magic, first, last, next_id, size, minor, major, block,
     count) = struct.unpack_from("<8sQQQIHHHH", data)
    flags, crc = struct.unpack_from("<II", data, 120)
    assert (magic, size, minor, major, block) == (b"ElfFile\0", 128, 1, 3, 4096)
    assert crc == zlib.crc32(data[:120]) and flags == 0 and not any(data[128:4096])
    assert count == (len(data) - 4096) // CHUNK_SIZE
    assert (first, last, next_id) == (0, max(count - 1, 0), n_records + 1)
    chunks: list[list[int]] = []
    for n in range(count):
        chunk = data[4096 + n * CHUNK_SIZE:4096 + (n + 1) * CHUNK_SIZE]
        (magic, f_num, l_num, f_id, l_id, size, last_off, free,
         data_crc) = struct.unpack_from("<8sQQQQIIII", chunk)
        assert (magic, size) == (b"ElfChnk\0", 128)
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
        assert data_crc == zlib.crc32(chunk[512:free]) and not any(chunk[free:])
        ids, templates, pos = [], set(), 512
        while pos < free:
            sig, rsize, rid = struct.unpack_from("<4sIQ", chunk, pos)
            assert sig == b"**\0\0" and rsize % 8 == 0
            assert struct.unpack_from("<I", chunk, pos + rsize - 4)[0] == rsize
            frag, token, template = struct.unpack_from("<4sB5xI", chunk, pos + 24)
            assert (frag, token) == (b"\x0f\x01\x01\x00", 0x0C)
            if template == pos + 38:  # defined here: the first use in this chunk
                templates.add(template)
            else:  # used again: defined earlier in the same chunk
                assert template in templates
            ids.append(rid)
            last_rec, pos = pos, pos + rsize
        assert pos == free and last_off == last_rec
        assert (f_num, l_num, f_id, l_id) == (ids[0], ids[-1], ids[0], ids[-1])
        chunks.append(ids)
    assert [rid for ids in chunks for rid in ids] == list(range(1, n_records + 1))
    return chunks


def check_all(path: Path, records: list[EvtxRecord], every: int = 1,
              render_every: int = 1) -> None:
    """Layout, then every record through the Rust parser, then python-evtx."""
    want = [expected(record, i) for i, record in enumerate(records, 1)]
    check_layout(path.read_bytes(), len(records))
    rust_xml, rust_json = rust_views(path)
    assert rust_xml == want
    assert rust_json == want
    views = python_views(path, every, render_every)
    assert views == {rid: want[rid - 1] for rid in views}
    assert len(views) >= len(records) // every


# --- tests ---------------------------------------------------------------------------------


def test_tricky_values_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "tricky.evtx"
    records = write(path, tricky_records())
    check_all(path, records)


def test_many_chunks_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "many.evtx"
    records = write(path, mixed_records(20_000))
    chunks = check_layout(path.read_bytes(), len(records))
    assert len(chunks) > 50
    check_all(path, records, every=10, render_every=10)


def test_record_that_does_not_fit_opens_the_next_chunk(tmp_path: Path) -> None:
    path = tmp_path / "spill.evtx"
    base = dict(time_us=T0, channel="Security", provider="P", computer="H")
    small = [EvtxRecord(1, data=[("V", "x" * 500)], **base) for _ in range(10)]
    big = EvtxRecord(2, data=[("CommandLine", "y" * 30_000)], **base)
    records = write(path, [*small, big, *small[:2]])
    chunks = check_layout(path.read_bytes(), len(records))
    assert chunks == [list(range(1, 11)), [11, 12, 13]]
    check_all(path, records)


def test_oversized_record_is_refused_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "big.evtx"
    base = dict(time_us=T0, channel="Security", provider="P", computer="H")
    with EvtxWriter(path) as writer:
        assert writer.write(EvtxRecord(1, data=[("A", "a")], **base)) == 1
        with pytest.raises(ValueError, match="too large for an EVTX chunk"):
            writer.write(EvtxRecord(2, data=[("A", "a" * 32_000)], **base))
        with pytest.raises(ValueError, match="too large for an EVTX chunk"):
            writer.write(EvtxRecord(2, data=[("A", "a" * 20_000), ("B", "b" * 20_000)],
                                    **base))
        with pytest.raises(ValueError, match="too long for EVTX"):
            writer.write(EvtxRecord(2, data=[("A", "a" * 40_000)], **base))
        assert writer.write(EvtxRecord(3, data=[("A", "c")], **base)) == 2
    assert [r["event_record_id"] for r in PyEvtxParser(str(path)).records()] == [1, 2]


@pytest.mark.parametrize("change", [
    {"user_sid": "not-a-sid"}, {"provider_guid": "{nope}"}, {"event_id": 70_000},
    {"level": 256}, {"process_id": -1}, {"time_us": -12_000_000_000_000_000},
])
def test_invalid_values_are_refused(change: dict[str, Any]) -> None:
    fields = dict(event_id=1, time_us=T0, channel="C", provider="P", computer="H") | change
    with EvtxWriter(io.BytesIO()) as writer, pytest.raises(ValueError):
        writer.write(EvtxRecord(**fields))


def test_output_is_deterministic(tmp_path: Path) -> None:
    records = [*tricky_records(), *mixed_records(2_000)]
    write(tmp_path / "a.evtx", records)
    buffer = io.BytesIO(b"junk")  # a stream is written from its current position
    buffer.seek(4)
    with EvtxWriter(buffer) as writer:
        for record in records:
            writer.write(record)
    assert buffer.getvalue()[4:] == (tmp_path / "a.evtx").read_bytes()
    write(tmp_path / "b.evtx", records)
    assert (tmp_path / "a.evtx").read_bytes() == (tmp_path / "b.evtx").read_bytes()


def test_header_is_dirty_until_closed() -> None:
    buffer = io.BytesIO()
    writer = EvtxWriter(buffer)
    writer.write(next(mixed_records(1)))
    assert struct.unpack_from("<I", buffer.getvalue(), 120)[0] == 1  # dirty
    writer.close()
    check_layout(buffer.getvalue(), 1)


def test_empty_log_has_a_clean_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.evtx"
    write(path, [])
    assert check_layout(path.read_bytes(), 0) == []
    with e_evtx.Evtx(str(path)) as log:
        assert log.get_file_header().verify()


def small_records(n: int) -> Iterator[EvtxRecord]:
    for i in range(n):
        yield EvtxRecord(4689, T0 + i, "Security", "Microsoft-Windows-Security-Auditing",
                         "WS01", [("ProcessId", hex(i)), ("ProcessName", "C:\\x.exe")],
                         provider_guid=SECURITY_GUID)


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def test_memory_stays_flat(tmp_path: Path) -> None:
    """Traced Python memory stays under 1 MB for 30,000 records (tracemalloc makes
    writing about ten times slower), and resident memory does not grow over 200,000."""
    tracemalloc.start()
    try:
        with EvtxWriter(tmp_path / "traced.evtx") as writer:
            for record in small_records(30_000):
                writer.write(record)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, f"peak traced memory {peak / 1e6:.2f} MB"
    assert current < 256 * 1024  # after close: small caches only

    path = tmp_path / "flat.evtx"
    start, top = _rss(), 0
    with EvtxWriter(path) as writer:
        for i, record in enumerate(mixed_records(200_000), 1):
            assert writer.write(record) == i
            if start is not None and i % 10_000 == 0:
                top = max(top, (_rss() or 0) - start)
    # 200,000 records held would be hundreds of MB; allocator noise stays far below this.
    assert top < 16 * 1024 * 1024, f"resident memory grew {top / 1e6:.1f} MB"
    header = path.read_bytes()[:4096]
    assert struct.unpack_from("<Q", header, 24)[0] == 200_001


@pytest.mark.parametrize("parser", ["evtx", "python-evtx"])
def test_project_readers_read_the_files(tmp_path: Path, parser: str) -> None:
    records = [*tricky_records(), *mixed_records(400)]
    path = tmp_path / "scenario.evtx"
    write(path, records)
    assert len(check_layout(path.read_bytes(), len(records))) > 1
    inputs = list(iter_inputs([str(path)]))
    assert len(inputs) == 1
    item = inputs[0]
    events: list[Event] = []
    with item.open() as stream:
        fmt, stream_records = open_records(item, stream, ReadOptions(parser=parser))
        assert fmt == "evtx"
        for got in stream_records:
            assert isinstance(got, Event), got  # no skip, no damaged chunk
            events.append(got)
    assert len(events) == len(records)
    for rid, (event, record) in enumerate(zip(events, records, strict=True), 1):
        channel = canonical_channel(record.channel)
        if all(name is None for name, _ in record.data) and record.data:
            values = [value for _, value in record.data]
            fields = name_positional(channel, record.event_id, values) if any(values) else {}
        else:
            fields = canonical_fields(dict(record.data))
        assert (event.record_id, event.event_id, event.host, event.channel,
                event.provider) == (rid, record.event_id, record.computer, channel,
                                    record.provider)
        assert event.ts_us == (record.time_us or None)
        assert event.fields == fields
