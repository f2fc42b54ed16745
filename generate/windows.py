"""A simulated Windows host: logons, processes, token changes, clock changes, cleared
logs and restarts, written as Security (4688/4689/4624/4634/4672/4616/4703/1102/4608) and
Sysmon (1/5/3/22) events, or as the Windows 2003 Security log (592/593/528/538/600,
positional data)."""

from __future__ import annotations

import random

from proctrail.generate.model import (
    EVENTLOG_PROVIDER,
    LEGACY_PROVIDER,
    SECOND,
    SECURITY,
    SECURITY_PROVIDER,
    SYSMON,
    SYSMON_PROVIDER,
    Account,
    Host,
    SimProc,
    SimSession,
    fake_hash,
)

SYSTEM = Account("NT AUTHORITY", "SYSTEM", "S-1-5-18", 0x3E7, "System")
LOCAL_SERVICE = Account("NT AUTHORITY", "LOCAL SERVICE", "S-1-5-19", 0x3E5, "System")
NETWORK_SERVICE = Account("NT AUTHORITY", "NETWORK SERVICE", "S-1-5-20", 0x3E4, "System")
LOGON_TYPES = {"Interactive": 2, "Network": 3, "Service": 5, "RemoteInteractive": 10}


def _legacy_id(a: Account) -> str:
    """A logon id as Windows 2003 writes it: ``(0x0,0x3E7)``, high and low parts."""
    return f"(0x{a.logon_id >> 32:X},0x{a.logon_id & 0xFFFFFFFF:X})"


def _label(integrity: str) -> str:
    return {"System": "S-1-16-16384", "High": "S-1-16-12288", "Medium": "S-1-16-8192",
            "Low": "S-1-16-4096"}.get(integrity, "S-1-16-8192")


class WindowsHost(Host):
    """Security (+ Sysmon, unless ``sysmon=False``) of one machine; ``legacy``: 2003.

    ``machine_domain``: 4688 and 4689 name SYSTEM by the machine account, as Windows
    writes them (``CORP\\WS02$``, SID S-1-5-18); otherwise ``NT AUTHORITY\\SYSTEM``."""

    def __init__(self, name: str, rng: random.Random, sysmon: bool = True,
                 legacy: bool = False, machine_domain: str = "") -> None:
        super().__init__(name, rng)
        self.sysmon = sysmon and not legacy
        self.legacy = legacy
        self.machine_domain = machine_domain
        self._guid_counter = rng.randrange(0x100, 0x800)
        self.fresh_pids = False  # True: no PID is used twice (none reused after its end)

    # -- helpers ---------------------------------------------------------------------------

    def free_pid(self) -> int:
        """A PID no running process of this host has (Windows: multiples of 4); with
        ``fresh_pids``, one no process of it ever had."""
        running = {p.pid for p in self.procs if p.end_us is None or self.fresh_pids}
        while True:
            pid = self.rng.randrange(0x100, 0x3000, 4)
            if pid not in running:
                return pid

    def _guid(self, true_us: int) -> str:
        self._guid_counter += 1
        head = int.from_bytes(self.name.encode()[:4].ljust(4, b"_"), "big")
        seconds = true_us // SECOND
        return (f"{{{head:08x}-{seconds & 0xFFFF:04x}-{seconds >> 16 & 0xFFFF:04x}-"
                f"{self._guid_counter & 0xFFFF:04x}-{0x0B00 + (self._guid_counter >> 16):012x}}}")

    def _subject(self, a: Account, process: bool = False) -> list[tuple[str | None, str]]:
        name, domain = a.name, a.domain
        if process and self.machine_domain and a.sid == SYSTEM.sid:
            name, domain = self.name.split(".")[0].upper() + "$", self.machine_domain
        return [("SubjectUserSid", a.sid), ("SubjectUserName", name),
                ("SubjectDomainName", domain), ("SubjectLogonId", hex(a.logon_id))]

    def _sec(self, true_us: int, event_id: int, data: list[tuple[str | None, str]],
             version: int = 0, task: int = 0, tid: int | None = None, **extra: object) -> None:
        provider = LEGACY_PROVIDER if self.legacy else SECURITY_PROVIDER
        self.add(true_us, SECURITY, provider, event_id, data, version=version, task=task,
                 tid=self.rng.randrange(600, 9000, 4) if tid is None else tid, **extra)

    def _sysmon(self, true_us: int, event_id: int, data: list[tuple[str | None, str]],
                **extra: object) -> None:
        if self.sysmon:
            self.add(true_us, SYSMON, SYSMON_PROVIDER, event_id, data, version=5, level=4,
                     task=event_id, keywords=0x8000000000000000, pid=2244, tid=3012,
                     user_sid="S-1-5-18", **extra)

    @staticmethod
    def utc(true_us: int, logged_skew: int) -> str:
        from datetime import UTC, datetime
        return datetime.fromtimestamp((true_us + logged_skew) / SECOND, UTC).strftime(
            "%Y-%m-%d %H:%M:%S.%f")[:23]

    # -- sessions --------------------------------------------------------------------------

    def logon(self, true_us: int, account: Account, logon_type: str, source_ip: str = "-",
              workstation: str = "-", elevated: bool = False,
              privileges_us: int = 150) -> SimSession:
        """A logon (4624 / 528); ``elevated``: with its 4672, ``privileges_us`` after it
        (negative: before it, as Windows often writes it)."""
        s = SimSession(self.name, account, LOGON_TYPES[logon_type], true_us,
                       source_ip=source_ip, workstation=workstation, elevated=elevated)
        self.sessions.append(s)
        if self.legacy:
            self._sec(true_us, 528, [(None, account.name), (None, account.domain),
                                     (None, _legacy_id(account)),
                                     (None, str(s.logon_type)), (None, "User32"),
                                     (None, "Negotiate"), (None, workstation), (None, "-"),
                                     (None, "WS$"), (None, account.domain), (None, "(0x0,0x3E7)"),
                                     (None, "632"), (None, "-"), (None, source_ip), (None, "0")])
            return s
        self._sec(true_us, 4624, [
            *self._subject(SYSTEM), ("TargetUserSid", account.sid),
            ("TargetUserName", account.name), ("TargetDomainName", account.domain),
            ("TargetLogonId", hex(account.logon_id)), ("LogonType", str(s.logon_type)),
            ("LogonProcessName", "User32 "), ("AuthenticationPackageName", "Negotiate"),
            ("WorkstationName", workstation), ("ProcessId", "0x2b4"),
            ("ProcessName", r"C:\Windows\System32\svchost.exe"), ("IpAddress", source_ip),
            ("IpPort", "0"), ("ElevatedToken", "%%1842" if elevated else "%%1843")],
            version=2, task=12544)
        if elevated:
            self._sec(true_us + privileges_us, 4672, [*self._subject(account), (
                "PrivilegeList", "SeDebugPrivilege\n\t\t\tSeBackupPrivilege")], task=12548)
        return s

    def logoff(self, true_us: int, s: SimSession) -> None:
        s.end_us = true_us
        a = s.account
        if self.legacy:
            self._sec(true_us, 538, [(None, a.name), (None, a.domain),
                                     (None, _legacy_id(a)),
                                     (None, str(s.logon_type))])
            return
        self._sec(true_us, 4634, [("TargetUserSid", a.sid), ("TargetUserName", a.name),
                                  ("TargetDomainName", a.domain),
                                  ("TargetLogonId", hex(a.logon_id)),
                                  ("LogonType", str(s.logon_type))], task=12545)

    # -- processes -------------------------------------------------------------------------

    def existing(self, pid: int, image: str, command_line: str, account: Account = SYSTEM,
                 parent: SimProc | None = None) -> SimProc:
        """A process that started before the logs begin (no start record)."""
        proc = SimProc(f"{self.name}:{pid}:before", self.name, pid, image, command_line,
                       account, None, parent=parent, ppid=parent.pid if parent else 4,
                       guid=self._guid(0), cwd="C:\\Windows\\system32\\",
                       boot=len(self.boots))
        self.procs.append(proc)
        return proc

    def start(self, true_us: int, image: str, command_line: str, parent: SimProc,
              account: Account | None = None, pid: int | None = None, cwd: str = "",
              creator: Account | None = None) -> SimProc:
        """A process start: 4688 (592) and Sysmon 1. ``creator`` differs from ``account``
        for runas (4688 Subject vs Target)."""
        account = account or parent.account
        creator = creator or parent.account
        pid = self.free_pid() if pid is None else pid
        proc = SimProc(f"{self.name}:{pid}:{true_us}", self.name, pid, image, command_line,
                       account, true_us, parent=parent, ppid=parent.pid,
                       guid=self._guid(true_us), cwd=cwd or parent.cwd,
                       creator=creator if creator is not account else None,
                       boot=len(self.boots))
        self.procs.append(proc)
        at_sec = true_us + self.rng.randrange(200, 3000)
        if self.legacy:
            self._sec(at_sec, 592, [(None, str(pid)), (None, image), (None, str(parent.pid)),
                                    (None, creator.name), (None, creator.domain),
                                    (None, _legacy_id(creator))],
                      proc=proc, role="start")
            return proc
        if creator is account:
            target = [("TargetUserSid", "S-1-0-0"), ("TargetUserName", "-"),
                      ("TargetDomainName", "-"), ("TargetLogonId", "0x0")]
        else:
            target = [("TargetUserSid", account.sid), ("TargetUserName", account.name),
                      ("TargetDomainName", account.domain),
                      ("TargetLogonId", hex(account.logon_id))]
        self._sec(at_sec, 4688, [
            *self._subject(creator, True), ("NewProcessId", hex(pid)), ("NewProcessName", image),
            ("TokenElevationType", "%%1936"), ("ProcessId", hex(parent.pid)),
            ("CommandLine", command_line), *target, ("ParentProcessName", parent.image),
            ("MandatoryLabel", _label(account.integrity))], version=2, task=13312,
            proc=proc, role="start")
        hashes = ",".join(f"{k.upper()}={fake_hash(k, image)}"
                          for k in ("sha1", "md5", "sha256", "imphash"))
        at_sys = true_us + self.rng.randrange(500, 9000)
        self._sysmon(at_sys, 1, [
            ("RuleName", "-"), ("UtcTime", self.utc(true_us, self.clock.skew(true_us))),
            ("ProcessGuid", proc.guid), ("ProcessId", str(pid)), ("Image", image),
            ("CommandLine", command_line), ("CurrentDirectory", proc.cwd),
            ("User", account.user), ("LogonId", hex(account.logon_id)),
            ("IntegrityLevel", account.integrity), ("Hashes", hashes),
            ("ParentProcessGuid", parent.guid), ("ParentProcessId", str(parent.pid)),
            ("ParentImage", parent.image), ("ParentCommandLine", parent.command_line)],
            proc=proc, role="start")
        return proc

    def exit(self, true_us: int, proc: SimProc, status: str = "0x0") -> None:
        """A process end: 4689 (593) and Sysmon 5."""
        proc.end_us = true_us
        at_sec = true_us + self.rng.randrange(200, 3000)
        if self.legacy:
            self._sec(at_sec, 593, [(None, str(proc.pid)), (None, proc.image),
                                    (None, proc.account.name), (None, proc.account.domain),
                                    (None, _legacy_id(proc.account))],
                      proc=proc, role="end")
            return
        self._sec(at_sec, 4689, [*self._subject(proc.account, True), ("Status", status),
                                 ("ProcessId", hex(proc.pid)), ("ProcessName", proc.image)],
                  task=13313, proc=proc, role="end")
        self._sysmon(true_us + self.rng.randrange(500, 9000), 5, [
            ("RuleName", "-"), ("UtcTime", self.utc(true_us, self.clock.skew(true_us))),
            ("ProcessGuid", proc.guid), ("ProcessId", str(proc.pid)), ("Image", proc.image),
            ("User", proc.account.user)], proc=proc, role="end")

    def token(self, true_us: int, proc: SimProc, by: SimProc, account: Account) -> None:
        """600 (2003): ``by`` gave ``proc`` a primary token of ``account``."""
        proc.token_user = account.user
        self._sec(true_us, 600, [
            (None, str(by.pid)), (None, by.image), (None, by.account.name),
            (None, by.account.domain), (None, _legacy_id(by.account)),
            (None, str(proc.pid)), (None, proc.image), (None, account.name),
            (None, account.domain), (None, _legacy_id(account))])

    def dns(self, true_us: int, proc: SimProc, name: str, answer: str) -> None:
        self._sysmon(true_us, 22, [
            ("RuleName", "-"), ("UtcTime", self.utc(true_us, self.clock.skew(true_us))),
            ("ProcessGuid", proc.guid), ("ProcessId", str(proc.pid)), ("QueryName", name),
            ("QueryStatus", "0"), ("QueryResults", answer), ("Image", proc.image)],
            proc=proc, role="activity")

    def explicit(self, true_us: int, proc: SimProc, account: Account, server: str,
                 address: str = "-") -> None:
        """A 4648: ``proc`` used ``account``'s credentials against ``server`` (mstsc,
        runas /netonly, a PsExec): the start of a lateral movement."""
        self._sec(true_us, 4648, [
            *self._subject(proc.account), ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
            ("TargetUserName", account.name), ("TargetDomainName", account.domain),
            ("TargetLogonGuid", "{00000000-0000-0000-0000-000000000000}"),
            ("TargetServerName", server), ("TargetInfo", server),
            ("ProcessId", hex(proc.pid)), ("ProcessName", proc.image),
            ("IpAddress", address), ("IpPort", "0")], task=12544, proc=proc, role="activity",
            tid=7212)  # not drawn: the rest of the demo stays as it was

    def connect(self, true_us: int, proc: SimProc, ip: str, port: int) -> None:
        self._sysmon(true_us, 3, [
            ("RuleName", "-"), ("UtcTime", self.utc(true_us, self.clock.skew(true_us))),
            ("ProcessGuid", proc.guid), ("ProcessId", str(proc.pid)), ("Image", proc.image),
            ("Protocol", "tcp"), ("Initiated", "true"), ("DestinationIp", ip),
            ("DestinationPort", str(port))], proc=proc, role="activity")

    # -- the logs themselves ---------------------------------------------------------------

    def set_clock(self, true_us: int, skew_us: int, by: Account) -> None:
        """The clock is set so that it reads ``skew_us`` off true time (4616 logged).
        Declare it before the host's other events: each record is stamped when added."""
        old = self.clock.logged(true_us)
        self.clock.changes.append((true_us, skew_us))
        new = self.clock.logged(true_us)
        if not self.legacy:
            from proctrail.store.timefmt import iso
            self._sec(true_us, 4616, [*self._subject(by), ("PreviousTime", iso(old) or ""),
                                      ("NewTime", iso(new) or ""), ("ProcessId", "0x4"),
                                      ("ProcessName", "")], version=1, task=12288)

    def clear(self, true_us: int, by: Account) -> None:
        """The Security log is cleared: what came before is gone; 1102 opens the new log."""
        self.clears[SECURITY] = true_us
        self.add(true_us, SECURITY, EVENTLOG_PROVIDER, 1102, [
            ("SubjectUserSid", by.sid), ("SubjectUserName", by.name),
            ("SubjectDomainName", by.domain), ("SubjectLogonId", hex(by.logon_id))],
            task=104, keywords=0x4020000000000000)

    def restart(self, down_us: int, up_us: int) -> None:
        """The machine goes down at ``down_us`` (a crash: no 4609, no process or logon ends
        logged) and starts at ``up_us``: 4608, "Windows is starting up". Processes made
        from then on belong to the new boot; PIDs of the old one are free again."""
        for p in self.procs:
            if p.end_us is None:
                p.end_us = down_us  # it ended with the machine; no record says so
        for s in self.sessions:
            if s.end_us is None:
                s.end_us = down_us
        self.boots.append(up_us)
        self._sec(up_us, 4608, [], task=12288)
