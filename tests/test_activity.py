"""What a process did, attached to its lifetime (issue 18), on real OTRF logs: Sysmon 10
on both ends with the access mask named, Sysmon 11 on the process that wrote the file,
registry paths found by ``file=``, Security 4663 by PID and image, counts of attached and
unplaced per kind; the detail screen's section at 80x24; the masks and fields themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from proctrail.store.correlate.access import access_list, direction, process_rights, protocol
from proctrail.store.correlate.extract import extract
from proctrail.store.models import Activity, Process
from proctrail.store.queries import activity, browse, timeline
from proctrail.store.queries.filters import FilterError, parse_filter, split_search

DUMPERT = "cmd_lsass_memory_dumpert_syscalls.zip"  # 118 records: Outflank-Dumpert reads lsass
TASKMGR = "rdp_interactive_taskmanager_lsass_dump.zip"  # taskmgr, conhost, a Run key


def _processes(engine: Engine, image_end: str) -> set[int]:
    with engine.connect() as conn:
        return {pid for pid, image in conn.execute(select(Process.id, Process.image))
                if image.lower().endswith(image_end)}


def _process(engine: Engine, image_end: str) -> int:
    ids = _processes(engine, image_end)
    assert len(ids) == 1, ids
    return ids.pop()


def test_masks_protocols_and_directions_are_named() -> None:
    assert process_rights("0x1010") == \
        "0x1010 PROCESS_VM_READ | PROCESS_QUERY_LIMITED_INFORMATION"
    assert process_rights("0x1fffff") == "0x1fffff PROCESS_ALL_ACCESS"
    assert process_rights("0x40000000") == "0x40000000 0x40000000"
    assert process_rights("junk") == "junk"
    assert access_list("0x10", "%%4484\n\t\t") == "0x10 VmRead"
    assert (protocol("6"), protocol("udp"), direction("%%14593"), direction("true")) == \
        ("tcp", "udp", "out", "out")


def test_each_kind_reads_its_fields() -> None:
    e = extract(1, 1, "Microsoft-Windows-Sysmon/Operational", 3, 1, 10, "network_connect", {
        "ProcessGuid": "{1}", "ProcessId": "42", "Image": "C:\\x.exe", "Initiated": "true",
        "Protocol": "tcp", "SourceIp": "10.0.0.5", "SourcePort": "50000",
        "DestinationIp": "203.0.113.7", "DestinationPort": "443",
        "DestinationHostname": "evil.example"})
    assert e.act.direction == "out" and e.act.dst_addr == "203.0.113.7"  # type: ignore[union-attr]
    assert (e.act.dst_port, e.act.hostname) == (443, "evil.example")  # type: ignore[union-attr]
    e = extract(1, 1, "Security", 5156, 1, 10, "wfp_connect", {
        "ProcessID": "3428", "Application": "\\device\\harddiskvolume2\\windows\\a.exe",
        "Direction": "%%14593", "Protocol": "6", "DestAddress": "168.63.129.16",
        "DestPort": "80"})
    assert (e.pid, e.image, e.act.protocol) == (3428, "a.exe", "tcp")  # type: ignore[union-attr]
    e = extract(1, 1, "Microsoft-Windows-Sysmon/Operational", 10, 1, 10, "process_access", {
        "SourceProcessGUID": "{39e4a257-004e-5f8d-4304-000000000700}", "SourceProcessId": "1",
        "TargetProcessGUID": "{39e4a257-f131-5f8b-0c00-000000000700}", "TargetProcessId": "2",
        "TargetImage": "C:\\windows\\system32\\lsass.exe", "GrantedAccess": "0x1010"})
    assert (e.pid, e.target_pid, e.target_image.endswith("lsass.exe")) == (1, 2, True)  # type: ignore[union-attr]
    assert e.act.access.endswith("PROCESS_VM_READ | PROCESS_QUERY_LIMITED_INFORMATION")  # type: ignore[union-attr]


def test_filter_words_for_what_processes_did() -> None:
    flt = parse_filter("dest=evil.example port=443 file=*\\Run\\*")
    assert (flt.dest, flt.port, flt.file) == ("evil.example", 443, "*\\Run\\*")
    assert flt.describe() == "dest=evil.example port=443 file=*\\Run\\*"
    text, flt = split_search("powershell dest=203.0.113.*")
    assert text == "powershell" and flt.dest == "203.0.113.*"
    with pytest.raises(FilterError):
        parse_filter("port=https")


def test_lsass_read_by_dumpert_attaches_with_its_mask(samples: Path, case_of) -> None:
    """Outflank-Dumpert (started in the log) opens lsass with PROCESS_ALL_ACCESS and writes
    C:\\Windows\\Temp\\dumpert.dmp; Security 4663 says it read lsass's memory. lsass started
    before the log: a placeholder, holding the other end. cmd, its console host and csrss
    open Dumpert as it is made (a few milliseconds before its start record): on it too."""
    engine = case_of(samples / "otrf" / DUMPERT)
    dumpert = _process(engine, "outflank-dumpert.exe")
    lsass = _process(engine, "lsass.exe")
    rows, total = activity.process_activity(engine, dumpert)
    assert total == len(rows) == 9
    access = [r for r in rows if r.kind == "process_access" and r.direction == "out"]
    assert len(access) == 2 and all(r.stands_out for r in access)
    assert access[0].access == "0x1fffff PROCESS_ALL_ACCESS"
    assert access[0].detail == "to C:\\windows\\system32\\lsass.exe"
    assert access[0].target_process_id == lsass  # a placeholder: it started before the log
    assert sorted(r.detail.rsplit("\\", 1)[-1] for r in rows
                  if r.kind == "process_access" and r.direction == "in") \
        == ["cmd.exe", "conhost.exe", "csrss.exe"]
    assert [r.path for r in rows if r.kind == "file_create"] == ["C:\\Windows\\Temp\\dumpert.dmp"]
    objects = [r for r in rows if r.kind == "object_access"]
    assert {r.access for r in objects} == {"0x10 VmRead", "0x1 QueryValue"}
    # The dump file and the object find the dumper; in time order, printable.
    assert [r.id for r in browse.search(engine, "", parse_filter("file=*\\dumpert.dmp"))] \
        == [dumpert]
    assert [r.ts_us for r in rows] == sorted(r.ts_us for r in rows)  # type: ignore[type-var]
    counts = {c.kind: c for c in activity.activity_counts(engine)}
    pa = counts["process_access"]
    # Every target is a lifetime now (43 were unplaced before placeholders for targets);
    # cmd and conhost, placeholders as targets first, are found as doers after (2 -> 4).
    assert (pa.events, pa.attached, pa.unplaced, pa.targets, pa.targets_unplaced) == \
        (44, 4, 40, 44, 0)
    assert (counts["file_create"].attached, counts["file_create"].unplaced) == (1, 1)
    assert counts["image_load"].attached == 0 and counts["image_load"].events == 21
    for c in counts.values():  # nothing dropped silently
        if c.kind != "image_load":
            assert c.attached + c.unplaced == c.events, c


def test_both_ends_registry_and_timeline(samples: Path, case_of) -> None:
    """taskmgr (started in the log) opens conhost (started too): one record, a row on each
    end naming the other; a StartupApproved Run key is found by ``file=*\\Run*``."""
    engine = case_of(samples / "otrf" / TASKMGR)
    with engine.connect() as conn:
        pairs = conn.execute(
            select(Activity.process_id, Activity.target_process_id, Activity.event_pk,
                   Activity.direction)
            .where(Activity.kind == "process_access", Activity.target_process_id.is_not(None))
        ).all()
    outs = {(p, t, e) for p, t, e, d in pairs if d == "out"}
    ins = {(t, p, e) for p, t, e, d in pairs if d == "in"}
    assert outs and outs == ins  # each attached end names the other, both ways
    found = {r.id for r in browse.search(engine, "", parse_filter("file=*\\Run*"))}
    taskmgr = found & _processes(engine, "taskmgr.exe")
    assert len(taskmgr) == 1
    rows, _ = activity.process_activity(engine, taskmgr.pop(), limit=5000)
    assert any(r.kind.startswith("registry") and r.path.endswith("\\StartupApproved\\Run")
               for r in rows)
    lines = [r for r in timeline.timeline(engine) if r["timestamp_desc"].startswith("Activity")]
    assert lines and all(r["process_id"] is not None and r["kind"] for r in lines)
    assert [r["timestamp"] for r in lines] == sorted(r["timestamp"] for r in lines)


async def test_detail_shows_what_it_did_at_80x24(samples: Path, tmp_path: Path) -> None:
    from proctrail.app.screens.detail import DetailScreen
    from proctrail.app.tui import ProctrailApp
    from proctrail.store.db import open_engine
    from tests.test_tui import otrf_case, screen_text, settle

    url = otrf_case(samples, tmp_path, DUMPERT)
    engine = open_engine(url)
    dumpert = _process(engine, "outflank-dumpert.exe")
    app = ProctrailApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(DetailScreen(dumpert))
        await settle(pilot)
        app.screen.query_one("#activity").scroll_visible(animate=False, top=True)
        await settle(pilot)
        shown = screen_text(app)
        assert "What it did (9)" in shown
        assert "PROCESS_ALL_ACCESS" in shown and "dumpert.dmp" in shown


PROCESS_COLUMNS = [  # export processes: the columns before issue 18's counts, in order
    "id", "host", "pid", "process_guid", "image", "command_line", "cwd", "hashes",
    "integrity", "user", "creator_user", "end_user", "logon_id", "session_id", "start",
    "end", "duration_s", "exit_status", "parent_id", "parent_pid", "parent_image", "flags",
    "token_changes", "sources"]
COUNT_COLUMNS = ["activity", "connections", "dns", "files_written", "files_deleted",
                 "registry", "process_access", "scripts", "credentials"]


def test_export_counts_what_each_process_did(samples: Path, case_of, tmp_path: Path) -> None:
    """Dumpert's record: 6 things done (2 opens of lsass, its dump file, 3 object
    accesses); lsass's opener listed once, reading its memory; the CSV sorts by number."""
    import csv

    from proctrail.app.cli import main
    from proctrail.store.queries import export_processes

    engine = case_of(samples / "otrf" / DUMPERT)
    records = list(export_processes(engine))
    assert all(list(r) == PROCESS_COLUMNS + COUNT_COLUMNS for r in records)
    (dumpert,) = [r for r in records if r["image"].endswith("Outflank-Dumpert.exe")]
    assert {c: dumpert[c] for c in COUNT_COLUMNS} == {
        "activity": 6, "connections": 0, "dns": 0, "files_written": 1, "files_deleted": 0,
        "registry": 0, "process_access": 2, "scripts": 0, "credentials": 0}
    attached = sum(c.attached for c in activity.activity_counts(engine))
    assert sum(r["activity"] for r in records) == attached  # every record it did, once
    assert [r["pid"] for r in export_processes(engine, host="workstation5")
            if r["activity"]] == [r["pid"] for r in records if r["activity"]]
    (lsass,) = activity.lsass_access(engine)
    assert (lsass["process_id"], lsass["pid"], lsass["count"], lsass["masks"],
            lsass["memory"]) == (dumpert["id"], 6772, 2, ["0x1fffff"], True)
    out = tmp_path / "p.csv"
    url = engine.url.render_as_string(hide_password=False)
    assert main(["export", "processes", "--db", url, "--format", "csv", "--out",
                 str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == PROCESS_COLUMNS + COUNT_COLUMNS
    assert max(rows, key=lambda r: int(r["activity"]))["pid"] == "6772"


def test_demo_counts_and_no_lsass(demo_case) -> None:
    """The demo: PowerShell's download (a lookup, a connection), the implant's
    connection back, mstsc's explicit credentials (4648) for WS02; nothing opens lsass."""
    from proctrail.store.queries import export_processes

    did = [r for r in export_processes(demo_case) if r["activity"]]
    assert sorted((r["image"].rsplit("\\", 1)[-1], r["activity"], r["connections"], r["dns"],
                   r["credentials"]) for r in did) == [
        ("mstsc.exe", 1, 0, 0, 1), ("powershell.exe", 2, 1, 1, 0), ("updater.exe", 1, 1, 0, 0)]
    assert activity.lsass_access(demo_case) == []
