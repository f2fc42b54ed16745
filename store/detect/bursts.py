"""Discovery bursts: many distinct reconnaissance commands in a short time, which no single
Sigma rule can see.

One ``whoami`` is nothing; ``whoami``, ``net group``, ``nltest`` and ``ipconfig`` within
minutes of each other in one logon session is an intruder (or a script) looking around.
Process starts are streamed from the store in time order, one group at a time (a logon
session; where a process has none, or runs as a service account, its parent process on its
host); a burst opens when :data:`MIN_DISTINCT` distinct discovery commands start within
:data:`WINDOW_US` and stays open while the next one starts within the window of the last.
Memory per group is one entry per distinct command name (a few dozen at most), whatever
the number of processes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Select, and_, case, func, or_, select

from proctrail.store.detect.attack import finding_tags
from proctrail.store.models import Process, ProcessSource

WINDOW_US = 10 * 60 * 1_000_000
MIN_DISTINCT = 4
SEVERITY = "medium"
SOURCE = "bursts"  # Finding.source of a burst: no rule file behind it
RULE_ID = "discovery-burst"
# Logon sessions every service shares: their processes are grouped by parent instead.
SERVICE_LOGONS = ("0x3e7", "0x3e4", "0x3e5")

# ATT&CK technique of each command (its tags are the union over a burst's commands).
_WINDOWS = {
    "whoami": "t1033", "nltest": "t1482", "ipconfig": "t1016", "systeminfo": "t1082",
    "hostname": "t1082", "quser": "t1033", "qwinsta": "t1033", "netstat": "t1049",
    "tasklist": "t1057", "nslookup": "t1016", "dsquery": "t1087.002",
}
_NET = {"user": "t1087", "group": "t1069", "localgroup": "t1069", "accounts": "t1201",
        "view": "t1018", "share": "t1135"}
_POWERSHELL = {"get-aduser": ("Get-ADUser", "t1087.002"),
               "get-adcomputer": ("Get-ADComputer", "t1018")}
_LINUX = {"whoami": "t1033", "hostname": "t1082", "ifconfig": "t1016", "netstat": "t1049",
          "ss": "t1049", "ps": "t1057", "w": "t1033", "last": "t1033"}
_CAT = {"/etc/passwd": "t1087.001", "/etc/shadow": "t1087.001", "/etc/group": "t1069.001"}
TECHNIQUE = {**_WINDOWS, **{f"net {k}": v for k, v in _NET.items()},
             **dict(_POWERSHELL.values()), **_LINUX, "id": "t1033", "uname -a": "t1082",
             "ip a": "t1016", "arp -a": "t1016", "route print": "t1016",
             **{f"cat {k}": v for k, v in _CAT.items()}}
# What an image's path must end with to be looked at: the SQL prefilter (a superset; the
# exact name is checked here, so no LIKE escape character is needed on either database).
_ENDINGS = tuple(sorted({f"{n}.exe" for n in (*_WINDOWS, "net", "net1", "query", "arp",
                                              "route", "powershell", "pwsh")}
                        | {f"/{n}" for n in (*_LINUX, "id", "uname", "ip", "cat", "arp")}))


def _words(command_line: str) -> list[str]:
    return command_line.lower().replace('"', " ").replace("'", " ").split()


def discovery_command(image: str, command_line: str) -> str | None:
    """The discovery command a process start is (``"net group"``, ``"uname -a"``), or None."""
    name = re.split(r"[\\/]", image)[-1].lower()
    words = _words(command_line)
    args = words[1:]
    if name.endswith(".exe"):
        base = name[:-4]
        if base in _WINDOWS:
            return base
        if base in ("net", "net1"):
            verb = next((a for a in args if not a.startswith("/")), "")
            return f"net {verb}" if verb in _NET else None
        if base == "query" and args[:1] in (["user"], ["session"]):
            return "quser" if args[0] == "user" else "qwinsta"
        if base == "arp" and any(a in ("-a", "/a", "-g") for a in args):
            return "arp -a"
        if base == "route" and "print" in args:
            return "route print"
        if base in ("powershell", "pwsh"):
            text = command_line.lower()
            return next((n for k, (n, _t) in _POWERSHELL.items() if k in text), None)
        return None
    if name in _LINUX:
        return name
    if name == "id":  # scripts ask ``id -u``; a person asks ``id`` (or about a user)
        return "id" if not any(a.startswith("-") for a in args) else None
    if name == "uname":
        return "uname -a" if any(a in ("-a", "--all") for a in args) else None
    if name == "ip":
        verb = next((a for a in args if not a.startswith("-")), "")
        return "ip a" if verb in ("a", "addr", "address") else None
    if name == "arp":
        return "arp -a" if "-a" in args or not args else None
    if name == "cat":
        return next((f"cat {f}" for f in _CAT if f in args), None)
    return None


@dataclass
class Burst:
    """Distinct discovery commands close together in one group, anchored on the first."""

    host_id: int
    process_id: int
    anchor_event: int | None
    pid: int | None
    logon_id: str
    image: str
    start_us: int
    end_us: int
    names: list[str] = field(default_factory=list)  # in the order they first ran
    runs: int = 0

    @property
    def note(self) -> str:
        """``discovery burst: 6 commands in 2m14s: whoami, net group, ...``."""
        return (f"discovery burst: {len(self.names)} commands in "
                f"{span(self.end_us - self.start_us)}: {', '.join(self.names)}")

    @property
    def tags(self) -> str:
        """The ATT&CK tags of its commands, as a finding stores them."""
        found = sorted({TECHNIQUE[n] for n in self.names})
        return finding_tags(["attack.discovery", *(f"attack.{t}" for t in found)])


def span(us: int) -> str:
    """``2m14s``, ``45s``, ``1h02m``."""
    seconds = max(us, 0) // 1_000_000
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class _Seen:
    process_id: int
    host_id: int
    pid: int | None
    logon_id: str
    image: str
    start_us: int


def _query(dialect: str) -> Select[tuple[object, ...]]:
    """The candidates in one stream ordered by group, then time: first the processes of
    users' logon sessions (``grp`` the session), then the others by host and parent."""
    like = Process.image.like if dialect == "sqlite" else Process.image.ilike  # no lower()
    candidate = and_(Process.start_us.is_not(None), or_(*(like(f"%{e}") for e in _ENDINGS)))
    session = case((and_(Process.session_id.is_not(None),
                         ~func.lower(Process.logon_id).in_(SERVICE_LOGONS)),
                    Process.session_id), else_=None)
    return (select(Process.id, Process.host_id, Process.pid, Process.logon_id, Process.image,
                   Process.command_line, Process.start_us, Process.parent_id,
                   session.label("grp"))
            .where(candidate, or_(session.is_not(None), Process.parent_id.is_not(None)))
            .order_by(session.is_(None), session, Process.host_id, Process.parent_id,
                      Process.start_us, Process.id))


def _anchor(conn: Connection, process_id: int) -> int | None:
    """The process's first start event (4688 or Sysmon 1), which its finding marks."""
    return conn.execute(select(func.min(ProcessSource.event_pk))
                        .where(ProcessSource.process_id == process_id,
                               ProcessSource.role == "start")).scalar()


def find_bursts(conn: Connection, tracked: Callable[[str], bool] | None = None,
                min_distinct: int | None = None,
                window_us: int | None = None) -> Iterator[Burst]:
    """Every discovery burst in the store, group by group; ``tracked`` (an image's path ->
    whether to look at it) leaves out what a config ignores. ``min_distinct`` and
    ``window_us`` default to :data:`MIN_DISTINCT` and :data:`WINDOW_US`."""
    least = MIN_DISTINCT if min_distinct is None else min_distinct
    window = WINDOW_US if window_us is None else window_us
    done: list[Burst] = []  # few and small; anchored once the stream is closed
    group: object = None
    last: dict[str, _Seen] = {}  # command name -> its latest run in this group
    burst: Burst | None = None
    rows = conn.execution_options(stream_results=True, yield_per=5000).execute(
        _query(conn.dialect.name))
    for r in rows:
        name = discovery_command(r.image, r.command_line)
        if name is None or (tracked is not None and not tracked(r.image)):
            continue
        key = ("s", r.grp) if r.grp is not None else ("p", r.host_id, r.parent_id)
        t = r.start_us
        if key != group or (burst is not None and t - burst.end_us > window):
            if burst is not None:
                done.append(burst)
            if key != group:
                last.clear()
            group, burst = key, None
        if burst is not None:
            if name not in burst.names:
                burst.names.append(name)
            burst.end_us, burst.runs = t, burst.runs + 1
            continue
        last[name] = _Seen(r.id, r.host_id, r.pid, r.logon_id or "", r.image, t)
        live = sorted((s.start_us, s.process_id, n) for n, s in last.items()
                      if t - s.start_us <= window)
        if len(live) >= least:
            first = last[live[0][2]]
            burst = Burst(first.host_id, first.process_id, None, first.pid, first.logon_id,
                          first.image, first.start_us, t, [n for _t, _id, n in live],
                          len(live))
            last.clear()
    if burst is not None:
        done.append(burst)
    for b in done:
        b.anchor_event = _anchor(conn, b.process_id)
        yield b
