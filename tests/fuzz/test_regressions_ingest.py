"""Regression inputs through the ingest into SQLite: nothing escapes one input, and the
counts add up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.fuzz.regression_inputs import (
    WINLOGBEAT,
    audit_records,
    damaged_archives,
    first_record,
    jsonl_lines,
    patched,
    string_cycle,
    xml_event,
)
from tests.fuzz.seeds import seeds
from tests.fuzz.snippets import nested
from tests.fuzz.worker import Worker, assert_ingest_consistent


def test_damaged_archives_fail_alone_in_an_ingest(worker: Worker, sqlite_url: str,
                                                  tmp_path: Path) -> None:
    paths = []
    for i, (filename, data) in enumerate(damaged_archives().values()):
        paths.append(tmp_path / f"{i}-{filename}")
        paths[-1].write_bytes(data)
    paths.append(tmp_path / "good.log")
    paths[-1].write_bytes(seeds()["ausearch-i.log"])
    answer = worker.ask({"mode": "ingest", "url": sqlite_url, "paths": [str(p) for p in paths]})
    assert "crash" not in answer, answer.get("crash")
    by_file: dict[str, list[dict[str, Any]]] = {}
    for source in answer["sources"]:
        assert source["records_read"] == source["stored"] + source["duplicates"], source
        by_file.setdefault(Path(source["name"].split("!")[0]).name, []).append(source)
    (good,) = by_file.pop("good.log")
    assert good["status"] == "complete" and good["stored"] > 0
    assert sorted(by_file) == sorted(p.name for p in paths[:-1])
    for sources in by_file.values():
        failed = [s for s in sources if s["status"] == "failed"]
        assert failed and all(s["error"] for s in failed), sources


def test_a_fifo_in_a_folder_is_a_reader_error_not_a_hang(worker: Worker, sqlite_url: str,
                                                         tmp_path: Path) -> None:
    # Found reading the sniff layer: the 4-byte magic read of a FIFO (a copied /var/spool
    # has some) blocked for ever. A FIFO, socket or device is now a failed input.
    folder = tmp_path / "triage"
    folder.mkdir()
    os.mkfifo(folder / "pickup")
    (folder / "audit.log").write_bytes(seeds()["ausearch-i.log"])
    answer = worker.ask({"mode": "ingest", "url": sqlite_url, "paths": [str(folder)]},
                        timeout=20)
    assert "crash" not in answer and "outcome" not in answer, answer
    status = {Path(s["name"]).name: (s["status"], s["error"]) for s in answer["sources"]}
    assert status == {"audit.log": ("complete", None),
                      "pickup": ("failed", "not a regular file (a FIFO, socket or device)")}


def test_regressions_ingest_into_sqlite(worker: Worker, sqlite_url: str, tmp_path: Path,
                                        own_evtx: bytes) -> None:
    """The regression inputs, all in one ingest: nothing escapes, the counts add up."""
    inputs = {
        "nested.xml": xml_event(data=nested("<a>", "</a>", 5000)) + xml_event(),
        "ids.xml": xml_event("<EventRecordID>18446744073709551616</EventRecordID>")
        + xml_event("<EventID>2147483648</EventID>"),
        "nested.jsonl": jsonl_lines(WINLOGBEAT, b'{"EventID":4688,"Channel":"Security",'
                                    b'"CommandLine":' + nested(b"[", b"]", 1000) + b"}"),
        "audit.log": audit_records(serial="²") + audit_records(stamp="9" * 5000, nr="²"),
        "provider.evtx": patched(own_evtx, (first_record(own_evtx)[1][0][0] + 2, b"\x08")),
        "record.evtx": patched(own_evtx, (first_record(own_evtx)[1][9][1], b"\xff" * 8)),
        "cycle.evtx": string_cycle(own_evtx)[:4096 + 30_000],
    }
    paths = []
    for name, data in inputs.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    stored, in_store = assert_ingest_consistent(worker, sqlite_url, paths)
    assert stored == in_store > 0
