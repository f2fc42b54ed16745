"""Identity and time as real collectors write them (issue 13), each shape in a hand-written
Windows XML export: no process lost, split or misplaced, and what cannot be placed is
counted, never dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import event_xml

from proctrail.store.correlate import correlate
from proctrail.store.db import open_engine
from proctrail.store.detect.fields import sigma_fields
from proctrail.store.findings import add_finding
from proctrail.store.ingest import Ingestor
from proctrail.store.queries import export_processes, export_sessions, stats
from proctrail.store.queries.browse import anomaly_rows
from proctrail.store.queries.findings import list_findings

T0 = datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)
SYSMON = ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon")
W = "C:\\Windows\\System32\\"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def header(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def utc(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class Log:
    """A host's Security and Sysmon records, written as two XML exports."""

    def __init__(self, host: str = "WS1", sysmon_host: str | None = None) -> None:
        self.host, self.sysmon_host = host, sysmon_host or host
        self.security: list[str] = []
        self.sysmon: list[str] = []

    def sec(self, eid: int, when: float, rid: int | None = None, **data: str) -> None:
        self.security.append(event_xml(eid, rid or len(self.security) + 1, header(at(when)),
                                       data, host=self.host))

    def sys(self, eid: int, when: float, lag: float = 0.0, **data: str) -> None:
        """A Sysmon record at ``when`` whose header time lags it by ``lag`` seconds."""
        data = {"UtcTime": utc(at(when)), **data}
        self.sysmon.append(event_xml(eid, len(self.sysmon) + 1, header(at(when + lag)), data,
                                     channel=SYSMON[0], provider=SYSMON[1],
                                     host=self.sysmon_host))

    def start4688(self, when: float, pid: int, image: str, ppid: int | None,
                  parent: str = "", logon: str = "0x3e7", user: str = "WS1$",
                  sid: str = "S-1-5-18", **extra: str) -> None:
        data = {"SubjectUserSid": sid, "SubjectUserName": user, "SubjectDomainName": "CORP",
                "SubjectLogonId": logon, "NewProcessId": hex(pid), "NewProcessName": image,
                "CommandLine": image.rsplit("\\", 1)[-1], "ParentProcessName": parent}
        if ppid is not None:
            data["ProcessId"] = hex(ppid)
        self.sec(4688, when, **(data | extra))

    def end4689(self, when: float, pid: int, image: str, rid: int | None = None) -> None:
        self.sec(4689, when, rid, SubjectUserSid="S-1-5-18", SubjectUserName="WS1$",
                 SubjectDomainName="CORP", SubjectLogonId="0x3e7", Status="0x0",
                 ProcessId=hex(pid), ProcessName=image)

    def sysmon1(self, when: float, guid: str, image: str, pid: int | None,
                parent_guid: str, ppid: int | None, lag: float = 0.0, **extra: str) -> None:
        data = {"ProcessGuid": guid, "Image": image, "CommandLine": image.rsplit("\\")[-1],
                "User": "NT AUTHORITY\\SYSTEM", "LogonId": "0x3e7",
                "ParentProcessGuid": parent_guid, "ParentImage": extra.pop("parent", "")}
        if pid is not None:
            data["ProcessId"] = str(pid)
        if ppid is not None:
            data["ParentProcessId"] = str(ppid)
        self.sys(1, when, lag, **(data | extra))

    def sysmon5(self, when: float, guid: str, image: str, pid: int | None,
                lag: float = 0.0) -> None:
        data = {"ProcessGuid": guid, "Image": image}
        if pid is not None:
            data["ProcessId"] = str(pid)
        self.sys(5, when, lag, **data)

    def write(self, folder: Path) -> list[Path]:
        out = []
        for name, events in (("Security", self.security), ("Sysmon", self.sysmon)):
            if events:
                path = folder / f"{self.host}-{name}.xml"
                path.write_text("<Events>" + "".join(events) + "</Events>", encoding="utf-8")
                out.append(path)
        return out


def load(url: str, *paths: Path):
    engine = open_engine(url)
    Ingestor(engine).run([str(p) for p in paths])
    report = correlate(engine)
    return engine, report


def procs(engine) -> list[dict[str, Any]]:
    return list(export_processes(engine))


def named(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [p for p in rows if p["image"].lower().endswith(name.lower())]


def g(n: int) -> str:
    return f"{{5770385f-c22a-43e0-bf4c-{n:012x}}}"


ZERO = "{00000000-0000-0000-0000-000000000000}"


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'case.db'}"


def test_sysmon_without_process_id_is_a_process_by_its_guid(tmp_path: Path, url: str) -> None:
    log = Log()
    log.sysmon1(0, g(1), W + "services.exe", 600, ZERO, 500)
    # ProcessId dropped (older NXLog): its PID comes from the 4688 it pairs with...
    log.start4688(10, 0x1f40, W + "cmd.exe", 600, W + "services.exe")
    log.sysmon1(10.004, g(2), W + "cmd.exe", None, g(1), 600, parent=W + "services.exe")
    # ... from a child's ParentProcessId ...
    log.sysmon1(12, g(3), W + "whoami.exe", None, g(2), 8000, parent=W + "cmd.exe")
    log.sysmon1(13, g(4), W + "conhost.exe", 8100, g(3), 8001, parent=W + "whoami.exe")
    # ... or nowhere: a leaf whose PID is unknown, ended by a Sysmon 5 without one either.
    log.sysmon1(14, g(5), W + "net.exe", None, g(2), 8000, parent=W + "cmd.exe")
    log.sysmon5(15, g(5), W + "net.exe", None)
    engine, report = load(url, *log.write(tmp_path))
    rows = procs(engine)
    by_id = {p["id"]: p for p in rows}
    (cmd,) = named(rows, "cmd.exe")
    assert cmd["pid"] == 0x1f40 and cmd["process_guid"] == g(2)
    assert len(cmd["sources"]) == 2  # 4688 and Sysmon 1: one lifetime
    assert by_id[cmd["parent_id"]]["process_guid"] == g(1)
    (whoami,) = named(rows, "whoami.exe")
    assert whoami["pid"] == 8001 and by_id[whoami["parent_id"]] is cmd
    (net,) = named(rows, "net.exe")
    assert net["pid"] is None and net["end"] and "end_missing" not in net["flags"]
    assert by_id[net["parent_id"]] is cmd
    assert report.unplaced == {}
    from proctrail.app.output.tree_text import describe
    assert describe({"image": net["image"], "pid": None, "user": "", "start_us": None,
                     "end_us": None, "flags": []}).startswith("net.exe  ?  -")
    # Every Sysmon 1 is the start of a lifetime.
    assert sum(s["role"] == "start" and s["event_id"] == 1 for p in rows
               for s in p["sources"]) == 5


def test_a_record_with_no_identity_is_counted_and_listed(tmp_path: Path, url: str) -> None:
    log = Log()
    log.sec(4688, 1, NewProcessName=W + "cmd.exe", SubjectLogonId="0x3e7")  # no PID
    log.sysmon1(2, "", W + "ping.exe", None, ZERO, None)  # neither PID nor GUID
    log.start4688(3, 0x200, W + "calc.exe", 4)
    engine, report = load(url, *log.write(tmp_path))
    assert report.unplaced == {"4688 without NewProcessId": 1,
                               "Sysmon 1 without ProcessId or ProcessGuid": 1}
    unplaced = [a for a in anomaly_rows(engine) if a["kind"] == "unplaced_event"]
    assert sorted(a["detail"] for a in unplaced) == ["4688 without NewProcessId",
                                                     "Sysmon 1 without ProcessId or ProcessGuid"]
    assert stats(engine)["unplaced"] == report.unplaced
    assert [p["image"] for p in procs(engine) if "placeholder" not in p["flags"]] == [
        W + "calc.exe"]


def test_detections_fire_only_on_lifetimes(tmp_path: Path, url: str) -> None:
    from proctrail.store.detect.run import detect
    log = Log()
    ps = W + "WindowsPowerShell\\v1.0\\powershell.exe"
    log.sec(4688, 1, NewProcessName=ps, CommandLine="powershell -w hidden -enc AAAA",
            SubjectLogonId="0x3e7")  # no PID: no lifetime, so no finding to point at nothing
    log.start4688(2, 0x300, ps, 4, CommandLine="powershell -w hidden -enc BBBB")
    engine, _ = load(url, *log.write(tmp_path))
    detect(engine)
    found = [f for f in list_findings(engine) if f.kind == "rule"]
    assert found and all(f.process_id is not None for f in found)
    (started,) = named(procs(engine), "powershell.exe")
    assert {f.process_id for f in found} == {started["id"]}


def test_sysmon_header_lag_does_not_split_a_process(tmp_path: Path, url: str) -> None:
    log = Log()
    for i in range(20):  # a boot storm: Sysmon writes 20 s late
        pid, t = 0x1000 + 4 * i, 5 + i * 0.5
        log.start4688(t, pid, W + "svchost.exe", 600, W + "services.exe")
        log.sysmon1(t + 0.002, g(100 + i), W + "svchost.exe", pid, g(1), 600, lag=20,
                    parent=W + "services.exe")
        log.end4689(t + 0.3, pid, W + "svchost.exe")
        log.sysmon5(t + 0.3, g(100 + i), W + "svchost.exe", pid, lag=22)
    engine, report = load(url, *log.write(tmp_path))
    rows = named(procs(engine), "svchost.exe")
    assert len(rows) == 20
    for p in rows:
        assert len(p["sources"]) == 4 and p["flags"] == []
        assert p["duration_s"] == pytest.approx(0.3, abs=0.003)
    assert report.flags.get("pid_reused", 0) == 0 and "clock_jump" not in report.anomalies


def test_a_process_in_its_target_logon_belongs_to_that_session(tmp_path: Path,
                                                               url: str) -> None:
    log = Log()
    log.sec(4624, 0, TargetUserSid="S-1-5-21-1-2-3-1105", TargetUserName="mallory",
            TargetDomainName="CORP", TargetLogonId="0x5a3f21", LogonType="3",
            IpAddress="10.9.9.9")
    log.sec(4672, 0.000001 - 0.000002, SubjectUserName="mallory", SubjectDomainName="CORP",
            SubjectLogonId="0x5a3f21")  # written a microsecond before its 4624
    log.start4688(1, 0x900, W + "wbem\\WmiPrvSE.exe", 600, W + "svchost.exe")
    log.start4688(2, 0x904, W + "cmd.exe", 0x900, W + "wbem\\WmiPrvSE.exe",
                  TargetUserSid="S-1-5-21-1-2-3-1105", TargetUserName="mallory",
                  TargetDomainName="CORP", TargetLogonId="0x5a3f21")
    log.start4688(3, 0x908, W + "whoami.exe", 0x904, W + "cmd.exe", logon="0x5a3f21",
                  user="mallory", sid="S-1-5-21-1-2-3-1105",
                  TargetUserSid="S-1-0-0", TargetUserName="-", TargetDomainName="-",
                  TargetLogonId="0x0")
    engine, _ = load(url, *log.write(tmp_path))
    sessions = {s["logon_id"]: s for s in export_sessions(engine)}
    mallory = sessions["0x5a3f21"]
    assert mallory["user"] == "CORP\\mallory" and mallory["elevated"]
    rows = procs(engine)
    (cmd,) = named(rows, "cmd.exe")
    (whoami,) = named(rows, "whoami.exe")
    (wmi,) = named(rows, "WmiPrvSE.exe")
    assert cmd["session_id"] == whoami["session_id"] == mallory["id"]
    assert cmd["user"] == "CORP\\mallory" and "user_changed" in cmd["flags"]
    assert wmi["user"] == "NT AUTHORITY\\SYSTEM" and wmi["logon_id"] == "0x3e7"
    assert mallory["process_count"] == 2


@pytest.mark.parametrize("gap", [0.000002, 1.5, -1.5])
def test_elevation_either_order(tmp_path: Path, url: str, gap: float) -> None:
    log = Log()
    log.sec(4672, 10 + gap, SubjectUserName="bob", SubjectDomainName="CORP",
            SubjectLogonId="0x77")
    log.sec(4624, 10, TargetUserName="bob", TargetDomainName="CORP", TargetLogonId="0x77",
            LogonType="2")
    log.sec(4624, 20, TargetUserName="eve", TargetDomainName="CORP", TargetLogonId="0x78",
            LogonType="2")
    log.sec(4672, 25, SubjectUserName="eve", SubjectDomainName="CORP",
            SubjectLogonId="0x79")  # another logon: no elevation for eve
    engine, _ = load(url, *log.write(tmp_path))
    sessions = {s["logon_id"]: s["elevated"] for s in export_sessions(engine)}
    assert sessions == {"0x77": True, "0x78": False}


def test_system_is_named_as_windows_names_it(tmp_path: Path, url: str) -> None:
    log = Log()
    log.start4688(1, 0x10, W + "cmd.exe", 4, user="FS01$", sid="S-1-5-18")
    log.start4688(2, 0x14, W + "svchost.exe", 4, user="FS01$", sid="S-1-5-20",
                  logon="0x3e4")
    engine, _ = load(url, *log.write(tmp_path))
    users = {p["image"]: p["user"] for p in procs(engine)}
    assert users[W + "cmd.exe"] == "NT AUTHORITY\\SYSTEM"
    assert users[W + "svchost.exe"] == "NT AUTHORITY\\NETWORK SERVICE"
    fields = sigma_fields("Security", 4688, {"SubjectUserSid": "S-1-5-18",
                                             "SubjectUserName": "FS01$",
                                             "SubjectDomainName": "CORP",
                                             "SubjectLogonId": "0x3e7", "NewProcessId": "0x10",
                                             "NewProcessName": W + "cmd.exe"})
    assert fields["User"] == "NT AUTHORITY\\SYSTEM" and fields["ProcessId"] == "16"


def test_all_zero_parent_guid_is_no_identity(tmp_path: Path, url: str) -> None:
    log = Log()
    log.sysmon1(1, g(1), W + "smss.exe", 300, ZERO, 4)
    log.sysmon1(2, g(2), W + "csrss.exe", 400, ZERO, 308)
    engine, _ = load(url, *log.write(tmp_path))
    rows = procs(engine)
    by_id = {p["id"]: p for p in rows}
    parents = {p["image"]: by_id[p["parent_id"]] for p in rows if p["parent_id"]}
    assert parents[W + "smss.exe"]["pid"] == 4 and parents[W + "csrss.exe"]["pid"] == 308
    assert parents[W + "smss.exe"]["id"] != parents[W + "csrss.exe"]["id"]
    assert all(p["process_guid"] != ZERO for p in rows)


def test_creator_without_pid_is_found_by_its_image(tmp_path: Path, url: str) -> None:
    log = Log()
    log.start4688(1, 0x40, W + "WindowsPowerShell\\v1.0\\powershell.exe", 0x20,
                  W + "explorer.exe")
    log.start4688(5, 0x44, W + "whoami.exe", None,
                  W + "WindowsPowerShell\\v1.0\\powershell.exe")
    engine, _ = load(url, *log.write(tmp_path))
    rows = procs(engine)
    (ps,) = named(rows, "powershell.exe")
    (whoami,) = named(rows, "whoami.exe")
    assert whoami["parent_id"] == ps["id"]


def test_sysmon_5_alone_keeps_its_guid_and_security_then_sysmon_stay_two(
        tmp_path: Path, url: str) -> None:
    log = Log()
    log.sysmon5(1, g(7), W + "old.exe", 900)
    log.start4688(10, 0x500, W + "a.exe", 4)
    log.end4689(10.2, 0x500, W + "a.exe")
    log.sysmon1(11, g(8), W + "a.exe", 0x500, g(1), 4)  # the same PID, a second later
    engine, _ = load(url, *log.write(tmp_path))
    rows = procs(engine)
    (old,) = named(rows, "old.exe")
    # Its end is the log's first record: it ran before the log began.
    assert old["process_guid"] == g(7) and "before_log" in old["flags"]
    first, second = sorted(named(rows, "a.exe"), key=lambda p: p["start"])
    assert first["process_guid"] is None and first["end"]
    assert second["process_guid"] == g(8) and second["start"] > first["end"]


def test_a_straggling_4689_is_no_clock_jump(tmp_path: Path, url: str) -> None:
    log = Log()
    log.start4688(0, 0x600, W + "explorer.exe", 4)
    for i in range(5):
        log.start4688(100 + i, 0x700 + 4 * i, W + "notepad.exe", 0x600, W + "explorer.exe")
    log.end4689(50, 0x999, W + "late.exe")  # logged late: earlier time, later record
    log.start4688(200, 0x800, W + "calc.exe", 0x600, W + "explorer.exe")
    engine, report = load(url, *log.write(tmp_path))
    assert "clock_jump" not in report.anomalies
    rows = procs(engine)
    (explorer,) = named(rows, "explorer.exe")
    (calc,) = named(rows, "calc.exe")
    assert calc["parent_id"] == explorer["id"]
    assert not any("placeholder" in p["flags"] and p["pid"] == 0x600 for p in rows)


def test_a_boot_ends_the_processes_before_it(tmp_path: Path, url: str) -> None:
    log = Log()
    log.start4688(0, 0x2a0, W + "conhost.exe", 4)
    log.sec(4608, 3600)  # Windows is starting up
    log.start4688(3700, 0x2b0, W + "DllHost.exe", 0x2a0, W + "conhost.exe")
    engine, _ = load(url, *log.write(tmp_path))
    rows = procs(engine)
    before = next(p for p in rows if p["pid"] == 0x2a0 and p["start"])
    assert {"end_missing", "ended_at_boot"} <= set(before["flags"])
    (dll,) = named(rows, "DllHost.exe")
    assert dll["parent_id"] != before["id"]


def test_a_silent_week_leaves_the_parent_unknown(tmp_path: Path, url: str) -> None:
    log = Log()
    log.start4688(0, 0x2a0, W + "conhost.exe", 4)
    log.start4688(10, 0x2a4, W + "child.exe", 0x2a0, W + "conhost.exe")
    log.start4688(164 * 3600, 0x2b0, W + "DllHost.exe", 0x2a0, W + "conhost.exe")
    engine, _ = load(url, *log.write(tmp_path))
    rows = procs(engine)
    (conhost,) = [p for p in rows if p["pid"] == 0x2a0 and p["start"]]
    (child,) = named(rows, "child.exe")
    (dll,) = named(rows, "DllHost.exe")
    assert child["parent_id"] == conhost["id"] and dll["parent_id"] != conhost["id"]


def test_ids_stay_when_another_host_arrives(tmp_path: Path, db_url: str) -> None:
    """A host that sorts first is added later: every earlier id, bookmark and session
    still names the same process."""
    late = Log("ZZ-WS9")
    late.sec(4624, 0, TargetUserName="bob", TargetDomainName="CORP", TargetLogonId="0x99",
             LogonType="2")
    late.start4688(1, 0x10, W + "explorer.exe", 4, logon="0x99", user="bob", sid="S-1-5-21-9")
    late.start4688(2, 0x14, W + "cmd.exe", 0x10, W + "explorer.exe", logon="0x99",
                   user="bob", sid="S-1-5-21-9")
    early = Log("AA-WS1")
    for i in range(30):
        early.start4688(i, 0x100 + 4 * i, W + "svchost.exe", 4)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    engine, _ = load(db_url, *late.write(tmp_path / "b"))
    before = {p["image"]: (p["id"], p["parent_id"], p["session_id"]) for p in procs(engine)
              if p["host"] == "ZZ-WS9"}
    cmd_id = before[W + "cmd.exe"][0]
    add_finding(engine, "process", cmd_id, note="look here")
    Ingestor(engine).run([str(p) for p in early.write(tmp_path / "a")])
    correlate(engine)
    after = {p["image"]: (p["id"], p["parent_id"], p["session_id"]) for p in procs(engine)
             if p["host"] == "ZZ-WS9"}
    assert after == before
    (mark,) = list_findings(engine)
    assert mark.process_id == cmd_id and mark.note == "look here"


def test_local_time_written_as_utc_is_read_moved_back(tmp_path: Path, url: str) -> None:
    """An export that wrote local time as UTC, its AM/PM lost half way (offsets of 7 h
    and 19 h in one file): each 4688 meets its Sysmon 1 by Sysmon's UtcTime."""
    log = Log()
    for i in range(6):
        when, behind = 3600.0 * i, 7 * 3600 if i < 3 else 19 * 3600
        pid, image = 0x100 + 4 * i, W + f"tool{i}.exe"
        log.start4688(when - behind, pid, image, 4)
        log.sysmon1(when + 0.002, g(50 + i), image, pid, ZERO, 4, lag=-behind)
    path = tmp_path / "mixed.xml"
    path.write_text("<Events>" + "".join(e for pair in zip(log.security, log.sysmon,
                                                            strict=True) for e in pair)
                    + "</Events>", encoding="utf-8")
    engine, report = load(url, path)
    rows = [p for p in procs(engine) if "placeholder" not in p["flags"]]
    assert len(rows) == 6 and all(len(p["sources"]) == 2 for p in rows)
    assert sorted(p["start"] for p in rows) == [
        at(3600 * i).isoformat(timespec="microseconds").replace("+00:00", "Z")
        for i in range(6)]
    (offset,) = [a for a in anomaly_rows(engine) if a["kind"] == "time_offset"]
    assert "7h00m behind and 19h00m behind" in offset["detail"]
    assert "mixed.xml" in offset["detail"] and report.anomalies["time_offset"] == 1


def test_a_share_as_4688_names_it_is_sysmons_path() -> None:
    from proctrail.store.images import same_image
    assert same_image(r"\Device\Mup\VBoxSvr\tools\x.exe", r"\\VBoxSvr\tools\X.EXE")
    assert not same_image(r"\Device\Mup\VBoxSvr\tools\x.exe", r"\\Other\tools\x.exe")


def test_the_ingest_summary_and_stats_count_the_unplaced(tmp_path: Path, url: str,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from proctrail.app.cli import main
    log = Log()
    log.sec(4688, 1, NewProcessName=W + "cmd.exe", SubjectLogonId="0x3e7")  # no PID
    log.start4688(3, 0x200, W + "calc.exe", 4)
    paths = log.write(tmp_path)
    assert main(["ingest", "--db", url, *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert ("unplaced: 1 records speak of a process not found in the logs (4688 without "
            "NewProcessId: 1); the 'unplaced_event' anomalies list them") in out
    assert main(["stats", "--db", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unplaced"] == {"4688 without NewProcessId": 1}
    assert main(["stats", "--db", url]) == 0
    assert "unplaced 1 (the 'unplaced_event' anomalies)\n  4688 without NewProcessId" in \
        capsys.readouterr().out


@pytest.mark.parametrize("same_command", [True, False])
def test_one_pairing_moves_a_file_only_when_it_is_surely_one_process(
        tmp_path: Path, url: str, same_command: bool) -> None:
    """A single 4688 and Sysmon 1 five hours apart: the same PID, image, parent PID and
    command line are one process seen through a local clock; the same PID and image
    alone may be two processes, and nothing is moved."""
    log = Log()
    log.start4688(-5 * 3600, 0x500, W + "wevtutil.exe", 0x40, CommandLine="wevtutil cl x")
    log.sysmon1(0.002, g(9), W + "wevtutil.exe", 0x500, ZERO, 0x40,
                CommandLine="wevtutil cl x" if same_command else "wevtutil qe y")
    path = tmp_path / "one.xml"
    path.write_text("<Events>" + log.security[0] + log.sysmon[0] + "</Events>",
                    encoding="utf-8")
    engine, report = load(url, path)
    rows = named(procs(engine), "wevtutil.exe")
    assert len(rows) == (1 if same_command else 2)
    assert ("time_offset" in report.anomalies) == same_command


@pytest.mark.parametrize("quiet", [False, True])
def test_sysmon_starting_is_a_boot_only_after_the_log_fell_quiet(
        tmp_path: Path, url: str, quiet: bool) -> None:
    """Sysmon installed during an incident (events all along) ends no process; after
    minutes without a record, its start is the machine's."""
    log = Log()
    log.start4688(0, 0x2a0, W + "explorer.exe", 4)
    if not quiet:
        log.start4688(590, 0x2b4, W + "notepad.exe", 0x2a0, W + "explorer.exe")
    log.sys(4, 600, State="Started", Version="13.34")
    log.start4688(610, 0x2b0, W + "cmd.exe", 0x2a0, W + "explorer.exe")
    engine, _ = load(url, *log.write(tmp_path))
    rows = procs(engine)
    explorer = next(p for p in rows if p["pid"] == 0x2a0 and p["start"])
    (cmd,) = named(rows, "cmd.exe")
    assert ("ended_at_boot" in explorer["flags"]) == quiet
    assert (cmd["parent_id"] == explorer["id"]) == (not quiet)
