"""Integrity anomalies: record gaps, cleared logs, audit stops, clock changes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from proctrail.store.correlate import correlate
from proctrail.store.correlate.integrity import event_anomalies, record_gaps
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Anomaly

ROOT = Path(__file__).resolve().parents[1]


def test_record_gaps_per_host_and_channel() -> None:
    rows = [(1, 1, 5, 50), (1, 1, 6, 60), (1, 1, 9, 90), (1, 2, 10, 95), (1, 2, 12, 99),
            (2, 1, 100, 10), (2, 1, -77, None), (2, 1, 101, 11)]
    gaps = record_gaps(rows)
    assert [(g.host_id, g.channel_id, g.start_us, g.end_us, g.detail) for g in gaps] == [
        (1, 1, 60, 90, "2 record(s) missing between 6 and 9"),
        (1, 2, 95, 99, "1 record(s) missing between 10 and 12")]


def test_cleared_logs_audit_stops_and_clock_changes() -> None:
    found = event_anomalies([
        (1, 1, 1, "audit_stop", 100, {}),
        (2, 1, 1, "audit_start", 500, {}),
        (3, 1, 1, "log_cleared", 600, {"SubjectUserName": "mallory"}),
        (4, 1, 1, "time_change", 700, {"PreviousTime": "2024-01-01T10:00:00Z",
                                        "NewTime": "2023-01-01T10:00:00Z"}),
        (5, 2, 1, "audit_stop", 800, {}),
    ])
    assert [(a.kind, a.host_id, a.start_us, a.end_us, a.detail) for a in found] == [
        ("audit_stopped", 1, 100, 500, "auditing or event logging stopped"),
        ("log_cleared", 1, 600, 600, "cleared by mallory"),
        ("clock_changed", 1, 700, 700, "2024-01-01T10:00:00Z -> 2023-01-01T10:00:00Z"),
        ("audit_stopped", 2, 800, None, "auditing or event logging stopped")]


def test_demo_case_anomalies_are_stored(db_url: str) -> None:
    engine = open_engine(db_url)
    Ingestor(engine).run([str(ROOT / "sample_logs")])
    report = correlate(engine)
    assert report.anomalies.get("log_cleared") == 1
    with engine.connect() as conn:
        cleared = conn.execute(select(Anomaly.detail).where(Anomaly.kind == "log_cleared")
                               ).scalar_one()
    assert cleared.startswith("cleared by ")
