"""The ``collectors`` scenario (issue 13): Windows hosts (Security + Sysmon) whose logs have
the shapes real collectors and busy machines write, each shape on a host of its own so
that a failing host names the shape.

- ``ws02.corp.example``: its Security log names it ``WS02`` (NetBIOS, upper case), its
  Sysmon log ``ws02.corp.example``: one machine. Its Security log lost a few 4689s
  minutes apart (one ``record_gap``), and another two hours later (a second).
- ``fs01.corp.example``: collected by NXLog (its JSON lines are NXLog's flat rows); about
  a fifth of its Sysmon 1 and 5 records came through an older NXLog that overwrote
  Sysmon's ``ProcessId`` with its own field, so they carry none; its Security log has
  wrapped (it begins two hours after Sysmon's), so some processes are known by Sysmon
  alone, PID-less ones among them: one learns its PID from a child, others never do.
  Three of its 4689s came through the older NXLog too: in its JSON rows they have
  ``"ProcessID": 4`` and no ``ProcessId`` (each an ``unplaced_event``; one of those
  processes lost its Sysmon 5 to a record gap, so there it never ends), in EVTX and XML
  they are whole.
- ``srv01.corp.example``: mallory's network logon (4624 type 3, ``0x5a3f21``, its 4672
  written microseconds *before* it) runs ``cmd.exe`` through WMI: the 4688's Subject is
  SYSTEM (WmiPrvSE), its Target mallory's logon; Sysmon 1 names that logon too. One such
  cmd.exe lost its Sysmon 1 (a record gap): only the 4688's TargetLogonId tells its
  session. A backup service's logon (4672 first as well) runs a service-started agent.
- ``app01.corp.example``: a job runner starts a burst of short jobs while Sysmon's writer
  is stalled: their Sysmon headers lag the real start (``UtcTime``) by up to 25 s; their
  4688 are on time.
- ``ws03.corp.example``: crashes (no 4609, no ends) and boots again (4608). Processes of
  the first boot never log an end; after the boot a PID of one of them is the parent PID
  of new processes (a svchost started before logging resumed) and another is reused by
  a new cmd.exe. Sysmon lags through the boot storm; smss.exe's Sysmon 1 has the all-zero
  ParentProcessGuid with ParentProcessId 4, as has a userinit.exe of the first boot
  (ParentProcessId winlogon's).
- ``db01.corp.example`` and ``db01.lab.example``: two machines sharing a first label, with
  the very same activity (same PIDs, GUIDs and times): two hosts, not one.
- ``ws04.corp.example`` (US Mountain time, UTC-7): its JSON lines are one export of
  Security and Sysmon interleaved in time order (flat rows, no record numbers, the
  OTRF datasets' shape) that wrote local time marked ``Z``, and from 13:00 local on lost
  the PM of its 12-hour clock: the first half of the file is 7 h behind, the rest 19 h;
  Sysmon's ``UtcTime`` is true. Correlation reads it moved back, so its truth is that of
  true times, plus one ``time_offset`` anomaly in JSON lines. Its EVTX and XML are
  written as the machine logged them (UTC). No PID is used twice on it, and the first
  Security record after the change of offset is a 4688 (with its Sysmon 1), so every
  record of the file is read with its own offset.
- ``ws05.corp.example``: NXLog exported a slice of its logs, 13:00 to 15:00 (the OTRF
  datasets' shape: an export that starts mid-log). Its Security file begins at record
  48,000 and its Sysmon file at 212,417: the records before them are not in the files,
  not lost from them (no ``record_gap``). Each file opens with the ends (4689, Sysmon 5)
  of processes started before 13:00 (``before_log``), and erin's desktop and the service
  host are first heard of minutes in, through their children (``before_log``
  placeholders); at 15:00 a browser, a shell and its copy are still running
  (``after_log``). No record inside the slice is missing.

All hosts write 4688 and 4689 with SYSTEM named by its machine account (``CORP\\WS02$``),
as Windows does. What correlation must find follows the issue 13 rules of
:mod:`proctrail.generate.truth`, per format where a format's shape changes it (the
truth's ``by_format``).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from proctrail.generate.model import SECOND, SECURITY, SYSMON, Account, Host, Record, SimProc
from proctrail.generate.truth import ZERO_GUID
from proctrail.generate.windows import LOCAL_SERVICE, NETWORK_SERVICE, SYSTEM, WindowsHost

DAY = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp()) * SECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
SYS32 = "C:\\Windows\\System32\\"
ATTACKER = "203.0.113.66"
OLD_NXLOG_SHARE = 0.2  # of fs01's eligible Sysmon 1 and 5 records

_SID = "S-1-5-21-1004336348-1177238915-682003330-"
ALICE = Account("CORP", "alice", _SID + "1107", 0x6B1F20)
BOB = Account("CORP", "bob", _SID + "1108", 0x2A7C31)
CAROL = Account("CORP", "carol", _SID + "1121", 0x1F2E33)
CAROL_AGAIN = Account("CORP", "carol", _SID + "1121", 0x2C41D7)  # her logon after the boot
DAVE = Account("CORP", "dave", _SID + "1142", 0x3B7A90)
ERIN = Account("CORP", "erin", _SID + "1153", 0x4C5D12)
FILEADMIN = Account("CORP", "fileadmin", _SID + "1112", 0x4D2E10, "High")
MALLORY = Account("CORP", "mallory", _SID + "1137", 0x5A3F21, "High")
BACKUP = Account("CORP", "svc_backup", _SID + "1201", 0x3F1E, "High")
SQL = Account("NT SERVICE", "MSSQLSERVER",
              "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003", 0x6C3A1, "High")


def at(hours: float) -> int:
    """True time ``hours`` after midnight of the scenario's day."""
    return DAY + int(hours * HOUR)


def _machine(name: str, rng: random.Random) -> WindowsHost:
    return WindowsHost(name, rng, machine_domain="CORP")


def _boot(w: WindowsHost, smss: int = 0x164, wininit: int = 0x218, services: int = 0x2E8,
          winlogon: int = 0x2A4) -> dict[str, SimProc]:
    """The processes running since boot, started before the logs say anything."""
    system = w.existing(4, "System", "")
    s = w.existing(smss, SYS32 + "smss.exe", "\\SystemRoot\\System32\\smss.exe", parent=system)
    wi = w.existing(wininit, SYS32 + "wininit.exe", "wininit.exe", parent=s)
    return {"system": system, "smss": s,
            "services": w.existing(services, SYS32 + "services.exe", SYS32 + "services.exe",
                                   parent=wi),
            "winlogon": w.existing(winlogon, SYS32 + "winlogon.exe", "winlogon.exe", parent=s)}


TASKS = [(SYS32 + "taskhostw.exe", SYS32 + "taskhostw.exe"),
         (SYS32 + "wbem\\WmiPrvSE.exe", SYS32 + "wbem\\WmiPrvSE.exe -secured -Embedding"),
         (SYS32 + "backgroundTaskHost.exe", SYS32 + "backgroundTaskHost.exe "
          "-ServerName:BackgroundTaskHost.WebAccountProvider"),
         ("C:\\Program Files\\Windows Defender\\MpCmdRun.exe",
          '"C:\\Program Files\\Windows Defender\\MpCmdRun.exe" -wdenable'),
         (SYS32 + "sc.exe", "sc.exe query wuauserv")]


def _tasks(w: WindowsHost, svchost: SimProc, rng: random.Random, start: float, end: float,
           every_min: float) -> None:
    """Service-host noise: short tasks all day, each ended before ``end``."""
    t = start
    while t < end:
        image, cmd = rng.choice(TASKS)
        account = NETWORK_SERVICE if image.endswith("WmiPrvSE.exe") else SYSTEM
        p = w.start(at(t), image, cmd, svchost, account)
        w.exit(min(at(t) + rng.randrange(2, 90) * SECOND, at(end)), p)
        t += every_min / 60 * rng.uniform(0.5, 1.5)


def _background(w: WindowsHost, services: SimProc, rng: random.Random, start: float,
                end: float, every_min: float) -> SimProc:
    svchost = w.start(at(start), SYS32 + "svchost.exe", SYS32 + "svchost.exe -k netsvcs -p",
                      services, SYSTEM)
    _tasks(w, svchost, rng, start + 0.05, end, every_min)
    return svchost


def _desktop(w: WindowsHost, who: Account, winlogon: SimProc, t: int
             ) -> tuple[SimProc, SimProc]:
    """An interactive logon's userinit and explorer (userinit ends after 30 s)."""
    userinit = w.start(t + 400_000, SYS32 + "userinit.exe", SYS32 + "userinit.exe", winlogon,
                       who, creator=SYSTEM)
    explorer = w.start(t + 2 * SECOND, "C:\\Windows\\explorer.exe",
                       "C:\\Windows\\Explorer.EXE", userinit, cwd="C:\\Windows\\system32\\")
    w.exit(t + 31 * SECOND, userinit)
    return userinit, explorer


def _sysmon_start(p: SimProc) -> Record:
    return next(r for r in p.records if r.channel == SYSMON and r.role == "start")


def _record(p: SimProc, channel: str, role: str) -> Record:
    return next(r for r in p.records if r.channel == channel and r.role == role)


def _set(record: Record, name: str, value: str) -> None:
    record.data = [(k, value if k == name else v) for k, v in record.data]


def _stall(w: Host, from_us: int, length_us: int) -> None:
    """Sysmon's writer stalls for ``length_us``: what happened meanwhile is written when it
    resumes, in order (the header times lag ``UtcTime`` by up to the stall)."""
    stalled = sorted((r for r in w.records if r.channel == SYSMON
                      and from_us <= r.true_us < from_us + length_us),
                     key=lambda r: (r.true_us, r.order))
    for i, r in enumerate(stalled):
        r.true_us = from_us + length_us + i * 1500
        r.logged_us = w.clock.logged(r.true_us)


# -- the hosts -------------------------------------------------------------------------------


def ws02(rng: random.Random) -> WindowsHost:
    """Security says ``WS02``, Sysmon ``ws02.corp.example``."""
    w = _machine("ws02.corp.example", rng)
    w.computers[SECURITY] = "WS02"
    boot = _boot(w)
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    svchost = _background(w, boot["services"], rng, 6.0, 16.0, 12)
    # Its Security log dropped events: the 4689s of the tasks started 10:00-10:50 (gaps
    # minutes apart: one record_gap) and of the first after 12:00 (an hour on: another).
    tasks = [p for p in w.procs if p.parent is svchost]
    dropped = [p for p in tasks if at(10.0) <= p.start_us < at(10.84)]  # type: ignore[operator]
    dropped.append(next(p for p in tasks if p.start_us >= at(12.0)))  # type: ignore[operator]
    for p in dropped:
        _record(p, SECURITY, "end").lost = True
    s = w.logon(at(8.1), ALICE, "Interactive", "127.0.0.1", "WS02")
    _userinit, explorer = _desktop(w, ALICE, boot["winlogon"], at(8.1))
    chrome = w.start(at(8.2), "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                     '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"', explorer)
    for i in range(6):
        tab = w.start(at(8.2) + (i + 1) * 40 * SECOND, chrome.image,
                      f'"{chrome.image}" --type=renderer --renderer-client-id={i + 5}', chrome)
        w.exit(at(8.2) + (i + 1) * 40 * SECOND + rng.randrange(30, 900) * SECOND, tab)
    notepad = w.start(at(9.0), SYS32 + "notepad.exe", "notepad.exe C:\\Users\\alice\\todo.txt",
                      explorer, cwd="C:\\Users\\alice\\")
    w.exit(at(9.4), notepad)
    w.exit(at(15.9), chrome)
    w.exit(at(16.0), explorer)
    w.logoff(at(16.01), s)
    return w


def fs01(rng: random.Random) -> WindowsHost:
    """NXLog-collected; an older NXLog dropped ProcessId from some Sysmon records; the
    Security log wrapped at 08:00."""
    w = _machine("fs01.corp.example", rng)
    w.collector = "nxlog"
    boot = _boot(w)
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    _background(w, boot["services"], rng, 6.0, 17.0, 9)
    dcom = w.start(at(6.0) + 5 * SECOND, SYS32 + "svchost.exe",
                   SYS32 + "svchost.exe -k DcomLaunch -p", boot["services"], SYSTEM)
    s = w.logon(at(6.5), BOB, "Interactive", "127.0.0.1", "FS01")
    _userinit, explorer = _desktop(w, BOB, boot["winlogon"], at(6.5))
    # Before the wrap: a shell whose PID only its child's ParentProcessId tells, a tool
    # whose PID nothing tells.
    cmd = w.start(at(7.0), SYS32 + "cmd.exe", "cmd.exe", explorer, cwd="C:\\Users\\bob\\")
    ipconfig = w.start(at(7.0) + 20 * SECOND, SYS32 + "ipconfig.exe", "ipconfig /all", cmd)
    w.exit(at(7.0) + 21 * SECOND, ipconfig)
    hostname = w.start(at(7.0) + 45 * SECOND, SYS32 + "HOSTNAME.EXE", "hostname", cmd)
    w.exit(at(7.0) + 46 * SECOND, hostname)
    w.exit(at(7.1), cmd)
    # After it: a shell and its tools seen by both logs.
    shell = w.start(at(9.5), SYS32 + "cmd.exe", "cmd.exe", explorer, cwd="C:\\Users\\bob\\")
    tools = []
    for i, (image, line) in enumerate((("robocopy.exe", "robocopy D:\\Shares\\Finance E:\\ /MIR"),
                                       ("icacls.exe", "icacls D:\\Shares\\Finance"),
                                       ("whoami.exe", "whoami"))):
        p = w.start(at(9.5) + (i + 1) * 30 * SECOND, SYS32 + image, line, shell)
        w.exit(at(9.5) + (i + 1) * 30 * SECOND + 8 * SECOND, p)
        tools.append(p)
    w.exit(at(9.7), shell)
    # Remote PowerShell: DcomLaunch starts wsmprovhost in the admin's network logon.
    admin = w.logon(at(12.0), FILEADMIN, "Network", "10.1.4.20", "ADMIN-PC", elevated=True)
    wsm = w.start(at(12.0) + 3 * SECOND, SYS32 + "wsmprovhost.exe",
                  SYS32 + "wsmprovhost.exe -Embedding", dcom, FILEADMIN, creator=SYSTEM)
    w.exit(at(12.2), wsm)
    w.logoff(at(12.25), admin)
    w.exit(at(16.5), explorer)
    w.logoff(at(16.51), s)
    w.clears[SECURITY] = at(8.0)  # wrapped: older records overwritten, no 1102
    _old_nxlog(w, rng, forced=[cmd, hostname])
    # 4689s through the older NXLog: its ProcessID (4) overwrote theirs in its JSON rows.
    # whoami's Sysmon 5 is lost (a record gap): there nothing ends it.
    for p in (tools[1], tools[2], wsm):
        _record(p, SECURITY, "end").via = "nxlog-old"
    _record(tools[2], SYSMON, "end").lost = True
    return w


def _old_nxlog(w: WindowsHost, rng: random.Random, forced: list[SimProc]) -> None:
    """Sysmon 1 and 5 records that came through the older NXLog: no ``ProcessId``.

    Only where the truth stays unambiguous: a process whose Security records straddle the
    wrap keeps its PID, one without any Security record loses it from both records or
    neither, and none loses it while another process of its image starts within 3 s
    (two PID-less starts of one image could not be told apart)."""
    starts = [p for p in w.procs if p.start_us is not None]
    for p in starts:
        security = [w.survives(r) for r in p.records if r.channel == SECURITY]
        if any(security) and not all(security):
            assert p not in forced, p.key
            continue
        if any(q is not p and q.image.lower() == p.image.lower()
               and abs(q.start_us - p.start_us) < 3 * SECOND  # type: ignore[operator]
               for q in starts):
            assert p not in forced, p.key
            continue
        sysmon = [r for r in p.records if r.channel == SYSMON and r.role in ("start", "end")]
        if p in forced:
            chosen = sysmon
        elif not any(security):
            chosen = sysmon if rng.random() < OLD_NXLOG_SHARE else []
        else:
            chosen = [r for r in sysmon if rng.random() < OLD_NXLOG_SHARE]
        for r in chosen:
            r.data = [(k, v) for k, v in r.data if k != "ProcessId"]
            r.via = "nxlog-old"


def srv01(rng: random.Random) -> WindowsHost:
    """WMI runs mallory's commands in her network logon; 4672 before 4624."""
    w = _machine("srv01.corp.example", rng)
    boot = _boot(w)
    services = boot["services"]
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    _background(w, services, rng, 6.0, 17.0, 12)
    dcom = w.start(at(6.0) + 5 * SECOND, SYS32 + "svchost.exe",
                   SYS32 + "svchost.exe -k DcomLaunch -p", services, SYSTEM)
    # The backup service logs on (4672 first) and services.exe starts its agent in it.
    w.logon(at(7.0), BACKUP, "Service", elevated=True, privileges_us=-4)
    agent = w.start(at(7.0) + 300_000, "C:\\Program Files\\Contoso Backup\\agent.exe",
                    '"C:\\Program Files\\Contoso Backup\\agent.exe" --service', services,
                    BACKUP, creator=SYSTEM)
    w.exit(at(7.8), agent)
    t = at(10.0)
    s = w.logon(t, MALLORY, "Network", ATTACKER, "KALI", elevated=True, privileges_us=-3)
    wmi = w.start(t + 1_500_000, SYS32 + "wbem\\WmiPrvSE.exe",
                  SYS32 + "wbem\\wmiprvse.exe -secured -Embedding", dcom, SYSTEM)
    cmd = w.start(t + 3 * SECOND, SYS32 + "cmd.exe", "cmd.exe /Q /c whoami /all 1> "
                  "\\\\127.0.0.1\\ADMIN$\\__1793613603.51 2>&1", wmi, MALLORY, creator=SYSTEM,
                  cwd="C:\\Windows\\system32\\")
    who = w.start(t + 3_200_000, SYS32 + "whoami.exe", "whoami /all", cmd)
    w.exit(t + 3_900_000, who)
    w.exit(t + 4 * SECOND, cmd)
    cmd2 = w.start(t + 40 * SECOND, SYS32 + "cmd.exe", "cmd.exe /Q /c net user svc_upd "
                   "Winter2026! /add 1> \\\\127.0.0.1\\ADMIN$\\__1793613640.77 2>&1", wmi,
                   MALLORY, creator=SYSTEM, cwd="C:\\Windows\\system32\\")
    net = w.start(t + 40_300_000, SYS32 + "net.exe", "net user svc_upd Winter2026! /add", cmd2)
    net1 = w.start(t + 40_350_000, SYS32 + "net1.exe", "C:\\Windows\\system32\\net1 user "
                   "svc_upd Winter2026! /add", net)
    w.exit(t + 40_900_000, net1)
    w.exit(t + 41 * SECOND, net)
    w.exit(t + 41_200_000, cmd2)
    _sysmon_start(cmd2).lost = True  # a gap in Sysmon's record numbers
    w.exit(t + 5 * MINUTE, wmi)
    w.logoff(t + 6 * MINUTE, s)
    return w


def app01(rng: random.Random) -> WindowsHost:
    """A burst of jobs while Sysmon's writer stalls: Sysmon headers lag by up to 25 s."""
    w = _machine("app01.corp.example", rng)
    boot = _boot(w)
    services = boot["services"]
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    _background(w, services, rng, 6.0, 17.0, 12)
    runner = w.start(at(6.0) + 10 * SECOND, "C:\\Program Files\\Contoso\\JobRunner\\"
                     "jobrunner.exe", "jobrunner.exe --service", services, SYSTEM)
    jobs = [(SYS32 + "cmd.exe", "cmd.exe /c D:\\jobs\\rotate-logs.cmd"),
            (SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
             "powershell.exe -NoProfile -File D:\\jobs\\report.ps1"),
            (SYS32 + "robocopy.exe", "robocopy D:\\out \\\\fs01\\reports /E"),
            (SYS32 + "certutil.exe", "certutil -hashfile D:\\out\\report.zip SHA256")]
    t = at(9.0)
    for _ in range(24):
        image, line = rng.choice(jobs)
        job = w.start(t, image, line, runner)
        w.exit(t + rng.randrange(1_000_000, 8_000_000), job)
        t += rng.randrange(1_200_000, 3_000_000)
    w.exit(at(16.9), runner)
    _stall(w, at(9.0) + 4 * SECOND, 22 * SECOND)
    _stall(w, at(9.0) + 40 * SECOND, 18 * SECOND)
    return w


def ws03(rng: random.Random) -> WindowsHost:
    """Crashes at 11:00, boots again (4608) at 11:01:30."""
    w = _machine("ws03.corp.example", rng)
    boot = _boot(w)
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    netsvcs = w.start(at(6.0) + 5 * SECOND, SYS32 + "svchost.exe",
                      SYS32 + "svchost.exe -k netsvcs -p", boot["services"], SYSTEM, pid=0x3A8)
    _tasks(w, netsvcs, rng, 6.05, 10.8, 15)
    w.logon(at(8.0), CAROL, "Interactive", "127.0.0.1", "WS03")
    userinit, explorer = _desktop(w, CAROL, boot["winlogon"], at(8.0))
    # winlogon started before Sysmon: it names no parent GUID, only the parent PID.
    _set(_sysmon_start(userinit), "ParentProcessGuid", ZERO_GUID)
    w.start(at(9.0), SYS32 + "cmd.exe", "cmd.exe", explorer, pid=0x1B44,
            cwd="C:\\Users\\carol\\")
    w.start(at(9.5), SYS32 + "notepad.exe", "notepad.exe", explorer)
    # 11:00 it goes down (nothing logged); 11:01:30 Windows is starting up.
    up = at(11.0) + 90 * SECOND
    w.restart(at(11.0), up)
    system = w.existing(4, "System", "")
    smss = w.start(up + 2 * SECOND, SYS32 + "smss.exe", "\\SystemRoot\\System32\\smss.exe",
                   system, SYSTEM, pid=0x150)
    _set(_sysmon_start(smss), "ParentProcessGuid", ZERO_GUID)  # Sysmon names no parent GUID
    wininit = w.existing(0x200, SYS32 + "wininit.exe", "wininit.exe", parent=smss)
    services = w.existing(0x2D4, SYS32 + "services.exe", SYS32 + "services.exe",
                          parent=wininit)
    winlogon = w.existing(0x2B0, SYS32 + "winlogon.exe", "winlogon.exe", parent=smss)
    # The new boot's netsvcs svchost started before logging resumed, under the PID the
    # old one had (which never logged an end): its children name that PID.
    netsvcs2 = w.existing(0x3A8, SYS32 + "svchost.exe", SYS32 + "svchost.exe -k netsvcs -p",
                          parent=services)
    local = w.start(up + 20 * SECOND, SYS32 + "svchost.exe",
                    SYS32 + "svchost.exe -k LocalService -p", services, LOCAL_SERVICE)
    w.exit(at(16.8), local)
    _tasks(w, netsvcs2, rng, 11.04, 16.5, 15)
    t = up + 5 * MINUTE
    s = w.logon(t, CAROL_AGAIN, "Interactive", "127.0.0.1", "WS03")
    _userinit2, explorer2 = _desktop(w, CAROL_AGAIN, winlogon, t)
    shell = w.start(t + MINUTE, SYS32 + "cmd.exe", "cmd.exe", explorer2, pid=0x1B44,
                    cwd="C:\\Users\\carol\\")  # the old boot's cmd.exe PID, free again
    w.exit(t + 20 * MINUTE, shell)
    w.exit(at(16.9), explorer2)
    w.logoff(at(16.91), s)
    _stall(w, up, 25 * SECOND)  # the boot storm
    return w


def db01(name: str, rng: random.Random) -> WindowsHost:
    """A database server; ``db01.corp.example`` and ``db01.lab.example`` run the same."""
    w = _machine(name, rng)
    boot = _boot(w)
    services = boot["services"]
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    _background(w, services, rng, 6.0, 14.0, 20)
    w.logon(at(6.0) + 7 * SECOND, SQL, "Service", elevated=True)
    sql = w.start(at(6.0) + 8 * SECOND, "C:\\Program Files\\Microsoft SQL Server\\"
                  "MSSQL16.MSSQLSERVER\\MSSQL\\Binn\\sqlservr.exe", "sqlservr.exe -sMSSQLSERVER",
                  services, SQL, creator=SYSTEM)
    for i in range(4):
        t = at(8.0 + i)
        cmd = w.start(t, SYS32 + "cmd.exe", f'cmd.exe /c "bcp dbo.orders out D:\\exp\\o{i}.dat"',
                      sql)
        bcp = w.start(t + 200_000, "C:\\Program Files\\Microsoft SQL Server\\Client SDK\\"
                      "ODBC\\170\\Tools\\Binn\\bcp.exe", f"bcp dbo.orders out D:\\exp\\o{i}.dat",
                      cmd)
        w.exit(t + rng.randrange(5, 60) * SECOND, bcp)
        w.exit(t + 61 * SECOND, cmd)
    w.exit(at(14.5), sql)
    return w


SLICE = (at(13.0), at(15.0))  # the window of ws05's logs its NXLog export holds
SLICE_FIRST = {SECURITY: 48_000, SYSMON: 212_417}  # the record numbers its files begin at


def ws05(rng: random.Random) -> WindowsHost:
    """NXLog exported its logs from 13:00 to 15:00 only (a slice of long logs: the files
    begin at records 48,000 and 212,417; nothing inside them is missing). erin's day runs
    across both edges."""
    w = _machine("ws05.corp.example", rng)
    w.collector = "nxlog"
    w.window, w.first_records = SLICE, dict(SLICE_FIRST)
    boot = _boot(w)
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)
    netsvcs = w.start(at(6.0) + 4 * SECOND, SYS32 + "svchost.exe",
                      SYS32 + "svchost.exe -k netsvcs -p", boot["services"], SYSTEM)
    _tasks(w, netsvcs, rng, 6.05, 12.9, 12)  # all ended by 12:54 (not in the slice)
    s = w.logon(at(12.5), ERIN, "Interactive", "127.0.0.1", "WS05")
    _userinit, explorer = _desktop(w, ERIN, boot["winlogon"], at(12.5))
    # Started before 13:00, ended in its first minute: the slice opens with their ends.
    scan = w.start(at(12.8), "C:\\Program Files\\Windows Defender\\MpCmdRun.exe",
                   '"C:\\Program Files\\Windows Defender\\MpCmdRun.exe" -Scan -ScanType 1',
                   netsvcs, SYSTEM)
    shell = w.start(at(12.7), SYS32 + "cmd.exe", "cmd.exe", explorer, cwd="C:\\Users\\erin\\")
    ping = w.start(at(12.95), SYS32 + "PING.EXE", "ping -t 10.1.4.20", shell)
    w.exit(at(13.0) + 12 * SECOND, scan)
    w.exit(at(13.0) + 25 * SECOND, ping)
    w.exit(at(13.0) + 50 * SECOND, shell)
    # In the slice: the service host's tasks (the first 3.6 min in) and erin's programs
    # (the first 2 min in): both parents are heard of within minutes of its start.
    chrome = w.start(at(13.0) + 2 * MINUTE,
                     "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                     '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"', explorer)
    _tasks(w, netsvcs, rng, 13.06, 14.9, 10)  # each ended by 14:54
    ps = w.start(at(13.5), SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
                 "powershell.exe -NoProfile", explorer, cwd="C:\\Users\\erin\\")
    for i, line in enumerate(("whoami /groups", "ipconfig /all", "net use")):
        tool = w.start(at(13.5) + (i + 1) * 30 * SECOND, SYS32 + line.split()[0] + ".exe",
                       line, ps)
        w.exit(at(13.5) + (i + 1) * 30 * SECOND + rng.randrange(1, 8) * SECOND, tool)
    w.exit(at(13.6), ps)
    # Running when the slice ends at 15:00: its last records leave them running.
    shell2 = w.start(at(14.8), SYS32 + "cmd.exe", "cmd.exe", explorer,
                     cwd="C:\\Users\\erin\\")
    copy = w.start(at(14.9), SYS32 + "Robocopy.exe",
                   "robocopy C:\\Users\\erin\\Documents \\\\fs01\\home\\erin /MIR", shell2)
    _tasks(w, netsvcs, rng, 15.1, 17.0, 10)  # after the slice: not in the files
    w.exit(at(15.2), copy)
    w.exit(at(15.3), shell2)
    w.exit(at(16.5), chrome)
    w.exit(at(16.9), explorer)
    w.logoff(at(16.91), s)
    return w


MOUNTAIN = -7 * HOUR  # ws04's zone: US Mountain time in November (MST)
PM_LOST = at(20.0)  # 13:00 on ws04's clock: its exporter's 12-hour clock writes 01:00


def ws04(rng: random.Random) -> WindowsHost:
    """Exported as local time marked UTC: 7 h behind, from 13:00 local on 19 h (the PM
    lost). dave's working day, 08:00 to 16:30 local."""
    w = _machine("ws04.corp.example", rng)
    w.collector = "export"
    w.export_offsets = [(0, MOUNTAIN), (PM_LOST, MOUNTAIN - 12 * HOUR)]
    w.fresh_pids = True  # a PID and image met twice could pair a 4688 with another's Sysmon 1
    boot = _boot(w)
    w.logon(at(15.0), SYSTEM, "Service", elevated=True)
    netsvcs = w.start(at(15.0) + 4 * SECOND, SYS32 + "svchost.exe",
                      SYS32 + "svchost.exe -k netsvcs -p", boot["services"], SYSTEM)
    _tasks(w, netsvcs, rng, 15.05, 19.7, 30)
    s = w.logon(at(15.2), DAVE, "Interactive", "127.0.0.1", "WS04")
    _userinit, explorer = _desktop(w, DAVE, boot["winlogon"], at(15.2))
    office = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
    outlook = w.start(at(15.25), office + "OUTLOOK.EXE", f'"{office}OUTLOOK.EXE"', explorer)
    cmd = w.start(at(16.5), SYS32 + "cmd.exe", "cmd.exe", explorer, cwd="C:\\Users\\dave\\")
    for i, line in enumerate(("ipconfig /all", "nslookup fs01.corp.example",
                              "ping -n 2 10.1.4.20")):
        tool = w.start(at(16.5) + (i + 1) * 20 * SECOND, SYS32 + line.split()[0] + ".exe",
                       line, cmd)
        w.exit(at(16.5) + (i + 1) * 20 * SECOND + rng.randrange(1, 6) * SECOND, tool)
    w.exit(at(16.6), cmd)
    notepad = w.start(at(18.0), SYS32 + "notepad.exe",
                      "notepad.exe C:\\Users\\dave\\notes.txt", explorer,
                      cwd="C:\\Users\\dave\\")
    w.exit(at(18.4), notepad)
    # Nothing from 19:42 until OneDrive starts, 20 s after 13:00 local: the first Security
    # record of the second offset is a 4688 with its Sysmon 1.
    onedrive = w.start(PM_LOST + 20 * SECOND, "C:\\Users\\dave\\AppData\\Local\\Microsoft\\"
                       "OneDrive\\OneDrive.exe", '"C:\\Users\\dave\\AppData\\Local\\Microsoft\\'
                       'OneDrive\\OneDrive.exe" /background', explorer)
    _tasks(w, netsvcs, rng, 20.1, 23.0, 25)
    excel = w.start(at(20.5), office + "EXCEL.EXE",
                    f'"{office}EXCEL.EXE" "C:\\Users\\dave\\budget-2027.xlsx"', explorer)
    w.exit(at(22.0), excel)
    ps = w.start(at(21.0), SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
                 "powershell.exe -NoProfile", explorer, cwd="C:\\Users\\dave\\")
    for i, (image, args) in enumerate((("whoami.exe", "/groups"), ("gpupdate.exe", "/force"),
                                       ("net.exe", "use"))):
        tool = w.start(at(21.0) + (i + 1) * 45 * SECOND, SYS32 + image,
                       f'"C:\\Windows\\system32\\{image}" {args}', ps)
        w.exit(at(21.0) + (i + 1) * 45 * SECOND + rng.randrange(1, 20) * SECOND, tool)
    w.exit(at(21.2), ps)
    w.exit(at(23.1), onedrive)
    w.exit(at(23.2), outlook)
    w.exit(at(23.4), explorer)
    w.logoff(at(23.41), s)
    w.exit(at(23.5), netsvcs)
    return w


def build(seed: int) -> list[Host]:
    """Every host of the scenario, simulated (the two db01 alike, but for their names)."""
    rng = random.Random(seed)
    seeds = [rng.random() for _ in range(8)]
    return [ws02(random.Random(seeds[0])), fs01(random.Random(seeds[1])),
            srv01(random.Random(seeds[2])), app01(random.Random(seeds[3])),
            ws03(random.Random(seeds[4])),
            db01("db01.corp.example", random.Random(seeds[5])),
            db01("db01.lab.example", random.Random(seeds[5])), ws04(random.Random(seeds[6])),
            ws05(random.Random(seeds[7]))]
