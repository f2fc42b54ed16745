"""Streaming correlation: clock jumps, token changes, sessions at a process's start, Linux
sessions, and memory bounded by what is open."""

from __future__ import annotations

from pathlib import Path

from proctrail.store.correlate import correlate
from proctrail.store.correlate.clock import clock_fixes
from proctrail.store.correlate.extract import SECURITY, SYSMON, ProcEvent
from proctrail.store.correlate.lifetimes import HostLifetimes, build_lifetimes
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_processes, export_sessions

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"


def load(db_url: str, *paths: Path):
    engine = open_engine(db_url)
    Ingestor(engine).run([str(p) for p in paths])
    return engine


def test_clock_fixes_follow_record_order_and_give_the_shift_back() -> None:
    t = 1_000 * S
    rows = [(1, 1, 1, 1, t), (1, 1, 1, 2, t + 5 * S),
            (1, 1, 1, 3, t - 3600 * S),  # clock set back an hour
            (1, 1, 1, 4, t - 3590 * S),
            (1, 1, 1, 5, t + 20 * S),  # and put right again
            (1, 1, 1, 6, t + 21 * S),
            (1, 2, 1, 1, t - 3600 * S)]  # another channel starts afresh
    fixes, found = clock_fixes(rows)
    order = [fixes.order_us((h, c, s), r, ts) for h, c, s, r, ts in rows]
    assert order[:4] == [t, t + 5 * S, t + 5 * S, t + 15 * S]
    assert order == [*sorted(order[:6]), t - 3600 * S]  # channel 1 in record order
    assert order[4] == t + 3625 * S  # no logged change: a step forward may be a quiet hour
    # A logged change back (4616: -1h, then +1h) is the shift used, and given back.
    logged, _ = clock_fixes(rows, {1: [-3605 * S, 3605 * S]})
    order = [logged.order_us((h, c, s), r, ts) for h, c, s, r, ts in rows]
    assert order[2] == t + 5 * S and order[3] == t + 15 * S
    assert order[4] == t + 20 * S and order[5] - order[4] == S  # put right: no shift
    assert [(f.kind, f.start_us, f.end_us) for f in found] == [
        ("clock_jump", t - 3600 * S, t + 5 * S)]
    assert "1h" in found[0].detail and "record 3" in found[0].detail
    # Jitter of a few seconds is write order, not a clock change.
    assert clock_fixes([(1, 1, 1, 1, t), (1, 1, 1, 2, t - 2 * S)]) [1] == []


def test_a_clock_set_back_mid_process_does_not_split_it(db_url: str, xml_log) -> None:
    ev = xml_log.event
    security = xml_log("sec.xml", [
        ev(4688, 10, "2024-05-01T10:00:00Z", {
            "NewProcessId": "0x100", "NewProcessName": r"C:\w\cmd.exe", "ProcessId": "0x4",
            "SubjectUserName": "bob", "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e7"}),
        ev(4616, 11, "2024-05-01T08:00:00Z", {
            "PreviousTime": "2024-05-01T10:00:01Z", "NewTime": "2024-05-01T08:00:00Z"}),
        ev(4689, 12, "2024-05-01T08:00:09Z", {
            "ProcessId": "0x100", "ProcessName": r"C:\w\cmd.exe", "Status": "0x0"}),
        ev(4688, 13, "2024-05-01T08:00:10Z", {
            "NewProcessId": "0x104", "NewProcessName": r"C:\w\ping.exe", "ProcessId": "0x4"}),
    ])
    sysmon = xml_log("sysmon.xml", [
        ev(1, 7, "2024-05-01T10:00:00.2Z", {
            "ProcessId": "256", "Image": r"C:\w\cmd.exe", "ProcessGuid": "{a}",
            "ParentProcessId": "4"}, channel=SYSMON_CHANNEL,
           provider="Microsoft-Windows-Sysmon"),
        ev(5, 8, "2024-05-01T08:00:09.1Z", {
            "ProcessId": "256", "Image": r"C:\w\cmd.exe", "ProcessGuid": "{a}"},
           channel=SYSMON_CHANNEL, provider="Microsoft-Windows-Sysmon"),
    ])
    engine = load(db_url, security, sysmon)
    report = correlate(engine)
    # The 4616, and the step back as each channel's record order shows it.
    assert report.anomalies == {"clock_changed": 1, "clock_jump": 2}
    procs = {p["image"].rsplit("\\", 1)[-1]: p for p in export_processes(engine)}
    cmd = procs["cmd.exe"]
    assert cmd["flags"] == ["clock_jump"]  # one lifetime, not an orphan end and a lost start
    assert cmd["start"] == "2024-05-01T10:00:00.000000Z"
    assert cmd["end"] == "2024-05-01T08:00:09.000000Z"  # times stay as logged
    assert len(cmd["sources"]) == 4  # both starts, both ends
    assert procs["ping.exe"]["flags"] == ["after_log"]  # still running when the log ends
    assert procs["ping.exe"]["parent_id"] == cmd["parent_id"]  # PID 4, alive throughout


def test_token_changes_between_start_and_end(db_url: str, xml_log) -> None:
    ev = xml_log.event
    # Windows 2003: positional data, decimal PIDs.
    legacy = xml_log("w2k3.xml", [
        ev(592, 1, "2024-01-01T09:00:00Z",
           ["1200", r"C:\WINDOWS\system32\cmd.exe", "4", "alice", "CORP", "(0x0,0x5A10)"]),
        ev(600, 2, "2024-01-01T09:00:00Z",
           ["4", r"C:\WINDOWS\system32\services.exe", "SYSTEM", "NT AUTHORITY", "(0x0,0x3E7)",
            "1200", r"C:\WINDOWS\system32\cmd.exe", "admin", "CORP", "(0x0,0x9F00)"]),
        ev(593, 3, "2024-01-01T09:05:00Z",
           ["1200", r"C:\WINDOWS\system32\cmd.exe", "admin", "CORP", "(0x0,0x9F00)"]),
    ], )
    modern = xml_log("w10.xml", [
        ev(4688, 1, "2024-01-01T09:00:00Z", {
            "NewProcessId": "0x200", "NewProcessName": r"C:\w\mmc.exe", "ProcessId": "0x4",
            "SubjectUserName": "bob", "SubjectDomainName": "CORP",
            "SubjectLogonId": "0x3e7"}, host="ws2"),
        ev(4703, 2, "2024-01-01T09:01:00Z", {
            "SubjectUserName": "bob", "SubjectDomainName": "CORP", "TargetUserName": "bob",
            "TargetDomainName": "CORP", "TargetLogonId": "0x3e7", "ProcessName":
            r"C:\w\mmc.exe", "ProcessId": "0x200", "EnabledPrivilegeList":
            "SeDebugPrivilege\n\t\t\tSeBackupPrivilege", "DisabledPrivilegeList": "-"},
           host="ws2"),
    ])
    engine = load(db_url, legacy, modern)
    correlate(engine)
    procs = {p["host"]: p for p in export_processes(engine) if p["pid"] in (1200, 0x200)}
    cmd, mmc = procs["ws1"], procs["ws2"]
    assert (cmd["user"], cmd["end_user"]) == ("CORP\\alice", "CORP\\admin")
    assert [c["user"] for c in cmd["token_changes"]] == ["CORP\\admin"]
    assert cmd["token_changes"][0]["event_id"] == 600
    assert "services.exe" in cmd["token_changes"][0]["detail"]
    assert "token_changed" in cmd["flags"]
    assert {s["role"] for s in cmd["sources"]} == {"start", "end", "token"}
    (change,) = mmc["token_changes"]
    assert change["detail"] == "enabled: SeDebugPrivilege SeBackupPrivilege"
    assert "token_changed" not in mmc["flags"]  # privileges adjusted, same user


def test_a_process_belongs_to_the_session_active_at_its_start(db_url: str, xml_log) -> None:
    ev = xml_log.event

    def logon(rid: int, time: str, user: str) -> str:
        return ev(4624, rid, time, {"TargetUserName": user, "TargetDomainName": "CORP",
                                    "TargetLogonId": "0x77", "LogonType": "10",
                                    "IpAddress": "10.0.0.9"})

    def start(rid: int, time: str, pid: str) -> str:
        return ev(4688, rid, time, {"NewProcessId": pid, "NewProcessName": r"C:\w\a.exe",
                                    "ProcessId": "0x4", "SubjectLogonId": "0x77",
                                    "SubjectUserName": "x", "SubjectDomainName": "CORP"})

    log = xml_log("reuse.xml", [
        logon(1, "2024-02-01T08:00:00Z", "first"), start(2, "2024-02-01T08:01:00Z", "0x10"),
        ev(4634, 3, "2024-02-01T09:00:00Z", {"TargetLogonId": "0x77"}),
        logon(4, "2024-02-03T08:00:00Z", "second"), start(5, "2024-02-03T08:01:00Z", "0x14"),
    ])
    engine = load(db_url, log)
    correlate(engine)
    sessions = {s["id"]: s for s in export_sessions(engine)}
    users = {p["pid"]: sessions[p["session_id"]]["user"] for p in export_processes(engine)
             if p["session_id"]}
    assert users == {0x10: "CORP\\first", 0x14: "CORP\\second"}
    assert [(s["user"], s["process_count"]) for s in sessions.values()] == [
        ("CORP\\first", 1), ("CORP\\second", 1)]


def test_linux_sessions_come_from_pam_and_auid(db_url: str) -> None:
    engine = load(db_url, ROOT / "sample_logs" / "lnx01-audit.log")
    correlate(engine)
    sessions = {s["logon_id"]: s for s in export_sessions(engine)}
    ssh = sessions["900"]
    assert (ssh["user"], ssh["logon_type"], ssh["source_ip"]) == ("alice", "ssh",
                                                                  "203.0.113.50")
    assert ssh["start"] and ssh["end"] and ssh["process_count"] == 7
    assert {s["logon_type"] for s in sessions.values()} == {"ssh", "cron"}


def test_pid_equal_to_its_parent_pid_loses_nothing() -> None:
    lts = build_lifetimes([ProcEvent(1, 1, True, SECURITY, 0, 1, 8, ppid=8, image="a.exe")])
    child, holder = lts
    assert child.parent is holder and child.image == "a.exe"
    assert {"placeholder", "end_missing"} <= holder.flags


def test_memory_is_bounded_by_what_is_open() -> None:
    """100k short processes stream through; only the open and the recent stay held."""
    host = HostLifetimes(1)
    done = peak = 0
    for i in range(100_000):
        t = i * 10_000  # one process every 10 ms, each living 5 ms
        pid = 8 + (i % 5000) * 4
        host.feed(ProcEvent(2 * i, 1, True, SYSMON, t, i, pid, ppid=4, image="x.exe",
                            guid=f"{{{i}}}"))
        host.feed(ProcEvent(2 * i + 1, 1, False, SYSMON, t + 5000, i, pid, image="x.exe",
                            guid=f"{{{i}}}"))
        done += len(host.drain())
        peak = max(peak, len(host.done) + len(host.by_guid) + len(host.open))
    done += len(host.finish())
    assert done == 100_001  # every process, plus the placeholder for PID 4
    assert peak < 6 * 6000 * 2  # about KEEP_US worth of ends (6000), never all 100k
