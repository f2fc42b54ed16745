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
    rows = [(1, 1, 7, 5, 50, 1), (1, 1, 7, 6, 60, 2), (1, 1, 7, 9, 90, 3),
            (1, 2, 7, 10, 95, 4), (1, 2, 7, 12, 99, 5),
            (2, 1, 7, 100, 10, 6), (2, 1, 7, -77, None, 7), (2, 1, 7, 101, 11, 8)]
    gaps = record_gaps(rows)
    assert [(g.host_id, g.channel_id, g.start_us, g.end_us, g.event_pk, g.detail)
            for g in gaps] == [
        (1, 1, 60, 90, 3, "1 gap, 2 records missing, between records 6 and 9, "
                          "01-01 00:00:00 → 01-01 00:00:00"),
        (1, 2, 95, 99, 5, "1 gap, 1 record missing, between records 10 and 12, "
                          "01-01 00:00:00 → 01-01 00:00:00")]


HOUR = 3_600_000_000


def test_gaps_of_one_log_are_one_episode_until_an_hour_without_any() -> None:
    t = 1_660_000_000_000_000  # 2022-08-08 23:06:40 UTC
    rows = [(1, 1, 7, 10, t, 1), (1, 1, 7, 12, t + 1, 2), (1, 1, 7, 13, t + 2, 3),
            (1, 1, 7, 20, t + 60_000_000, 4), (1, 1, 7, 21, t + HOUR + 60_000_000, 5),
            (1, 1, 7, 30, t + HOUR + 61_000_000, 6)]
    gaps = record_gaps(rows)
    assert [(g.start_us, g.end_us, g.event_pk, g.detail) for g in gaps] == [
        (t, t + 60_000_000, 2, "2 gaps, 7 records missing, between records 10 and 20, "
                               "08-08 23:06:40 → 08-08 23:07:40"),
        (t + HOUR + 60_000_000, t + HOUR + 61_000_000, 6,
         "1 gap, 8 records missing, between records 21 and 30, "
         "08-09 00:07:40 → 08-09 00:07:41")]


def test_a_slice_has_no_gap_before_it_nor_at_a_seam_with_another_source() -> None:
    # Two exports of one channel (sources 7 and 8), each a slice starting mid-log: nothing
    # is missing before record 500, nor between 7's last record and 8's first.
    rows = [(1, 1, 7, 500, 10, 1), (1, 1, 7, 501, 11, 2), (1, 1, 8, 900, 20, 3),
            (1, 1, 8, 902, 21, 4)]
    assert [(g.event_pk, g.detail.split(",")[0]) for g in record_gaps(rows)] == [(4, "1 gap")]


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
