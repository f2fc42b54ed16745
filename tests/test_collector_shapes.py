"""The ``collectors`` scenario (issue 13): its logs really have the shapes real collectors
write, in every format, and they correlate to exactly the truth the issue 13 rules state
(see :mod:`proctrail.generate.truth`)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from evtx import PyEvtxParser
from sqlalchemy import func, select

from proctrail.generate.scenarios import write_collectors
from proctrail.generate.truth import ZERO_GUID, diff_lifetimes
from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Channel, EventRow, Host
from proctrail.store.queries import export_processes, export_sessions
from proctrail.store.queries.browse import anomaly_rows

NO_DIFFERENCE = {"missing": [], "extra": [], "different": []}
NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
PLANTED = ("record_gap", "clock_jump", "log_cleared", "clock_changed", "time_offset",
           "unplaced_event")  # truth's anomaly kinds


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gen") / "collectors"
    write_collectors(out, formats=("evtx", "xml", "jsonl"))
    return out, json.loads(out.with_name("collectors.truth.json").read_text())


def _us(text: str) -> int:
    when = datetime.fromisoformat(text.rstrip("Z")[:26]).replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def xml_events(path: Path) -> list[dict[str, Any]]:
    """A generated XML export's events: ``id``, ``time`` (header, µs), ``rid``,
    ``computer`` and the named ``data``."""
    out = []
    for event in ET.parse(path).getroot():
        system = event.find(f"{NS}System")
        out.append({
            "id": int(system.findtext(f"{NS}EventID")),
            "time": _us(system.find(f"{NS}TimeCreated").get("SystemTime")),
            "rid": int(system.findtext(f"{NS}EventRecordID")),
            "computer": system.findtext(f"{NS}Computer"),
            "data": {d.get("Name"): d.text or "" for d in event.find(f"{NS}EventData")}})
    return out


def test_the_logs_have_the_collector_shapes(scenario: tuple[Path, dict[str, Any]]) -> None:
    out, truth = scenario
    # 1. Older NXLog overwrote Sysmon's ProcessId: the field is absent, the rest is there.
    fs01 = xml_events(out / "fs01-Sysmon.xml")
    pidless = [e for e in fs01 if e["id"] in (1, 5) and "ProcessId" not in e["data"]]
    starts = [e for e in fs01 if e["id"] == 1]
    assert 0.1 < len(pidless) / len([e for e in fs01 if e["id"] in (1, 5)]) < 0.35
    assert any(e["id"] == 1 for e in pidless)
    for e in pidless:
        assert e["data"]["ProcessGuid"] and e["data"]["Image"]
        if e["id"] == 1:
            assert e["data"]["ParentProcessGuid"] and e["data"]["ParentProcessId"]
    rows = [orjson.loads(line) for line in (out / "fs01-Sysmon.jsonl").open("rb")]
    old = [r for r in rows if r["EventID"] in (1, 5) and "ProcessId" not in r]
    assert len(old) == len(pidless)
    assert all("ProcessID" in r and "ExecutionProcessID" not in r
               and r["SourceModuleType"] == "im_msvistalog" for r in old)
    assert all("ExecutionProcessID" in r for r in rows if r not in old)
    evtx = [orjson.loads(r["data"])["Event"] for r in
            PyEvtxParser(str(out / "fs01-Sysmon.evtx")).records_json()]
    assert sum(e["System"]["EventID"] in (1, 5) and "ProcessId" not in e["EventData"]
               for e in evtx) == len(pidless)
    assert sum(lt["pid"] is None for lt in truth["lifetimes"]) >= 2
    by_guid = {e["data"]["ProcessGuid"]: e for e in starts}
    learnt = [e for e in pidless if e["id"] == 1 and any(
        c["data"]["ParentProcessGuid"] == e["data"]["ProcessGuid"] for c in starts)]
    assert learnt and all(e["data"]["ProcessGuid"] in by_guid for e in learnt)

    # 2. Sysmon's header lags UtcTime by seconds; the 4688 of the same process is on time.
    for host in ("app01", "ws03"):
        sysmon = [e for e in xml_events(out / f"{host}-Sysmon.xml") if e["id"] == 1]
        lags = [e["time"] - _us(e["data"]["UtcTime"]) for e in sysmon]
        late = [e for e, lag in zip(sysmon, lags, strict=True) if lag >= 3_000_000]
        assert len(late) >= 2 and max(lags) <= 25_500_000, host
        created = defaultdict(list)  # PID -> 4688 header times
        for e in xml_events(out / f"{host}-Security.xml"):
            if e["id"] == 4688:
                created[int(e["data"]["NewProcessId"], 16)].append(e["time"])
        for e in late:
            utc = _us(e["data"]["UtcTime"])
            assert any(0 <= t - utc < 10_000 for t in created[int(e["data"]["ProcessId"])])

    # 3. One machine, two spellings; two machines, one first label.
    for fmt in ("xml", "jsonl", "evtx"):
        code = "utf-16-le" if fmt == "evtx" else "utf-8"
        security, sysmon = (out / f"ws02-Security.{fmt}").read_bytes(), \
            (out / f"ws02-Sysmon.{fmt}").read_bytes()
        assert "WS02".encode(code) in security
        assert "ws02.corp.example".encode(code) not in security.lower()
        assert "ws02.corp.example".encode(code) in sysmon
    assert {e["computer"] for e in xml_events(out / "ws02-Security.xml")} == {"WS02"}
    assert {e["computer"] for e in xml_events(out / "ws02-Sysmon.xml")} == {"ws02.corp.example"}
    assert truth["host_spellings"] == {"ws02.corp.example": ["WS02", "ws02.corp.example"]}
    # Records lost minutes apart are one record_gap; one lost an hour later is another.
    rids = [e["rid"] for e in xml_events(out / "ws02-Security.xml")]
    assert sum(b > a + 1 for a, b in pairwise(rids)) >= 4
    assert {"host": "ws02.corp.example", "kind": "record_gap", "count": 2} in truth["anomalies"]
    assert {"db01.corp.example", "db01.lab.example"} <= set(truth["hosts"])

    # 4. WMI runs cmd.exe in mallory's network logon: Subject SYSTEM, Target her logon.
    security = xml_events(out / "srv01-Security.xml")
    (logon,) = [e for e in security if e["id"] == 4624
                and e["data"]["TargetLogonId"] == "0x5a3f21"]
    assert logon["data"]["LogonType"] == "3"
    runs = [e for e in security if e["id"] == 4688 and e["data"]["TargetLogonId"] == "0x5a3f21"]
    assert len(runs) == 2 and all(
        e["data"]["SubjectLogonId"] == "0x3e7" and e["data"]["SubjectUserName"] == "SRV01$"
        and e["data"]["TargetUserName"] == "mallory" and e["data"]["NewProcessName"].endswith(
            "cmd.exe") and e["data"]["ParentProcessName"].endswith("WmiPrvSE.exe") for e in runs)
    sysmon = {e["data"]["ProcessId"]: e for e in xml_events(out / "srv01-Sysmon.xml")
              if e["id"] == 1}
    with_sysmon = [e for e in runs if str(int(e["data"]["NewProcessId"], 16)) in sysmon]
    assert len(with_sysmon) == 1  # the other one's Sysmon 1 is lost: a record gap
    assert sysmon[str(int(with_sysmon[0]["data"]["NewProcessId"], 16))]["data"]["LogonId"] \
        == "0x5a3f21"

    # 5. 4672 written a few microseconds before its 4624.
    (privileges,) = [e for e in security if e["id"] == 4672
                     and e["data"]["SubjectLogonId"] == "0x5a3f21"]
    assert 0 < logon["time"] - privileges["time"] < 100 and privileges["rid"] < logon["rid"]

    # 6. A boot: 4608, processes of the old boot never end, their PID a parent PID after it;
    # an all-zero ParentProcessGuid with ParentProcessId 4.
    security = xml_events(out / "ws03-Security.xml")
    (boot,) = [e for e in security if e["id"] == 4608]
    ended = {e["data"]["ProcessId"] for e in security
             if e["id"] == 4689 and e["time"] < boot["time"]}
    unended = {e["data"]["NewProcessId"] for e in security if e["id"] == 4688
               and e["time"] < boot["time"] and e["data"]["NewProcessId"] not in ended}
    after = [e for e in security if e["id"] == 4688 and e["time"] > boot["time"]]
    assert any(e["data"]["ProcessId"] in unended for e in after)  # an old PID as parent PID
    assert any(e["data"]["NewProcessId"] in unended for e in after)  # an old PID reused
    zero = [e for e in xml_events(out / "ws03-Sysmon.xml") if e["id"] == 1
            and e["data"]["ParentProcessGuid"] == ZERO_GUID]
    assert any(e["data"]["ParentProcessId"] == "4" and _us(e["data"]["UtcTime"]) > boot["time"]
               for e in zero)

    # 7. An export (the OTRF datasets' shape): Security and Sysmon of ws04 in one file, flat,
    # no record numbers, local time marked Z: 7 h behind, then 19 h (the PM lost).
    assert not list(out.glob("ws04-*[ly].jsonl"))  # no per-channel JSON lines
    rows = [orjson.loads(line) for line in (out / "ws04-export.jsonl").open("rb")]
    assert [r["Channel"] for r in rows[:6]] != sorted(r["Channel"] for r in rows[:6])
    assert {r["Channel"] for r in rows} == {"Security", "Microsoft-Windows-Sysmon/Operational"}
    assert all("RecordNumber" not in r and r["TimeCreated"] == r["@timestamp"]
               and r["TimeCreated"].endswith("Z") and len(r["TimeCreated"]) == 24
               and r["Hostname"] == "ws04.corp.example" and isinstance(r["EventID"], int)
               and "Message" in r for r in rows)
    utc = {(int(r["ProcessId"]), r["Image"].lower()): _us(r["UtcTime"]) for r in rows
           if r["EventID"] == 1}
    behind = [round((utc[(int(r["NewProcessId"], 16), r["NewProcessName"].lower())]
                     - _us(r["TimeCreated"])) / 3_600_000_000) for r in rows
              if r["EventID"] == 4688]
    half = behind.index(19)
    assert behind == [7] * half + [19] * (len(behind) - half) and half >= 10 \
        and len(behind) - half >= 10
    security = [r for r in rows if r["Channel"] == "Security"]
    (back,) = [b for a, b in pairwise(security)
               if _us(b["TimeCreated"]) < _us(a["TimeCreated"])]  # the 12 hours lost
    assert back["EventID"] == 4688 and \
        (int(back["NewProcessId"], 16), back["NewProcessName"].lower()) in utc
    assert sum(r["EventID"] in (4689, 5) for r in rows) >= 40
    for e in xml_events(out / "ws04-Security.xml"):  # the machine's own log: UTC
        if e["id"] == 4688:
            key = (int(e["data"]["NewProcessId"], 16), e["data"]["NewProcessName"].lower())
            assert 0 <= e["time"] - utc[key] < 10_000
    jsonl = truth["by_format"]["jsonl"]["anomalies"]
    assert {"host": "ws04.corp.example", "kind": "time_offset", "count": 1} in jsonl
    assert not any(a["host"] == "ws04.corp.example" for a in truth["anomalies"])

    # 8. 4689s through the older NXLog: its ProcessID (4) overwrote their ProcessId in its
    # JSON rows; EVTX and XML hold them whole.
    rows = [orjson.loads(line) for line in (out / "fs01-Security.jsonl").open("rb")]
    overwritten = [r for r in rows if r["EventID"] == 4689 and "ProcessId" not in r]
    assert len(overwritten) == 3 and all(
        r["ProcessID"] == 4 and "ExecutionProcessID" not in r for r in overwritten)
    assert all("ExecutionProcessID" in r for r in rows if r not in overwritten)
    by_rid = {e["rid"]: e for e in xml_events(out / "fs01-Security.xml")}
    assert all(by_rid[r["RecordNumber"]]["data"]["ProcessId"].startswith("0x")
               and by_rid[r["RecordNumber"]]["data"]["ProcessName"] == r["ProcessName"]
               for r in overwritten)
    assert {"host": "fs01.corp.example", "kind": "unplaced_event", "count": 3} in jsonl
    ends = {lt["key"]: lt["end"] for lt in truth["lifetimes"]}
    never = [lt for lt in truth["by_format"]["jsonl"]["lifetimes"]
             if lt["host"] == "fs01.corp.example" and lt["end"] is None and ends[lt["key"]]]
    # Its end unplaced or lost, nothing placed tells it from a process still running when
    # the log ends: after_log (what the records show; it did end, at 09:31:38).
    assert len(never) == 1 and never[0]["image"].endswith("whoami.exe") \
        and never[0]["flags"] == ["after_log"]

    # 9. A slice of long logs (NXLog's export of 13:00-15:00, the OTRF datasets' shape): the
    # files begin far into the log and are whole from there; they open with ends of
    # processes started before and close with processes still running.
    for channel, first in (("Security", 48_000), ("Sysmon", 212_417)):
        base = out / f"ws05-{channel}"
        rids = {"xml": [e["rid"] for e in xml_events(base.with_suffix(".xml"))],
                "jsonl": [orjson.loads(line)["RecordNumber"]
                          for line in base.with_suffix(".jsonl").open("rb")],
                "evtx": [r["event_record_id"]
                         for r in PyEvtxParser(str(base.with_suffix(".evtx"))).records()]}
        for fmt, numbers in rids.items():
            assert numbers == list(range(first, first + len(numbers))), (channel, fmt)
            assert len(numbers) >= 30, (channel, fmt)
        events = xml_events(base.with_suffix(".xml"))
        ends = 4689 if channel == "Security" else 5
        assert [e["id"] for e in events[:3]] == [ends] * 3, channel  # ended after 13:00
        assert _us("2026-11-03T13:00:00") <= events[0]["time"] < _us("2026-11-03T13:01:00")
        assert events[-1]["time"] < _us("2026-11-03T15:00:00")
        started = {e["data"]["NewProcessId" if ends == 4689 else "ProcessId"]
                   for e in events if e["id"] in (1, 4688)}
        assert all(e["data"]["ProcessId"] not in started for e in events[:3])
    slice_truth = [truth, *truth["by_format"].values()]
    for doc in slice_truth:
        assert not any(a["host"] == "ws05.corp.example" for a in doc.get("anomalies", []))
    ws05 = [lt for lt in truth["lifetimes"] if lt["host"] == "ws05.corp.example"]
    flags = Counter(f for lt in ws05 for f in lt["flags"])
    assert (flags["before_log"], flags["after_log"], flags["start_missing"],
            flags["end_missing"]) == (5, 5, 0, 0)
    assert sorted(lt["image"].rsplit("\\", 1)[-1] for lt in ws05
                  if lt["flags"] == ["before_log"]) == ["MpCmdRun.exe", "PING.EXE", "cmd.exe"]
    assert sorted(lt["image"].rsplit("\\", 1)[-1] for lt in ws05
                  if lt["flags"] == ["after_log"]) == ["Robocopy.exe", "chrome.exe", "cmd.exe"]
    assert sorted(lt["image"].rsplit("\\", 1)[-1] for lt in ws05
                  if lt["flags"] == ["after_log", "before_log", "placeholder"]) == [
        "explorer.exe", "svchost.exe"]


def test_collectors_same_seed_same_bytes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_collectors(tmp_path / name, formats=("evtx", "xml", "jsonl"))
    for a in sorted((tmp_path / "a").iterdir()):
        assert a.read_bytes() == (tmp_path / "b" / a.name).read_bytes(), a.name
    assert (tmp_path / "a.truth.json").read_bytes() == (tmp_path / "b.truth.json").read_bytes()


def load(url: str, files: list[Path]):
    engine = open_engine(url)
    report = Ingestor(engine).run([str(f) for f in files])
    assert report.clean, [(s.name, s.error, dict(s.skipped)) for s in report.sources]
    correlate(engine)
    return engine


@pytest.mark.parametrize("fmt", ["evtx", "xml", "jsonl"])
def test_collectors_correlate_to_their_truth_in_every_format(
        scenario: tuple[Path, dict[str, Any]], db_url: str, fmt: str) -> None:
    out, base = scenario
    truth = {**base, **base.get("by_format", {}).get(fmt, {})}  # where its shapes differ
    engine = load(db_url, [p for p in out.iterdir() if p.suffix == f".{fmt}"])
    exported = list(export_processes(engine))
    # One machine logged as WS02 and ws02.corp.example; db01 of two domains are two.
    hosts = {p["host"] for p in exported}
    assert {h for h in hosts if h.lower().split(".")[0] == "ws02"} == {"ws02.corp.example"}
    assert {h for h in hosts if h.lower().split(".")[0] == "db01"} == {
        "db01.corp.example", "db01.lab.example"}
    assert hosts == set(truth["hosts"])
    assert diff_lifetimes(exported, truth["lifetimes"]) == NO_DIFFERENCE
    assert len(exported) == len(truth["lifetimes"])
    sessions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in export_sessions(engine):
        sessions[(s["host"], s["logon_id"])].append(s)
    compared = ("user", "logon_type", "source_ip", "elevated")
    for want in truth["sessions"]:
        got = sessions[(want["host"], want["logon_id"])]
        assert [{k: s[k] for k in compared} for s in got] == [{k: want[k] for k in compared}], \
            (want["host"], want["logon_id"])
    found = Counter((a["host"], a["kind"]) for a in anomaly_rows(engine) if a["kind"] in PLANTED)
    assert found == Counter({(a["host"], a["kind"]): a["count"] for a in truth["anomalies"]})

    # ws05's slice (NXLog's export of 13:00-15:00): its processes at the edges are before_log
    # and after_log as the truth states, its first record is no gap, none is in it, nothing
    # is unplaced; its events keep the record numbers written.
    slice_truth = [lt for lt in truth["lifetimes"] if lt["host"] == "ws05.corp.example"]
    slice_got = [p for p in exported if p["host"] == "ws05.corp.example"]
    assert diff_lifetimes(slice_got, slice_truth) == NO_DIFFERENCE
    for flag in ("before_log", "after_log", "start_missing"):
        assert sum(flag in p["flags"] for p in slice_got) == \
            sum(flag in lt["flags"] for lt in slice_truth), flag
    assert sum("before_log" in p["flags"] for p in slice_got) == 5
    assert sum("after_log" in p["flags"] for p in slice_got) == 5
    assert not [a for a in anomaly_rows(engine) if a["host"] == "ws05.corp.example"]
    assert not [a for a in anomaly_rows(engine, "record_gap")
                if a["host"] == "ws05.corp.example" and a["channel"] == "Security"]
    with engine.connect() as conn:
        numbers = {r[0]: tuple(r[1:]) for r in conn.execute(
            select(Channel.name, func.min(EventRow.record_id), func.max(EventRow.record_id),
                   func.count()).join(Host, Host.id == EventRow.host_id)
            .join(Channel, Channel.id == EventRow.channel_id)
            .where(Host.name == "ws05.corp.example").group_by(Channel.name))}
    files = base["files"]
    for channel, stem, first in (("Security", "Security", 48_000),
                                 ("Microsoft-Windows-Sysmon/Operational", "Sysmon", 212_417)):
        written = sum(files[f"ws05-{stem}.{fmt}"].values())
        assert numbers[channel] == (first, first + written - 1, written), channel
