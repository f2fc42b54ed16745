"""``proctrail export activity``: one record per thing a process did, for other tools."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from proctrail.store.queries.export import export_activity

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("act") / "demo.db")
    subprocess.run([sys.executable, "-m", "proctrail.app.cli", "ingest", "--db", db, "-q",
                    "--no-detect", str(ROOT / "sample_logs")], check=True)
    return db


def _export(db: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "proctrail.app.cli", "export", "activity",
                           "--db", db, *args], check=True, capture_output=True,
                          text=True).stdout


def test_the_demo_activity_as_json_lines(demo_db: str) -> None:
    rows = [json.loads(line) for line in _export(demo_db).splitlines()]
    assert [(r["kind"], r["event_id"]) for r in rows] == [
        ("dns_query", 22), ("network_connect", 3), ("network_connect", 3),
        ("explicit_credentials", 4648)]
    dns = rows[0]
    assert dns["summary"] == "updates.example.com → 203.0.113.7"
    assert dns["fields"]["QueryName"] == "updates.example.com"
    assert dns["channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert dns["host"] == "WS01.corp.example" and dns["time"].startswith("2026-11-02T08:21")
    assert rows[3]["summary"].endswith("→ session 0x9c4d02 on WS02.corp.example")
    assert len({r["process_id"] for r in rows}) == 3  # powershell, updater, mstsc


def test_csv_columns_host_filter_and_a_page_at_a_time(demo_db: str) -> None:
    table = list(csv.reader(io.StringIO(_export(demo_db, "--format", "csv"))))
    assert table[0] == ["process_id", "host", "time", "kind", "direction", "event_id",
                        "record_id", "channel", "summary", "fields"]
    assert len(table) == 5 and json.loads(table[1][9])["QueryResults"] == "203.0.113.7"
    assert _export(demo_db, "--host", "ws02") == ""  # WS02's processes did nothing logged
    from proctrail.store.db import open_engine

    paged = list(export_activity(open_engine(demo_db), page=1))
    assert [r["record_id"] for r in paged] == [int(row[6]) for row in table[1:]]


def test_redact_masks_script_text_in_activity_records() -> None:
    from proctrail.app.cli.export import ACTIVITY_TEXT
    from proctrail.app.redact import Redactor, redact_record

    record = {"kind": "script_block", "summary": "net use \\\\srv /user:x -Password hunter2",
              "fields": {"ScriptBlockText": "Connect -Password hunter2", "Path": "a.ps1"}}
    masked = redact_record(record, Redactor(), ACTIVITY_TEXT)
    assert "hunter2" not in json.dumps(masked)
    assert masked["fields"]["Path"] == "a.ps1"
