"""Sysmon 7 (image loaded): stored always, attached to its process only when asked
(``[track] image_loads = true``): a row for every DLL every process loads is volume."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.detect.config import Config, ConfigError, load_config
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Activity
from proctrail.store.queries.activity import activity_counts

SYSMON = "Microsoft-Windows-Sysmon/Operational"
GUID = "{11111111-2222-3333-4444-555555555555}"


def _case(xml_log, tmp_path: Path):  # type: ignore[no-untyped-def]
    e = xml_log.event
    events = [
        e(1, 1, "2026-01-01T10:00:00.000Z", {"UtcTime": "2026-01-01 10:00:00.000",
          "ProcessGuid": GUID, "ProcessId": "4242", "Image": "C:\\Temp\\evil.exe",
          "CommandLine": "evil.exe", "ParentProcessId": "4", "User": "CORP\\bob"},
          channel=SYSMON, provider="Microsoft-Windows-Sysmon"),
        e(7, 2, "2026-01-01T10:00:01.000Z", {"UtcTime": "2026-01-01 10:00:01.000",
          "ProcessGuid": GUID, "ProcessId": "4242", "Image": "C:\\Temp\\evil.exe",
          "ImageLoaded": "C:\\Temp\\payload.dll", "Signed": "false", "Signature": "-",
          "SignatureStatus": "Unavailable"},
          channel=SYSMON, provider="Microsoft-Windows-Sysmon"),
        e(7, 3, "2026-01-01T10:00:01.500Z", {"UtcTime": "2026-01-01 10:00:01.500",
          "ProcessGuid": GUID, "ProcessId": "4242", "Image": "C:\\Temp\\evil.exe",
          "ImageLoaded": "C:\\Windows\\System32\\ntdll.dll", "Signed": "true",
          "Signature": "Microsoft Windows", "SignatureStatus": "Valid"},
          channel=SYSMON, provider="Microsoft-Windows-Sysmon"),
    ]
    engine = open_engine(f"sqlite:///{tmp_path / 'case.db'}")
    Ingestor(engine).run([str(xml_log("ws1-sysmon.xml", events))])
    return engine


def _loads(engine) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return sorted(conn.execute(select(Activity.path, Activity.detail)
                                   .where(Activity.kind == "image_load")).all())


def test_image_loads_are_stored_not_attached_by_default(xml_log, tmp_path: Path) -> None:
    engine = _case(xml_log, tmp_path)
    correlate(engine)
    assert _loads(engine) == []
    (row,) = [k for k in activity_counts(engine) if k.kind == "image_load"]
    assert row.events == 2 and row.attached == 0 and "image_loads = true" in row.note


def test_image_loads_attached_when_asked(xml_log, tmp_path: Path) -> None:
    engine = _case(xml_log, tmp_path)
    report = correlate(engine, image_loads=True)
    assert report.processes == 2  # evil.exe and a placeholder for its parent, PID 4
    assert _loads(engine) == [
        ("C:\\Temp\\payload.dll", "unsigned Unavailable"),
        ("C:\\Windows\\System32\\ntdll.dll", "signed Microsoft Windows")]
    (row,) = [k for k in activity_counts(engine) if k.kind == "image_load"]
    assert (row.events, row.attached, row.note) == (2, 2, "")


def test_the_setting_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[track]\nimage_loads = true\n", encoding="utf-8")
    assert load_config(good).image_loads is True
    assert Config().image_loads is False
    bad = tmp_path / "bad.toml"
    bad.write_text('[track]\nimage_loads = "yes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml: \[track\] image_loads = 'yes'"):
        load_config(bad)
