"""What a scenario simulates: hosts whose processes and logons happen at true times, and
the log records each of them writes (Security, Sysmon, legacy Security, auditd).

A host knows its clock (logged time = true time + skew, changed by a clock change), its
channels (records are numbered in true order when written out; gaps and clears drop
some; a slice holds a window of them, numbered from far into the log), and every process
and session with the truth about it. :mod:`generate.truth` turns that into what
correlation must find; :mod:`generate.formats` writes the records.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

SECURITY = "Security"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
AUDIT = "auditd"
SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing",
                     "{54849625-5478-4994-a5ba-3e3b0328c30d}")
LEGACY_PROVIDER = ("Security", None)
EVENTLOG_PROVIDER = ("Microsoft-Windows-Eventlog", "{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}")
SYSMON_PROVIDER = ("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
SECOND = 1_000_000


@dataclass(slots=True)
class Record:
    """One Windows event as it will be written (``data``: name None for positional)."""

    true_us: int
    logged_us: int
    host: str
    channel: str
    provider: tuple[str, str | None]
    event_id: int
    data: list[tuple[str | None, str]]
    version: int = 0
    level: int = 0
    task: int = 0
    keywords: int = 0x8020000000000000
    pid: int = 4
    tid: int = 0
    user_sid: str | None = None
    order: int = 0
    record_id: int = 0  # given when the channel is written out
    proc: SimProc | None = None  # the process it starts or ends (truth bookkeeping)
    role: str = ""  # start | end | activity (Sysmon 3, 22)
    lost: bool = False  # numbered, never written: a gap in the record numbers
    via: str = ""  # the collector path it came by, when that shapes it ("nxlog-old")


@dataclass(slots=True)
class Account:
    """Who a process runs as."""

    domain: str
    name: str
    sid: str
    logon_id: int
    integrity: str = "Medium"

    @property
    def user(self) -> str:
        return f"{self.domain}\\{self.name}"


@dataclass(slots=True, eq=False)
class SimSession:
    """A logon session as it really happened."""

    host: str
    account: Account
    logon_type: int
    start_us: int | None
    end_us: int | None = None
    source_ip: str = "-"
    workstation: str = "-"
    elevated: bool = False
    key: str = ""


@dataclass(slots=True, eq=False)
class SimProc:
    """A process as it really ran; which of its records survive decides what a log shows."""

    key: str
    host: str
    pid: int
    image: str
    command_line: str
    account: Account
    start_us: int | None  # None: started before the logs begin
    parent: SimProc | None = None
    ppid: int = 0
    end_us: int | None = None  # None: still running when the logs end
    guid: str = ""
    cwd: str = ""
    creator: Account | None = None  # runas: who started it, when not ``account``
    records: list[Record] = field(default_factory=list)
    token_user: str = ""  # a 600 gave it this user's token
    ses: str = ""  # Linux: the audit session it ran in
    boot: int = 0  # Windows: how many boots (4608) of its host came before it

    @property
    def name(self) -> str:
        sep = "\\" if "\\" in self.image else "/"
        return self.image.rsplit(sep, 1)[-1]


def fake_hash(kind: str, text: str) -> str:
    """A made-up but stable digest of ``text`` (sizes of the named algorithm)."""
    sizes = {"md5": 32, "sha1": 40, "sha256": 64, "imphash": 32}
    return hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()[:sizes[kind]].upper()


class Clock:
    """A host's clock: what it logged for a true time."""

    def __init__(self) -> None:
        self.changes: list[tuple[int, int]] = []  # (true time, skew from then on)

    def skew(self, true_us: int) -> int:
        skew = 0
        for at, value in self.changes:
            if true_us >= at:
                skew = value
        return skew

    def logged(self, true_us: int) -> int:
        return true_us + self.skew(true_us)


class Host:
    """What every simulated host has: a name, a clock, records, processes and sessions."""

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name = name
        self.rng = rng
        self.clock = Clock()
        self.records: list[Record] = []
        self.procs: list[SimProc] = []
        self.sessions: list[SimSession] = []
        self.clears: dict[str, int] = {}  # channel -> true time it was cleared
        # How a channel's records name the machine, where not ``name`` (the FQDN):
        # a collector or channel that writes the NetBIOS name, another casing.
        self.computers: dict[str, str] = {}
        self.boots: list[int] = []  # true times the host started again (4608)
        # "nxlog": its JSON lines are NXLog's flat rows; "export": an exporter's flat rows,
        # every channel in one file, local time written as UTC (``export_offsets``).
        self.collector = ""
        # (logged time from, offset): how far the exporter's times are off from then on.
        self.export_offsets: list[tuple[int, int]] = []
        # A slice of long logs (a collector's export that starts mid-log): the files hold
        # only the records of this window of true time, [from, to); what came before and
        # after is not in them (not lost from them: no gap). ``first_records``: the record
        # number each channel's file begins at (the log held that many records before).
        self.window: tuple[int, int] | None = None
        self.first_records: dict[str, int] = {}
        self._order = 0

    def add(self, true_us: int, channel: str, provider: tuple[str, str | None], event_id: int,
            data: list[tuple[str | None, str]], **extra: object) -> Record:
        self._order += 1
        computer = self.computers.get(channel, self.name)
        record = Record(true_us, self.clock.logged(true_us), computer, channel, provider,
                        event_id, data, order=self._order, **extra)  # type: ignore[arg-type]
        self.records.append(record)
        if record.proc is not None:
            record.proc.records.append(record)
        return record

    def lose(self, channel: str, from_us: int, to_us: int) -> int:
        """The channel's records in [from_us, to_us) of true time are lost (a gap in the
        record numbers); returns how many."""
        lost = [r for r in self.records if r.channel == channel and from_us <= r.true_us < to_us]
        for r in lost:
            r.lost = True
        return len(lost)

    @property
    def channels(self) -> list[str]:
        return sorted({r.channel for r in self.records})

    def written(self, channel: str) -> list[Record]:
        """The channel's records as the log holds them: in true order and numbered, the
        lost ones left out (a gap), those before a clear gone; of a slice, only those of its
        window, the first numbered ``first_records[channel]``."""
        out = sorted((r for r in self.records if r.channel == channel),
                     key=lambda r: (r.true_us, r.order))
        offset = 0  # a slice's first record has the number its channel's file begins at
        first = self.first_records.get(channel)
        inside = [i for i, r in enumerate(out) if self.in_window(r)]
        if first is not None and inside:
            offset = first - inside[0] - 1
            if offset < 0:
                raise ValueError(f"{self.name} {channel}: a slice beginning at record {first} "
                                 f"after {inside[0]} records")
        kept = []
        for number, r in enumerate(out, 1 + offset):
            r.record_id = number
            if self.survives(r):
                kept.append(r)
        return kept

    def export_offset(self, logged_us: int) -> int:
        """How far the exporter put a record logged at ``logged_us`` off (0: not at all)."""
        offset = 0
        for at, value in self.export_offsets:
            if logged_us >= at:
                offset = value
        return offset

    def survives(self, record: Record) -> bool:
        """Whether a record is in the written log (not lost, not before a clear)."""
        cleared = self.clears.get(record.channel)
        return not record.lost and (cleared is None or record.true_us >= cleared) \
            and self.in_window(record)

    def in_window(self, record: Record) -> bool:
        """Whether a record is in the slice the files hold (every record, but for a slice)."""
        return self.window is None or self.window[0] <= record.true_us < self.window[1]
