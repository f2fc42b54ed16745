"""Regressions the fuzzing found in the text readers (XML, JSON lines, auditd, Sysmon for
Linux's syslog), each as its minimal input."""

from __future__ import annotations

import time
from datetime import timedelta

import orjson
import pytest

from tests.fuzz.regression_inputs import (
    SYSLOG_LINE,
    WINLOGBEAT,
    audit_line,
    audit_records,
    jsonl_lines,
    xml_event,
)
from tests.fuzz.snippets import nested
from tests.fuzz.targets import events_and_skips, read_direct
from tests.fuzz.worker import Worker, check


@pytest.mark.parametrize("data", [
    nested("<a>", "</a>", 5000), "<Data Name='x'>" + nested("<b>", "</b>", 2000) + "</Data>"],
    ids=["unnamed", "in a Data"])
def test_xml_elements_nested_deeper_than_python_recurses_are_a_skip(data: str) -> None:
    # Was: RecursionError out of the reader (winevent._element_text).
    items, error = read_direct("xml", xml_event(data=data) + xml_event())
    events, skips = events_and_skips(items)
    assert error is None and skips == {"malformed event": 1} and len(events) == 1


def test_sysmon_syslog_elements_nested_too_deep_are_a_skip() -> None:
    line = ("Nov  2 09:00:00 lnx01 sysmon: <Event><System><Provider Name='Linux-Sysmon'/>"
            "<EventID>1</EventID><Channel>Linux-Sysmon/Operational</Channel></System>"
            "<EventData><Data Name='x'>" + nested("<b>", "</b>", 3000)
            + "</Data></EventData></Event>\n")
    items, error = read_direct("sysmon-syslog", line.encode())
    assert error is None and events_and_skips(items)[1] == {"malformed event": 1}


@pytest.mark.parametrize(("event_id", "kept"), [
    ("2147483648", False), ("-2147483649", False), ("99999999999999999999999", False),
    ("9" * 5000, False), ("2147483647", True), ("0x1F", True)], ids=[
    "2**31", "-2**31-1", "23 digits", "5000 digits", "2**31-1", "hex"])
def test_xml_event_ids_an_integer_column_cannot_hold_are_a_skip(event_id: str,
                                                                 kept: bool) -> None:
    # Was: an event whose event_id overflows the store's INTEGER column (a crash at write).
    items, _ = read_direct("xml", xml_event(f"<EventID>{event_id}</EventID>"))
    events, skips = events_and_skips(items)
    assert (len(events), sum(skips.values())) == ((1, 0) if kept else (0, 1))


@pytest.mark.parametrize("record_id", ["18446744073709551616", "9223372036854775808",
                                       "-9223372036854775809"])
def test_record_ids_a_bigint_cannot_hold_are_unknown(record_id: str) -> None:
    # Was: the event carried the id and the store write overflowed (SQLite OverflowError).
    items, _ = read_direct("xml", xml_event(f"<EventRecordID>{record_id}</EventRecordID>"))
    events, skips = events_and_skips(items)
    assert not skips and len(events) == 1 and events[0].record_id is None


@pytest.mark.parametrize("nested", [
    # Winlogbeat user data (jsonl._flatten), a list value (base.as_text), evtx_dump's
    # UserData (winevent._json_flatten): each nested as deep as orjson reads (1024).
    b'{"@timestamp":"2026-11-02T09:00:00Z","winlog":{"channel":"Security","event_id":1,'
    b'"user_data":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}",
    b'{"EventID":4688,"Channel":"Security","Hostname":"ws1","CommandLine":'
    + nested(b"[", b"]", 1000) + b"}",
    b'{"Event":{"System":{"EventID":1,"Channel":"Security"},"UserData":'
    + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}",
], ids=["winlogbeat user_data", "NXLog list value", "evtx_dump UserData"])
def test_json_nested_deeper_than_python_recurses_is_a_skip(nested: bytes) -> None:
    # Was: RecursionError out of the reader.
    items, error = read_direct("jsonl", jsonl_lines(WINLOGBEAT, nested, WINLOGBEAT))
    events, skips = events_and_skips(items)
    assert error is None and len(events) == 2 and skips == {"malformed event": 1}


@pytest.mark.parametrize(("event_id", "record_id", "kept"), [
    (2**31, 5, False), (2**64 - 1, 5, False), ("0x80000000", 5, False),
    (4688, 2**64 - 1, True), (4688, "18446744073709551616", True),
    (4688, "-9223372036854775809", True)])
def test_json_numbers_beyond_the_store_columns(event_id: object, record_id: object,
                                               kept: bool) -> None:
    row = dict(WINLOGBEAT, winlog=dict(WINLOGBEAT["winlog"], event_id=event_id,
                                       record_id=record_id))
    items, _ = read_direct("jsonl", jsonl_lines(WINLOGBEAT, row))
    events, skips = events_and_skips(items)
    assert len(events) == 1 + kept and sum(skips.values()) == (not kept)
    if kept:
        assert events[1].record_id is None


@pytest.mark.parametrize("serial", ["²", "0²", "٣", "9" * 5000, "99999999999999999999"],
                         ids=["superscript", "digit+superscript", "arabic", "5000 digits",
                              "2**64+"])
def test_auditd_serials_that_are_no_ascii_number_are_unparseable_lines(serial: str) -> None:
    # Was: ValueError out of int() ("²".isdigit() is true; 4300 digits at most).
    items, error = read_direct("auditd", audit_records(serial=serial))
    events, skips = events_and_skips(items)
    assert error is None and len(events) == 1 and skips == {"unparseable line": 1}


@pytest.mark.parametrize("nr", ["²", "9" * 5000, "99999999999"],
                         ids=["superscript", "5000 digits", "2**31+"])
def test_auditd_syscall_numbers_that_are_no_number_are_event_id_zero(nr: str) -> None:
    items, _ = read_direct("auditd", audit_records(nr=nr))
    events, skips = events_and_skips(items)
    assert not skips and [e.event_id for e in events] == [59, 0]
    assert events[1].fields["syscall"] == nr


@pytest.mark.parametrize(("rtype", "more"), [
    ("PATH", "item=² name=/x"), ("PATH", "item=" + "9" * 5000 + " name=/x"),
    ("EXECVE", "argc=1 a" + "9" * 5000 + "=x"), ("EXECVE", "argc=1 a0[" + "9" * 5000 + "]=x")],
    ids=["PATH item superscript", "PATH item 5000 digits", "EXECVE a<5000 digits>",
         "EXECVE a0[<5000 digits>]"])
def test_auditd_huge_or_unicode_indexes_are_ignored(rtype: str, more: str) -> None:
    items, _ = read_direct("auditd", audit_records(more=more, rtype=rtype))
    events, skips = events_and_skips(items)
    assert not skips and len(events) == 2


@pytest.mark.parametrize(("stamp", "offset"), [
    ("9" * 5000, None), ("99999999999999999999.000", None), ("1700000000.²", None),
    ("01/01/0001 00:00:00.000", timedelta(hours=14)),
    ("12/31/9999 23:59:59.999", timedelta(hours=-12)), ("10/26/2021 12:51:14.²", None)],
    ids=["5000 digits", "2**64+ s", "superscript fraction", "year 1 - 14 h",
         "year 9999 + 12 h", "ausearch superscript fraction"])
def test_auditd_times_out_of_range_are_unknown(stamp: str, offset: timedelta | None) -> None:
    # Was: ValueError (digits), OverflowError (local time moved past year 1 or 9999), or a
    # time beyond a BIGINT column.
    items, error = read_direct("auditd", audit_records(stamp=stamp), offset=offset)
    events, skips = events_and_skips(items)
    assert error is None and not skips and len(events) == 2
    assert events[1].ts_us is None or events[1].ts_us in range(-(2**63), 2**63)


def test_xml_event_that_never_ends_is_read_past_in_linear_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: each chunk rescanned (and copied) the whole unfinished event: 128 MB took 25 s,
    # a gigabyte would take half an hour. Small chunks show it at a small size.
    from proctrail.store.readers import xml

    monkeypatch.setattr(xml, "_CHUNK", 1024)
    data = xml_event() + b"<Event><System><EventID>1</EventID>" + b"x" * (8 << 20)
    started = time.perf_counter()
    items, error = read_direct("xml", data)
    assert time.perf_counter() - started < 4
    assert error is None and events_and_skips(items)[1] == {"truncated event": 1}


def test_xml_oversized_event_is_a_skip_and_the_next_ones_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from proctrail.store.readers import xml

    monkeypatch.setattr(xml, "_CHUNK", 1000)
    monkeypatch.setattr(xml, "MAX_EVENT", 3000)
    big = xml_event(data="<Data Name='x'>" + "y" * 20_000 + "</Data>")
    for data in (xml_event() + big + xml_event(), big + xml_event()):
        items, error = read_direct("xml", data)
        events, skips = events_and_skips(items)
        assert error is None and skips == {"oversized event": 1}
        assert len(events) == data.count(b"<Event>") - 1
    items, error = read_direct("xml", big[:-20])  # only an oversized, unfinished event
    assert error is None and events_and_skips(items)[1] == {"oversized event": 1}


@pytest.mark.parametrize(("mode", "long", "good"), [
    ("jsonl", orjson.dumps(dict(WINLOGBEAT, pad="x" * 5000)), [orjson.dumps(WINLOGBEAT)] * 2),
    ("auditd", audit_line(9) + b" x=" * 3000, [audit_line(8), audit_line(10)]),
    ("sysmon-syslog", SYSLOG_LINE + b"<!--" + b"x" * 5000 + b"-->", [SYSLOG_LINE] * 2)],
    ids=["jsonl", "auditd", "sysmon-syslog"])
def test_lines_longer_than_max_line_are_a_skip(monkeypatch: pytest.MonkeyPatch, mode: str,
                                               long: bytes, good: list[bytes]) -> None:
    # Was: a line was read whole, whatever its size: one line of gigabytes (a one-line JSON
    # export sniffed as JSON lines) was held in memory, decoded and parsed.
    from proctrail.store.readers import base

    monkeypatch.setattr(base, "MAX_LINE", 1000)
    data = b"\n".join([good[0], long, long + b"\r", good[1]]) + b"\n"
    items, error = read_direct(mode, data)
    events, skips = events_and_skips(items)
    assert error is None and len(events) == 2 and skips == {"oversized line": 2}
    if mode == "jsonl":  # the first line too: was refused whole (issue 14)
        items, error = read_direct(mode, long + b"\n" + good[0])
        events, skips = events_and_skips(items)
        assert error is None and len(events) == 1 and skips == {"oversized line": 1}


def test_a_one_line_file_of_64_mb_is_not_held_whole(worker: Worker) -> None:
    data = b'{"a": "' + b"x" * (64 << 20) + b'"}\n' + orjson.dumps(WINLOGBEAT) + b"\n"
    result = check(worker, "jsonl", data)
    assert result["outcome"] == "reader_error" or result["skips"] == {"oversized line": 1}
    assert result["memory"] < 120 << 20, result["memory"] >> 20
