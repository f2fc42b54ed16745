"""Sessions read for the sessions screen: people first, machines after, each in time order.

The rows are :func:`proctrail.store.queries.browse.session_rows`; this module orders them
by who logged on how (:func:`session_group`) and names each machine as briefly as the case
allows (:func:`~proctrail.store.queries.findings.short_hosts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from proctrail.store.queries.browse import SessionRow, session_rows
from proctrail.store.queries.filters import Filter
from proctrail.store.queries.findings import case_short_hosts

# A person at the keyboard or on a remote desktop (Windows logon types 2, 10, 11, 12, 7,
# 13, 9: runas /netonly, pass-the-hash's favourite), or a Linux login.
INTERACTIVE = frozenset({
    "Interactive", "RemoteInteractive", "CachedInteractive", "CachedRemoteInteractive",
    "Unlock", "CachedUnlock", "NewCredentials", "ssh", "console", "graphical"})
# An account reaching in (type 3, 8), switching user, or a session known only from its
# processes (no logon event): a person's matters, a machine's rarely.
REACHING = frozenset({"Network", "NetworkCleartext", "sudo", "su", "", "auditd session",
                      "systemd user"})
SCHEDULED = frozenset({"cron"})
# Windows' own accounts: services, virtual accounts of the desktop, anonymous.
_SYSTEM_DOMAINS = frozenset({"nt authority", "nt service", "window manager",
                             "font driver host", "iis apppool", "nt virtual machine"})
_SYSTEM_NAMES = frozenset({"system", "local service", "network service", "anonymous logon",
                           "-", ""})

GROUPS = ("interactive", "network", "service", "scheduled")  # session_group's names


def is_person(user: str) -> bool:
    """True unless ``user`` is a machine account (``X$``), a Windows service or virtual
    account (``NT AUTHORITY\\SYSTEM``, ``Window Manager\\DWM-1``) or unknown."""
    domain, _, name = user.rpartition("\\")
    if name.endswith("$") or domain.lower() in _SYSTEM_DOMAINS:
        return False
    return name.lower() not in _SYSTEM_NAMES


def session_group(logon_type: str, user: str) -> int:
    """0: a person logged on interactively or remotely; 1: a person's network logon (or a
    session with no logon event); 2: services, batch jobs, the system, machine accounts;
    3: cron. An index into :data:`GROUPS`."""
    if logon_type in SCHEDULED:
        return 3
    if not is_person(user):
        return 2
    if logon_type in INTERACTIVE:
        return 0
    return 1 if logon_type in REACHING else 2


@dataclass
class SessionList:
    """The sessions as the screen orders them, with what it needs to show them briefly."""

    rows: list[SessionRow]
    groups: dict[int, int] = field(default_factory=dict)  # session id -> session_group
    hosts: dict[str, str] = field(default_factory=dict)  # machine name -> short name
    one_year: bool = True  # every start in one calendar year: times may omit it


def ranked_sessions(engine: Engine, flt: Filter | None = None) -> SessionList:
    """The sessions ``flt`` selects, interactive and remote people first, then people's
    network logons, then services and machines, cron last; each group in start order
    (unknown starts last), then host."""
    rows = session_rows(engine, flt)
    groups = {r.id: session_group(r.logon_type, r.user) for r in rows}
    rows.sort(key=lambda r: (groups[r.id], r.start_us is None, r.start_us or 0,
                             r.host.lower(), r.id))
    with engine.connect() as conn:
        hosts = case_short_hosts(conn)
    for r in rows:
        hosts.setdefault(r.host, r.host)
    years = {datetime.fromtimestamp(r.start_us / 1_000_000, UTC).year
             for r in rows if r.start_us is not None}
    return SessionList(rows, groups, hosts, len(years) <= 1)
