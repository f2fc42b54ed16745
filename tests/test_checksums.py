"""EVTX checksums (issue 14): a record altered inside a healthy-looking file is stored as
read and flagged, one ``checksum_mismatch`` anomaly per damaged chunk naming the file, the
chunk, the failed check and the record range; healthy files (the generator's and the real
samples) give none; both readers flag alike; stats and the report count them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from proctrail.app.cli import main
from proctrail.app.output.report import build_report, to_markdown
from proctrail.generate.evtx_writer import EvtxRecord, EvtxWriter
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.events import Damage, Event
from proctrail.store.ingest import Ingestor
from proctrail.store.models import EventRow, SourceDamage
from proctrail.store.queries import stats
from proctrail.store.queries.browse import anomaly_rows
from proctrail.store.readers.base import ReadOptions
from proctrail.store.readers.evtx_checks import CHUNK_SIZE, chunk_damage, file_damage
from proctrail.store.readers.evtx_python import open_evtx_python
from proctrail.store.readers.evtx_rust import open_evtx_rust
from proctrail.store.spool import SpooledSource, SpoolWriter, read_spool

T0 = 1_764_000_000_000_000
HEADER = 4096
PARSERS = ["evtx", "python-evtx"]
N = 600  # records in a written log: five chunks
# The deliberately damaged files of the Rust parser's tests (see MANIFEST.md), and what
# each fails: every other sample EVTX is healthy.
DAMAGED_SAMPLES = {
    "evtx-rs/Application_no_crc32.evtx": [(0, ("header CRC", "data CRC"))],
    "evtx-rs/sample-with-zero-data-size-event.evtx": [(0, ("data CRC", "record size"))],
    "evtx-rs/sample_with_a_bad_chunk_magic.evtx": [
        (n, ("data CRC", "record magic", "record size copy")) for n in (0, 7, 9)],
}


def write_log(path: Path, records: int = N) -> Path:
    """A Security log of the project's writer: ``records`` 4688s over several chunks, the
    n-th (from 1) running ``cmd.exe /c echo marker<n>``."""
    with EvtxWriter(path) as writer:
        for n in range(1, records + 1):
            writer.write(EvtxRecord(
                4688, T0 + n * 1_000_000, "Security", "Microsoft-Windows-Security-Auditing",
                "WS1.corp.example",
                data=[("SubjectUserName", "alice"), ("SubjectLogonId", "0x3e7a1"),
                      ("NewProcessId", hex(0x1000 + 4 * n)),
                      ("NewProcessName", "C:\\Windows\\System32\\cmd.exe"),
                      ("ProcessId", "0x2a0"), ("CommandLine", f"cmd.exe /c echo marker{n:04d}")]))
    return path


def chunk_ids(data: bytes, chunk: int) -> tuple[int, int]:
    """The first and last record id a chunk's header names."""
    return struct.unpack_from("<QQ", data, HEADER + chunk * CHUNK_SIZE + 0x18)


def alter_command(path: Path, chunk: int) -> tuple[int, str]:
    """One byte changed in the middle record of ``chunk``: ``marker`` becomes ``markes`` in
    its command line (UTF-16, the XML stays whole). The record id, and its new text."""
    data = bytearray(path.read_bytes())
    first, last = chunk_ids(data, chunk)
    rid = (first + last) // 2
    text = f"marker{rid:04d}".encode("utf-16-le")
    at = data.index(text, HEADER + chunk * CHUNK_SIZE, HEADER + (chunk + 1) * CHUNK_SIZE)
    data[at + 10] = ord("s")  # the sixth character, 'r'
    path.write_bytes(bytes(data))
    return rid, f"cmd.exe /c echo markes{rid:04d}"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def damage_of(opener, path: Path) -> list[Damage]:
    with open(path, "rb") as stream:
        return [i for i in opener(stream, str(path)) if isinstance(i, Damage)]


# -- the checks ----------------------------------------------------------------------------

def test_the_writer_writes_valid_checksums(tmp_path: Path) -> None:
    path = write_log(tmp_path / "healthy.evtx")
    data = path.read_bytes()
    chunks = (len(data) - HEADER) // CHUNK_SIZE
    assert chunks >= 4
    assert [chunk_damage(data[HEADER + n * CHUNK_SIZE:HEADER + (n + 1) * CHUNK_SIZE], n, 0)
            for n in range(chunks)] == [None] * chunks
    for opener in (open_evtx_rust, open_evtx_python):
        assert damage_of(opener, path) == []


def _rechecked(chunk: bytearray) -> bytes:
    """The chunk with both CRC32s made right again, as a forger would."""
    free = struct.unpack_from("<I", chunk, 0x30)[0]
    struct.pack_into("<I", chunk, 0x34, zlib.crc32(chunk[0x200:free]))
    struct.pack_into("<I", chunk, 0x7C, zlib.crc32(chunk[:0x78] + chunk[0x80:0x200]))
    return bytes(chunk)


def test_record_framing_is_checked_where_the_crcs_were_forged(tmp_path: Path) -> None:
    data = write_log(tmp_path / "x.evtx", 60).read_bytes()
    chunk = bytearray(data[HEADER:HEADER + CHUNK_SIZE])
    first, last = chunk_ids(data, 0)
    size = struct.unpack_from("<I", chunk, 0x204)[0]  # the first record's
    assert chunk_damage(_rechecked(bytearray(chunk)), 0, HEADER) is None

    copy = bytearray(chunk)
    struct.pack_into("<I", copy, 0x200 + size - 4, size + 8)
    found = chunk_damage(_rechecked(copy), 0, HEADER)
    assert found is not None and found.checks == ("record size copy",)
    assert (found.first_record, found.last_record) == (first, last)
    assert f"record {first}: size {size}, copy {size + 8}" in found.detail

    swapped = bytearray(chunk)
    struct.pack_into("<Q", swapped, 0x208, last + 5)  # the first record's id: out of range
    found = chunk_damage(_rechecked(swapped), 0, HEADER)
    assert found is not None and found.checks == ("record ids",)

    magic = bytearray(chunk)
    magic[0x200 + size] ^= 0xFF  # the second record's magic
    found = chunk_damage(magic, 3, HEADER + 3 * CHUNK_SIZE)
    assert found is not None and found.checks == ("data CRC", "record magic")
    assert (found.chunk, found.offset) == (3, HEADER + 3 * CHUNK_SIZE)


@pytest.mark.parametrize("opener", [open_evtx_rust, open_evtx_python])
def test_a_flipped_chunk_header_byte_is_a_header_crc_mismatch(tmp_path: Path, opener) -> None:
    path = write_log(tmp_path / "header.evtx")
    data = bytearray(path.read_bytes())
    data[HEADER + CHUNK_SIZE + 0x40] ^= 0x01  # chunk 1, a reserved byte the CRC covers
    path.write_bytes(bytes(data))
    first, last = chunk_ids(data, 1)
    (found,) = damage_of(opener, path)
    assert (found.chunk, found.checks) == (1, ("header CRC",))
    assert (found.first_record, found.last_record) == (first, last)
    with open(path, "rb") as stream:  # every record is still read
        assert sum(isinstance(i, Event) for i in opener(stream, str(path))) == N


# -- ingest, correlation, stats, report ----------------------------------------------------

@pytest.mark.parametrize("parser", PARSERS)
def test_an_altered_record_is_stored_and_flagged_once(
        db_url: str, tmp_path: Path, parser: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_log(tmp_path / "Security.evtx")
    first, last = chunk_ids(path.read_bytes(), 2)
    rid, altered = alter_command(path, 2)
    code, out = cli(capsys, "ingest", str(path), "--db", db_url, "--parser", parser)
    assert code == 0, out
    assert f"1 damaged chunk(s) (chunk 2: data CRC, records {first}..{last})" in out
    assert "damaged: 1 chunk(s) fail their checksums" in out
    assert "checksum_mismatch 1" in out  # the correlation's line

    engine = open_engine(db_url)
    with engine.connect() as conn:
        (data,) = conn.execute(select(EventRow.data).where(EventRow.record_id == rid)).one()
        assert conn.execute(select(func.count()).select_from(EventRow)).scalar_one() == N
    assert orjson.loads(data)["CommandLine"] == altered  # kept as read
    (anomaly,) = [a for a in anomaly_rows(engine) if a["kind"] == "checksum_mismatch"]
    assert anomaly["host"] == "WS1.corp.example" and anomaly["channel"] == "Security"
    assert (anomaly["start_us"], anomaly["end_us"]) == (T0 + first * 1_000_000,
                                                        T0 + last * 1_000_000)
    assert anomaly["detail"].startswith(f"{path}: chunk 2 (at {HEADER + 2 * CHUNK_SIZE:#x}) "
                                        f"fails data CRC; records {first}..{last} cannot be "
                                        f"trusted, {last - first + 1} of them stored")

    data = stats(engine)
    assert (data["damaged_chunks"], data["damage_checks"]) == (1, {"data CRC": 1})
    code, out = cli(capsys, "stats", "--db", db_url)
    assert "damaged  1 chunk(s) fail their checksums (data CRC 1)" in out
    code, out = cli(capsys, "stats", "--db", db_url, "--json")
    assert orjson.loads(out)["damaged_chunks"] == 1
    text = to_markdown(build_report(engine))
    assert " integrity anomalies (1 damaged chunk(s): checksum_mismatch); " in text
    assert "complete; 1 chunk\\(s\\) fail their checksums" in text

    # Ingested again: the same content is skipped; correlated again: still one.
    code, out = cli(capsys, "ingest", str(path), "--db", db_url, "--parser", parser)
    assert code == 0 and "already in the store" in out
    correlate(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SourceDamage)).scalar_one() == 1
    assert [a["kind"] for a in anomaly_rows(engine)].count("checksum_mismatch") == 1
    engine.dispose()


def test_a_healthy_file_gives_none(sqlite_url: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write_log(tmp_path / "Security.evtx")
    code, out = cli(capsys, "ingest", str(path), "--db", sqlite_url)
    assert code == 0 and "damaged" not in out and "checksum_mismatch" not in out
    engine = open_engine(sqlite_url)
    assert stats(engine)["damaged_chunks"] == 0
    assert not [a for a in anomaly_rows(engine) if a["kind"] == "checksum_mismatch"]


def test_a_tampered_copy_after_the_original_is_flagged_on_its_host(
        sqlite_url: str, tmp_path: Path) -> None:
    """Every record of the copy is a duplicate of the original's (the natural key has no
    content): none is stored from it, and the anomaly still names the host, channel and
    times of what was read in the chunk."""
    original = write_log(tmp_path / "original.evtx")
    copy = tmp_path / "copy.evtx"
    copy.write_bytes(original.read_bytes())
    first, last = chunk_ids(copy.read_bytes(), 1)
    alter_command(copy, 1)
    engine = open_engine(sqlite_url)
    report = Ingestor(engine).run([str(original), str(copy)])
    assert report.clean and report.total("stored") == N and report.damaged == 1
    correlate(engine)
    (anomaly,) = [a for a in anomaly_rows(engine) if a["kind"] == "checksum_mismatch"]
    assert (anomaly["host"], anomaly["channel"]) == ("WS1.corp.example", "Security")
    assert (anomaly["start_us"], anomaly["end_us"]) == (T0 + first * 1_000_000,
                                                        T0 + last * 1_000_000)
    assert f"{copy}: chunk 1" in anomaly["detail"]
    assert f"{last - first + 1} of them read, none stored from this file" in anomaly["detail"]


def test_damage_goes_through_the_spool(tmp_path: Path, sqlite_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTRAIL_SPOOL", str(tmp_path / "spool"))
    engine = open_engine(sqlite_url)
    row = {"chunk": 2, "file_offset": 0x21000, "checks": "data CRC", "first_record": 7,
           "last_record": 9, "detail": "d", "host": "WS1", "channel": "Security",
           "start_us": T0, "end_us": T0 + 1, "records": 3}
    writer = SpoolWriter(engine)
    source = SpooledSource(1, "x.evtx", "", "ab" * 32, 1, "evtx", "evtx", damage=[row])
    writer.source(source)
    writer.end(source)
    writer.close()
    (end,) = [r for r in read_spool(writer.path) if r.kind == "end"]
    assert end.source is not None and end.source.damage == [row]
    replayed = Ingestor(engine).replay_spools()
    assert [len(r.damage) for r in replayed] == [1]
    with engine.connect() as conn:
        (stored,) = conn.execute(select(SourceDamage)).all()
    assert (stored.chunk, stored.host, stored.records) == (2, "WS1", 3)


# -- the real samples ----------------------------------------------------------------------

def test_real_samples_are_healthy_but_the_damaged_ones(samples: Path) -> None:
    """Every EVTX sample checked: only the three the Rust parser's tests damaged on purpose
    fail, each as both readers say."""
    found = {}
    for path in sorted(samples.rglob("*.evtx")):
        with open(path, "rb") as stream:
            size = stream.seek(0, 2)
            damage = file_damage(stream, size, HEADER)
        if damage:
            found[path.relative_to(samples).as_posix()] = [(d.chunk, d.checks)
                                                           for d in damage]
    assert found == DAMAGED_SAMPLES
    for rel in DAMAGED_SAMPLES:
        assert damage_of(open_evtx_rust, samples / rel) == damage_of(open_evtx_python,
                                                                     samples / rel)


@pytest.mark.parametrize("parser", PARSERS)
def test_a_real_log_altered_in_one_chunk(samples: Path, tmp_path: Path, sqlite_url: str,
                                         parser: str) -> None:
    path = tmp_path / "sliver-security.evtx"
    data = bytearray((samples / "extra/win/sliver-security.evtx").read_bytes())
    first, last = chunk_ids(data, 1)
    at = data.index(".exe".encode("utf-16-le"), HEADER + CHUNK_SIZE + 0x200)
    assert at < HEADER + 2 * CHUNK_SIZE
    data[at + 2] = ord("f")  # .exe -> .fxe, in a value
    path.write_bytes(bytes(data))
    engine = open_engine(sqlite_url)
    report = Ingestor(engine, ReadOptions(parser=parser)).run([str(path)])
    assert report.clean and report.damaged == 1
    with engine.connect() as conn:
        assert any(".fxe" in d for d in conn.execute(select(EventRow.data)).scalars())
    correlate(engine)
    (anomaly,) = [a for a in anomaly_rows(engine) if a["kind"] == "checksum_mismatch"]
    assert f"{path}: chunk 1 " in anomaly["detail"] and "fails data CRC;" in anomaly["detail"]
    assert f"records {first}..{last} cannot be trusted" in anomaly["detail"]
