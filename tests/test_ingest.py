"""Ingest into the store: counts, natural-key dedup, sources, kinds, hostile text."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from proctrail.store.db import open_engine
from proctrail.store.events import SYSMON
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Channel, EventRow, Host, Source
from proctrail.store.queries import stats
from proctrail.store.readers.base import ReadOptions

ROOT = Path(__file__).resolve().parents[1]
TRUTH = json.loads((ROOT / "tests/data/sample_logs_truth.json").read_text())


def ingest(url: str, *paths: Path | str, **kw) -> tuple[object, object]:
    engine = open_engine(url)
    report = Ingestor(engine, kw.pop("opts", None), **kw).run([str(p) for p in paths])
    return engine, report


def counts(engine) -> Counter[str]:
    return Counter({f"{c['channel']}/{c['event_id']}": c["n"] for c in stats(engine)["counts"]})


def test_sample_logs_match_their_truth(db_url: str) -> None:
    engine, report = ingest(db_url, ROOT / "sample_logs")
    assert report.clean
    expected: Counter[str] = Counter()
    for per_file in TRUTH["files"].values():
        expected.update(per_file)
    assert counts(engine) == expected
    data = stats(engine)
    assert data["events"] == TRUTH["events_total"]
    assert sorted(data["hosts"], key=str.lower) == sorted(TRUTH["hosts"], key=str.lower)
    assert data["kinds"]["process_start"] == expected["Security/4688"] + expected[
        "Security/592"] + expected[f"{SYSMON}/1"] + expected["auditd/59"]


def test_reingest_and_overlapping_exports_add_nothing(db_url: str, tmp_path: Path) -> None:
    engine, _first = ingest(db_url, ROOT / "sample_logs")
    n = stats(engine)["events"]
    # The same content again is recognised by its SHA-256 and not read.
    _, again = ingest(db_url, ROOT / "sample_logs")
    assert [s.status for s in again.sources] == ["already"] * len(TRUTH["files"])
    # Forced, or as a copy with other bytes (an overlapping export), it is read and deduped.
    _, forced = ingest(db_url, ROOT / "sample_logs", force=True)
    assert forced.total("records_read") == n and forced.total("duplicates") == n
    text = (ROOT / "sample_logs/WS01-Security.xml").read_text()
    overlap = tmp_path / "export-again.xml"
    overlap.write_text(text.replace("<Events>", "<Events>\n<!-- exported again -->"))
    _, report = ingest(db_url, overlap)
    assert report.total("stored") == 0
    assert report.total("duplicates") == sum(TRUTH["files"]["WS01-Security.xml"].values())
    assert stats(engine)["events"] == n


def test_each_event_links_to_its_source_and_record(db_url: str) -> None:
    engine, _ = ingest(db_url, ROOT / "sample_logs")
    with engine.connect() as conn:
        rows = conn.execute(
            select(Source.path, EventRow.record_id, EventRow.event_id, EventRow.data)
            .join(Source, Source.id == EventRow.source_id)
            .where(EventRow.kind == "process_start", EventRow.event_id == 4688,
                   Source.path.endswith("WS01-Security.xml"))
        ).all()
        sources = conn.execute(select(Source)).scalars().all()
    assert len(rows) == TRUTH["files"]["WS01-Security.xml"]["Security/4688"]
    assert all(r.path.endswith("WS01-Security.xml") and r.record_id > 0 for r in rows)
    with Session(engine) as session:
        sources = session.scalars(select(Source)).all()
    assert len(sources) == len(TRUTH["files"])
    for src in sources:
        assert len(src.sha256) == 64 and src.status == "complete" and src.size > 0
        assert src.records_read == src.events_stored
    fields = orjson.loads(rows[0].data)
    assert fields["NewProcessId"].startswith("0x")  # kept as Windows writes it


def test_hostile_text_is_stored_exactly(db_url: str) -> None:
    engine, _ = ingest(db_url, ROOT / "sample_logs")
    with engine.connect() as conn:
        lines = [orjson.loads(d).get("CommandLine", "") for d in conn.execute(
            select(EventRow.data).where(EventRow.kind == "process_start")).scalars()]
    hostile = [c for c in lines if "[bold red]" in c]
    assert len(hostile) == 2  # the 4688 and the Sysmon 1 of the same process
    assert all("\x1b[31m" in c for c in hostile)


def test_forwarded_events_are_keyed_by_their_own_host_and_channel(db_url: str,
                                                                 tmp_path: Path) -> None:
    def event(host: str, channel: str, rid: int, eid: int, extra: str = "") -> str:
        return (
            '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
            '<Provider Name="Microsoft-Windows-Security-Auditing"/>'
            f"<EventID>{eid}</EventID><TimeCreated SystemTime='2024-03-01T10:00:0{rid}.5Z'/>"
            f"<EventRecordID>{rid}</EventRecordID><Channel>{channel}</Channel>"
            f"<Computer>{host}</Computer></System><EventData>"
            f'<Data Name="NewProcessId">0x{rid:x}</Data>{extra}</EventData>'
            "<RenderingInfo Culture='en-US'><Message>A new process has been created."
            "</Message><Level>Information</Level></RenderingInfo></Event>"
        )

    path = tmp_path / "ForwardedEvents.xml"
    path.write_text("<Events>" + event("DC01.corp", "Security", 1, 4688)
                    + event("ws7.corp", "security", 1, 4688)
                    + event("WS7.CORP", "SECURITY", 2, 4689) + "</Events>")
    engine, report = ingest(db_url, path)
    assert report.clean and report.total("stored") == 3
    data = stats(engine)
    assert data["hosts"] == ["DC01.corp", "ws7.corp"]  # one host per case-insensitive name
    assert data["counts"] == [{"channel": "Security", "event_id": 4688, "n": 2},
                              {"channel": "Security", "event_id": 4689, "n": 1}]
    assert data["kinds"] == {"process_end": 1, "process_start": 2}
    with engine.connect() as conn:
        assert conn.execute(select(Channel.name)).scalars().all() == ["Security"]
        assert len(conn.execute(select(Host)).all()) == 2


def test_classification_uses_channel_and_id(db_url: str, tmp_path: Path) -> None:
    def event(provider: str, channel: str, eid: int, rid: int) -> str:
        return (f'<Event><System><Provider Name="{provider}"/><EventID>{eid}</EventID>'
                f"<TimeCreated SystemTime='2024-03-01T10:00:00Z'/>"
                f"<EventRecordID>{rid}</EventRecordID><Channel>{channel}</Channel>"
                "<Computer>h</Computer></System><EventData/></Event>")

    path = tmp_path / "mixed.xml"
    path.write_text("<Events>"
                    + event("PowerShell", "Windows PowerShell", 600, 1)
                    + event("Microsoft-Windows-Security-Auditing", "Security", 600, 2)
                    + event("Microsoft-Windows-Kernel-General", "System", 1, 3)
                    + event("Microsoft-Windows-Sysmon", SYSMON, 1, 4)
                    + event("Microsoft-Windows-Eventlog", "System", 104, 5)
                    + event("Microsoft-Windows-Eventlog", "Security", 1102, 6)
                    + "</Events>")
    engine, _ = ingest(db_url, path)
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(EventRow.record_id, EventRow.kind)).all())
    # Windows PowerShell's 600 is a provider start (activity), never Security's token change.
    assert kinds == {1: "ps_provider", 2: "token_change", 3: "time_change", 4: "process_start",
                     5: "log_cleared", 6: "log_cleared"}


def test_zero_filetime_is_unknown_not_1601(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "zero.xml"
    path.write_text(
        '<Events><Event><System><Provider Name="Microsoft-Windows-Security-Auditing"/>'
        "<EventID>4688</EventID><TimeCreated SystemTime='1601-01-01T00:00:00.0000000Z'/>"
        "<EventRecordID>9</EventRecordID><Channel>Security</Channel><Computer>h</Computer>"
        "</System><EventData/></Event></Events>")
    engine, _ = ingest(db_url, path)
    data = stats(engine)
    assert data["events"] == 1 and data["first_us"] is None and data["last_us"] is None


def test_archives_are_read_member_by_member(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(ROOT / "sample_logs/WS01-Sysmon.xml", "logs/WS01-Sysmon.xml")
        zf.write(ROOT / "sample_logs/lnx01-audit.log", "logs/lnx01-audit.log")
        zf.writestr("__MACOSX/logs/._WS01-Sysmon.xml", b"\x00\x05\x16\x07junk")
    gz = tmp_path / "WS01-Security.xml.gz"
    gz.write_bytes(gzip.compress((ROOT / "sample_logs/WS01-Security.xml").read_bytes()))
    engine, report = ingest(db_url, archive, gz)
    assert report.clean, [(s.name, s.error) for s in report.sources]
    assert sorted(s.name for s in report.sources) == sorted([
        f"{archive}!logs/WS01-Sysmon.xml", f"{archive}!logs/lnx01-audit.log",
        f"{gz}!WS01-Security.xml"])
    assert stats(engine)["events"] == sum(
        sum(TRUTH["files"][name].values())
        for name in ("WS01-Sysmon.xml", "lnx01-audit.log", "WS01-Security.xml"))


def test_evtx_inside_a_zip_equals_the_plain_file(db_url: str, samples: Path,
                                                 tmp_path: Path) -> None:
    plain = samples / "extra/win/sliver-security.evtx"
    archive = tmp_path / "sliver.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(plain, "sliver-security.evtx")
    _engine, report = ingest(db_url, archive)
    assert report.total("stored") == 528 and report.clean
    _, again = ingest(db_url, plain)
    assert again.sources[0].status == "already"  # same content, same SHA-256


def test_mixed_folder_reports_each_bad_file_and_loads_the_rest(db_url: str, tmp_path: Path,
                                                              samples: Path) -> None:
    folder = tmp_path / "triage"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(samples / "evtx-rs/sample_with_a_bad_chunk_magic.evtx", folder / "sub")
    shutil.copy(ROOT / "sample_logs/lnx01-audit.log", folder)
    (folder / "empty.evtx").write_bytes(b"")
    (folder / "notes.txt").write_text("not a log at all\n")
    (folder / "cut.evtx").write_bytes((samples / "evtx-rs/security.evtx").read_bytes()[:4096])
    engine, report = ingest(db_url, folder)
    by_name = {Path(s.name).name: s for s in report.sources}
    assert by_name["empty.evtx"].error == "empty file"
    assert "not a log format" in by_name["notes.txt"].error
    assert by_name["cut.evtx"].error == "truncated EVTX: nothing after the file header"
    damaged = by_name["sample_with_a_bad_chunk_magic.evtx"]
    assert damaged.status == "complete" and damaged.stored == 270
    assert damaged.skipped == {"bad chunk header": 2}
    assert by_name["lnx01-audit.log"].stored == sum(TRUTH["files"]["lnx01-audit.log"].values())
    assert not report.clean and len(report.failed) == 3
    with engine.connect() as conn:
        failed = conn.execute(select(Source.path, Source.error)
                              .where(Source.status == "failed")).all()
    assert sorted(Path(p).name for p, _ in failed) == ["cut.evtx", "empty.evtx", "notes.txt"]
    assert stats(engine)["skipped"] == 2


@pytest.mark.parametrize("parser", ["evtx", "python-evtx"])
def test_both_parsers_store_the_same_rows(tmp_path: Path, samples: Path, parser: str) -> None:
    engine, report = ingest(f"sqlite:///{tmp_path / 'p.db'}",
                            samples / "extra/win/sliver-security.evtx",
                            samples / "extra/win/sliver-sysmon.evtx",
                            opts=ReadOptions(parser=parser))
    assert report.clean
    data = stats(engine)
    assert data["events"] == 552
    assert data["kinds"]["process_start"] == 28 + 13
    assert data["kinds"]["process_end"] == 31 + 5
    with engine.connect() as conn:
        assert conn.execute(select(Source.parser)).scalars().all() == [parser, parser]


def test_otrf_dataset_counts_and_times(db_url: str, samples: Path,
                                       manifest: dict[str, dict]) -> None:
    rel = "otrf/msf_record_mic.zip"
    engine, report = ingest(db_url, samples / rel)
    assert report.clean
    entry = manifest[rel]
    data = stats(engine)
    assert data["events"] == entry["records"]
    assert sorted(data["hosts"]) == sorted(entry["hosts"])
    got = counts(engine)
    for key, n in entry["key_events"].items():
        name = f"{SYSMON}/{key[1:]}" if key.startswith("S") else f"Security/{key}"
        assert got[name] == n, key
    with engine.connect() as conn:
        rows = conn.execute(select(EventRow.ts_us, EventRow.received_us)
                            .where(EventRow.kind == "process_start")).all()
    assert rows and all(r.received_us is not None and r.received_us >= r.ts_us - 1_000_000
                        for r in rows)


def test_identical_records_without_ids_are_all_kept_once(db_url: str, tmp_path: Path) -> None:
    # Exports that lost record numbers hold identical rows (Sysmon repeats registry and
    # process-access events within a millisecond): each is a record, none may be lost.
    line = orjson.dumps({"EventID": 12, "Channel": SYSMON, "SourceName": "Microsoft-Windows-Sysmon",
                         "Hostname": "WS1", "UtcTime": "2020-10-18 02:17:19.851",
                         "TargetObject": "HKLM\\x"}).decode()
    other = line.replace("HKLM\\\\x", "HKLM\\\\y")
    path = tmp_path / "export.json"
    path.write_text("\n".join([line, line, other, line]) + "\n")
    engine, report = ingest(db_url, path)
    assert report.total("stored") == 4 and report.total("duplicates") == 0
    _, again = ingest(db_url, path, force=True)
    assert again.total("stored") == 0 and again.total("duplicates") == 4
    with engine.connect() as conn:
        ids = conn.execute(select(EventRow.record_id)).scalars().all()
    assert len(set(ids)) == 4 and all(i < 0 for i in ids)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_gz_keeps_every_complete_line_before_the_cut(tmp_path: Path,
                                                                 cut: float) -> None:
    """Was: a .gz copied short stored nothing (the whole input failed)."""
    import gzip
    import json as _json
    lines = [_json.dumps({"EventID": 4688, "Channel": "Security", "Hostname": "WS1",
                          "EventTime": f"2024-03-01 10:{i // 60:02d}:{i % 60:02d}",
                          "RecordNumber": i + 1, "NewProcessId": hex(0x100 + 4 * i),
                          "NewProcessName": f"C:\\\\tools\\\\t{i}.exe",
                          "CommandLine": "x" * (i % 97)})
             for i in range(3000)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "Security.jsonl.gz"
    path.write_bytes(whole[: int(len(whole) * cut)])
    engine = open_engine(f"sqlite:///{tmp_path / 'case.db'}")
    report = Ingestor(engine).run([str(path)])
    (source,) = report.sources
    assert source.error is None and source.skipped["truncated archive"] == 1
    stored = source.stored
    assert 0.8 * cut * len(lines) < stored < len(lines)
    # at most the one line cut through is a skip besides the cut itself
    assert sum(source.skipped.values()) <= 2 and stored + sum(source.skipped.values()) - 1 \
        <= len(lines)


def test_an_archive_member_that_expands_too_far_is_refused(tmp_path: Path) -> None:
    """Was: a small zip whose "EVTX" expands to gigabytes was spilled to disk whole."""
    import zipfile

    from proctrail.store.readers.base import ReadOptions
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Security.evtx", b"ElfFile\x00" + bytes(70 << 20))  # 70 MB from ~70 KB
        z.write(ROOT / "sample_logs" / "WS02-Security.evtx", "WS02-Security.evtx")
    engine = open_engine(f"sqlite:///{tmp_path / 'case.db'}")
    report = Ingestor(engine).run([str(bomb)])
    by_name = {s.name.rsplit("!", 1)[-1]: s for s in report.sources}
    assert by_name["Security.evtx"].status == "failed"
    assert "expands past" in by_name["Security.evtx"].error
    assert by_name["WS02-Security.evtx"].stored > 0  # the rest of the archive still loads
    small = Ingestor(open_engine(f"sqlite:///{tmp_path / 'b.db'}"),
                     ReadOptions(max_member_size=32 << 10)).run([str(bomb)])
    refused = {s.name.rsplit("!", 1)[-1]: s.error for s in small.sources}
    assert "32,768 bytes" in refused["WS02-Security.evtx"]  # 69 KB: over what was allowed


def test_a_run_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    """An ingest freezes what is alive at its start out of the collector's way, and gives
    it back at its end: a long-lived process (the TUI following logs, a cluster worker)
    runs many, and garbage frozen would never be freed."""
    import gc

    engine = open_engine(f"sqlite:///{tmp_path / 'c.db'}")
    gc.unfreeze()  # (the suite freezes each test's start: conftest)
    Ingestor(engine).run([str(ROOT / "sample_logs" / "lnx01-audit.log")])
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a caller's own freeze is left as it was
    before = gc.get_freeze_count()
    Ingestor(engine).run([str(ROOT / "sample_logs" / "lnx01-audit.log")])
    assert gc.get_freeze_count() >= before > 0
