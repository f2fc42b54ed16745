"""EVTX: both parsers give the same events on every sample; damage is counted, not fatal."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import pytest

from proctrail.store.events import SYSMON, Damage, Event, Skip
from proctrail.store.readers.base import ReaderError
from proctrail.store.readers.evtx_python import open_evtx_python
from proctrail.store.readers.evtx_rust import open_evtx_rust

# Records python-evtx refuses where the Rust parser reads them (none since unpaired UTF-16
# surrogates are dropped by both; see evtx_python.utf16_text).
PYTHON_EVTX_REFUSES: set[tuple[str, int]] = set()


def read(opener, path: Path) -> tuple[dict[int, Event], Counter[str]]:
    events: dict[int, Event] = {}
    skips: Counter[str] = Counter()
    with open(path, "rb") as stream:
        for item in opener(stream, str(path)):
            if isinstance(item, Skip):
                skips[item.reason] += 1
            elif isinstance(item, Damage):  # a chunk failing its checksums: records kept
                skips["checksum_mismatch"] += 1
            else:
                assert item.record_id not in events, f"record {item.record_id} read twice"
                events[item.record_id] = item
    return events, skips


def evtx_files(samples: Path) -> list[Path]:
    return sorted(samples.rglob("*.evtx"))


def _compare_parsers(samples: Path, path: Path) -> tuple[str, int, list[str], list[int]]:
    """Both parsers over one file: what differs (empty when they agree), records compared,
    and the record ids read."""
    rel = path.relative_to(samples).as_posix()
    fast, fast_skips = read(open_evtx_rust, path)
    ref, ref_skips = read(open_evtx_python, path)
    problems = []
    refused = {rid for f, rid in PYTHON_EVTX_REFUSES if f == rel}
    if set(fast) - set(ref) != refused:
        problems.append(f"{rel}: only the Rust parser read {sorted(set(fast) - set(ref))}")
    if not set(ref) <= set(fast):
        problems.append(f"{rel}: only python-evtx read {sorted(set(ref) - set(fast))}")
    expected_skips = fast_skips.copy()
    if refused:
        expected_skips["invalid UTF-16"] += len(refused)
    if ref_skips != expected_skips:
        problems.append(f"{rel}: skips {dict(ref_skips)} != {dict(expected_skips)}")
    compared = 0
    for rid, event in ref.items():
        if fast.get(rid) != event:
            problems.append(f"{rel} record {rid}: {fast.get(rid)} != {event}")
        compared += 1
    return rel, compared, problems[:5], list(ref)


def test_parsers_agree_record_for_record(samples: Path) -> None:
    """Every record of every EVTX sample, normalised alike by both parsers (the files in
    parallel: python-evtx is the slow half)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    files = evtx_files(samples)
    assert len(files) > 250
    # Fresh processes (not forks of this one): a fork inherits every earlier test's
    # objects, which python-evtx's garbage collections then scan again and again.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=context) as pool:
        results = list(pool.map(partial(_compare_parsers, samples), files, chunksize=4))
    problems = [p for _rel, _n, found, _ids in results for p in found]
    assert not problems, problems
    assert sum(n for _rel, n, _p, _ids in results) > 12_000
    # Record 508 of this file holds unpaired UTF-16 surrogates, which python-evtx used to
    # refuse: both parsers now drop them alike, so it is read and compared.
    by_file = {rel: ids for rel, _n, _p, ids in results}
    assert 508 in by_file["extra/win/sysmon_issue_43.evtx"]
    assert len(by_file["extra/win/sysmon_issue_43.evtx"]) == 1730


def test_counts_match_the_manifest(samples: Path, manifest: dict[str, dict]) -> None:
    for path in evtx_files(samples):
        rel = path.relative_to(samples).as_posix()
        entry = manifest[rel]
        events, _ = read(open_evtx_rust, path)
        if entry["parse_error"] is None:
            assert len(events) == entry["records"], rel
        else:  # the manifest's counter stopped at the damage; we read past it
            assert len(events) >= entry["records"], rel
        counts: Counter[str] = Counter()
        for e in events.values():
            counts[f"S{e.event_id}" if e.channel == SYSMON else str(e.event_id)] += 1
        for key, n in entry["key_events"].items():
            if entry["parse_error"] is None:
                assert counts[key] == n, f"{rel} {key}"
            else:
                assert counts[key] >= n, f"{rel} {key}"
        hosts = {e.host for e in events.values()}
        if entry["parse_error"] is None:
            assert sorted(hosts) == sorted(entry["hosts"]), rel
        else:
            assert hosts >= set(entry["hosts"]), rel


@pytest.mark.parametrize("opener", [open_evtx_rust, open_evtx_python])
def test_dirty_header_chunks_beyond_count_are_read(samples: Path, opener) -> None:
    # system.evtx's header claims 3 chunks; 15 are there.
    events, skips = read(opener, samples / "evtx-rs/system.evtx")
    assert struct.unpack_from("<H", (samples / "evtx-rs/system.evtx").read_bytes(), 42)[0] == 3
    assert len(events) == 1881 and not skips
    # sysmon.evtx: header says 1 chunk, 9 are valid, 8 slots hold garbage.
    events, skips = read(opener, samples / "evtx-rs/sysmon.evtx")
    assert len(events) == 358
    assert skips == {"bad chunk header": 8}
    assert sum(e.kind == "process_start" for e in events.values()) == 227


@pytest.fixture
def sliver(samples: Path) -> bytes:
    return (samples / "extra/win/sliver-security.evtx").read_bytes()


def _record_offsets(data: bytes, chunk: int = 0) -> list[int]:
    pos = 4096 + chunk * 0x10000 + 512
    out = []
    while struct.unpack_from("<I", data, pos)[0] == 0x2A2A:
        out.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    return out


DAMAGE = {
    # name: (mutation, records kept, skips)
    "header says one chunk": (lambda d, r: _set(d, 42, struct.pack("<H", 1)), 528, {}),
    "bad BinXML in one record": (lambda d, r: _set(d, r[5] + 24, b"\xff" * 8), 527,
                                 {"unparseable record": 1, "checksum_mismatch": 1}),
    "bad record magic": (lambda d, r: _set(d, r[5], b"\x00"), 454,
                         {"bad record header": 1, "checksum_mismatch": 1}),
    "bad chunk magic": (lambda d, r: _set(d, 4096, b"XXXXXXXX"), 449, {"bad chunk header": 1}),
    "truncated inside a chunk": (lambda d, r: d[: 4096 + 0x10000 + 30000], 111,
                                 {"truncated chunk": 1}),
}


def _set(data: bytes, offset: int, patch: bytes) -> bytes:
    return data[:offset] + patch + data[offset + len(patch):]


@pytest.mark.parametrize("opener", [open_evtx_rust, open_evtx_python])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_is_counted_and_the_rest_loads(tmp_path: Path, sliver: bytes, opener,
                                             damage: str) -> None:
    mutate, kept, expected = DAMAGE[damage]
    path = tmp_path / "damaged.evtx"
    path.write_bytes(mutate(sliver, _record_offsets(sliver)))
    events, skips = read(opener, path)
    assert len(events) == kept
    assert dict(skips) == expected
    assert sum(e.event_id == 4688 for e in events.values()) > 0


@pytest.mark.parametrize("opener", [open_evtx_rust, open_evtx_python])
def test_unreadable_files_give_one_clear_error(tmp_path: Path, sliver: bytes, opener) -> None:
    cases = {
        "header-only.evtx": (sliver[:4096], "truncated EVTX: nothing after the file header"),
        "short.evtx": (sliver[:1000], "not an EVTX file"),
        "text.evtx": (b"hello world\n" * 500, "not an EVTX file"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ReaderError) as err:
            read(opener, path)
        assert message in str(err.value)
        assert str(path) in str(err.value)
        assert "\n" not in str(err.value)


def test_sysmon_zero_header_time_falls_back_to_utctime() -> None:
    from proctrail.store.readers.winevent import make_event

    event = make_event(computer="H", channel="Microsoft-Windows-Sysmon/Operational",
                       provider="Microsoft-Windows-Sysmon", event_id=1, record_id=1, ts_us=None,
                       fields={"UtcTime": "2017-12-26 13:10:29.134", "ProcessId": "9112"})
    assert event.ts_us == 1514293829134000
    assert event.kind == "process_start"


def test_a_flipped_byte_in_an_element_name_keeps_the_record(tmp_path: Path) -> None:
    """Was: the Rust parser writes the damaged name with its raw control character, strict
    JSON refused it, and every record of that template was a 'malformed event'."""
    from proctrail.generate.evtx_writer import EvtxRecord, EvtxWriter
    path = tmp_path / "flipped.evtx"
    writer = EvtxWriter(path)
    for i in range(3):
        writer.write(EvtxRecord(4688, 1_700_000_000_000_000 + i, "Security",
                                "Microsoft-Windows-Security-Auditing", "WS1",
                                data=[("NewProcessId", hex(0x10 + 4 * i)),
                                      ("NewProcessName", f"C:\\t{i}.exe")]))
    writer.close()
    data = bytearray(path.read_bytes())
    at = data.find("Computer".encode("utf-16-le"))
    data[at] = 0x01  # the element name in the shared template: \x01omputer
    path.write_bytes(bytes(data))
    with path.open("rb") as stream:
        items = list(open_evtx_rust(stream, str(path)))
    events = [i for i in items if isinstance(i, Event)]
    skips = Counter(i.reason for i in items if isinstance(i, Skip))
    assert [e.fields["NewProcessName"] for e in events] == [f"C:\\t{i}.exe" for i in range(3)]
    assert [e.event_id for e in events] == [4688] * 3 and skips == {"repaired record (kept)": 3}
