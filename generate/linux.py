"""A simulated Linux host and its raw auditd log: PAM sessions (USER_START/USER_END with
``ses`` and ``auid``), execve (SYSCALL, EXECVE, CWD, PATH, PROCTITLE) and exit_group."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from proctrail.generate.model import SECOND, Account, Host, SimProc, SimSession

UNSET = 4294967295


@dataclass(slots=True)
class AuditEvent:
    """One audit event: its records share ``msg=audit(TIME:SERIAL)``."""

    true_us: int
    records: list[tuple[str, str]]
    proc: SimProc | None = None
    role: str = ""
    serial: int = 0
    lines: list[str] = field(default_factory=list)


def audit_str(value: str | bytes) -> str:
    """A value as the kernel logs untrusted strings: quoted, or hex if it must be."""
    raw = value.encode() if isinstance(value, str) else value
    if any(b == 0x22 or b < 0x21 or b > 0x7E for b in raw):
        return raw.hex().upper()
    return f'"{raw.decode()}"'


class LinuxHost(Host):
    """auditd of one Linux machine (``node=`` names it)."""

    def __init__(self, name: str, rng: random.Random, first_serial: int = 1000) -> None:
        super().__init__(name, rng)
        self.audit: list[AuditEvent] = []
        self.first_serial = first_serial
        self._next_pid = rng.randrange(1500, 3000)

    def free_pid(self) -> int:
        self._next_pid += self.rng.randrange(1, 4)
        return self._next_pid

    def _event(self, true_us: int, records: list[tuple[str, str]], **extra: object) -> None:
        event = AuditEvent(true_us, records, **extra)  # type: ignore[arg-type]
        self.audit.append(event)
        if event.proc is not None:
            event.proc.records.append(event)  # type: ignore[arg-type]

    def session(self, true_us: int, account: Account, ses: int, exe: str = "/usr/sbin/sshd",
                addr: str = "?", terminal: str = "ssh") -> SimSession:
        """PAM opens a session: LOGIN (auid and ses set), USER_START."""
        s = SimSession(self.name, account, 0, true_us, source_ip=addr, key=str(ses))
        self.sessions.append(s)
        uid = account.logon_id  # for Linux accounts: the uid
        self._event(true_us, [("LOGIN", f"pid={ses + 1000} uid=0 subj=unconfined "
                                        f"old-auid={UNSET} auid={uid} tty=(none) "
                                        f"old-ses={UNSET} ses={ses} res=1")])
        self._event(true_us + 3000, [("USER_START", self._pam(
            "PAM:session_open", ses, uid, account.name, exe, addr, terminal))])
        return s

    def end_session(self, true_us: int, s: SimSession, exe: str = "/usr/sbin/sshd",
                    terminal: str = "ssh") -> None:
        s.end_us = true_us
        self._event(true_us, [("USER_END", self._pam(
            "PAM:session_close", int(s.key), s.account.logon_id, s.account.name, exe,
            s.source_ip, terminal))])

    @staticmethod
    def _pam(op: str, ses: int, uid: int, acct: str, exe: str, addr: str,
             terminal: str) -> str:
        return (f"pid={ses + 1000} uid=0 auid={uid} ses={ses} subj=unconfined "
                f"msg='op={op} grantors=pam_unix acct={audit_str(acct)} exe={audit_str(exe)} "
                f"hostname={addr} addr={addr} terminal={terminal} res=success'")

    def existing(self, pid: int, image: str, command_line: str, account: Account) -> SimProc:
        proc = SimProc(f"{self.name}:{pid}:before", self.name, pid, image, command_line,
                       account, None, ppid=1, cwd="/")
        self.procs.append(proc)
        return proc

    def execve(self, true_us: int, parent: SimProc, argv: list[str], exe: str,
               session: SimSession | None, account: Account | None = None,
               cwd: str = "/root", pid: int | None = None) -> SimProc:
        """A fork and execve: a new process running ``exe``."""
        account = account or parent.account
        pid = self.free_pid() if pid is None else pid
        proc = SimProc(f"{self.name}:{pid}:{true_us}", self.name, pid, exe, " ".join(argv),
                       account, true_us, parent=parent, ppid=parent.pid, cwd=cwd)
        self.procs.append(proc)
        ses = int(session.key) if session else UNSET
        proc.ses = str(ses)
        auid = session.account.logon_id if session else UNSET
        who = (f"ppid={parent.pid} pid={pid} auid={auid} uid={account.logon_id} "
               f"gid={account.logon_id} euid={account.logon_id} tty=(none) ses={ses}")
        comm = exe.rsplit("/", 1)[-1][:15]
        args = " ".join(f"a{i}={audit_str(a)}" for i, a in enumerate(argv))
        title = "proctitle=" + audit_str(b"\0".join(a.encode() for a in argv)[:128])
        self._event(true_us, [
            ("SYSCALL", f"arch=c000003e syscall=59 success=yes exit=0 items=1 {who} "
                        f'comm={audit_str(comm)} exe={audit_str(exe)} key="exec"'),
            ("EXECVE", f"argc={len(argv)} {args}"), ("CWD", f"cwd={audit_str(cwd)}"),
            ("PATH", f"item=0 name={audit_str(argv[0])} nametype=NORMAL"),
            ("PROCTITLE", title)], proc=proc, role="start")
        return proc

    def exit(self, true_us: int, proc: SimProc, session: SimSession | None) -> None:
        proc.end_us = true_us
        ses = int(session.key) if session else UNSET
        auid = session.account.logon_id if session else UNSET
        uid = proc.account.logon_id
        comm = proc.image.rsplit("/", 1)[-1][:15]
        self._event(true_us, [(
            "SYSCALL", f"arch=c000003e syscall=231 a0=0 items=0 ppid={proc.ppid} pid={proc.pid} "
                       f"auid={auid} uid={uid} gid={uid} euid={uid} tty=(none) ses={ses} "
                       f'comm={audit_str(comm)} exe={audit_str(proc.image)} key="exit"')],
            proc=proc, role="end")

    def written_audit(self) -> list[AuditEvent]:
        """The events in time order with serials and their ``node=... type=...`` lines."""
        out = sorted(self.audit, key=lambda e: e.true_us)
        for serial, e in enumerate(out, self.first_serial):
            e.serial = serial
            stamp = f"{e.true_us // SECOND}.{e.true_us % SECOND // 1000:03d}:{serial}"
            records = [*e.records, ("EOE", "")] if len(e.records) > 1 else e.records
            e.lines = [f"node={self.name} type={rtype} msg=audit({stamp}): {body}".rstrip()
                       for rtype, body in records]
        return out
