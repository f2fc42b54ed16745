"""The truth of a scenario: what correlation must find in the logs as written.

Not what really happened, but what the surviving records can show: a process whose start
records were cleared is ``start_missing``; one whose parent left no record hangs under a
placeholder for the parent's PID; times are the earliest surviving record's logged time
(Windows stamps 4688 and Sysmon 1 a few milliseconds apart; auditd in milliseconds).
"""

from __future__ import annotations

from typing import Any

from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import SECURITY, Host, SimProc, SimSession
from proctrail.generate.windows import WindowsHost
from proctrail.store.timefmt import iso

# Flags the truth states exactly; others (parent_mismatch, exec ...) are not planted.
CHECKED_FLAGS = ("start_missing", "end_missing", "placeholder", "pid_reused", "user_changed",
                 "token_changed", "clock_jump")


def _logged(host: Host, record: Any) -> int:
    if isinstance(host, LinuxHost):
        return record.true_us // 1000 * 1000  # auditd's milliseconds
    return record.logged_us


def _alive(host: Host, record: Any) -> bool:
    return host.survives(record) if not isinstance(host, LinuxHost) else True


def _user(host: Host, p: SimProc) -> str:
    if isinstance(host, LinuxHost):
        return str(p.account.logon_id)
    if isinstance(host, WindowsHost) and host.legacy:
        return (p.creator or p.account).user  # 592 names the creator only
    return p.account.user


def _logon_id(host: Host, p: SimProc) -> str:
    if isinstance(host, LinuxHost):
        return p.ses
    if isinstance(host, WindowsHost) and not host.sysmon:
        return hex((p.creator or p.account).logon_id)
    return hex(p.account.logon_id)


def lifetime_key(host: str, pid: int, image: str, start: str | None, end: str | None) -> str:
    """How a truth lifetime and a correlated one are matched."""
    return f"{host.lower()}|{pid}|{image.lower()}|{start or end or 'placeholder'}"


def host_truth(host: Host) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lifetimes and sessions correlation must find for one host."""
    lifetimes: dict[int, dict[str, Any]] = {}  # id(SimProc) -> lifetime
    placeholders: dict[tuple[int, str], dict[str, Any]] = {}
    procs = sorted(host.procs, key=lambda p: (p.start_us is None, p.start_us or 0))
    for p in procs:
        starts = [r for r in p.records if r.role == "start" and _alive(host, r)]
        ends = [r for r in p.records if r.role == "end" and _alive(host, r)]
        if not starts and not ends:
            continue
        start = min((_logged(host, r) for r in starts), default=None)
        end = min((_logged(host, r) for r in ends), default=None)
        flags = set()
        if not starts:
            flags.add("start_missing")
        if not ends:
            flags.add("end_missing")
        if p.creator is not None and any(r.event_id == 4688 for r in starts):
            flags.add("user_changed")
        if p.token_user and p.token_user != _user(host, p):
            flags.add("token_changed")
        if start is not None and end is not None and end < start:
            flags.add("clock_jump")
        lifetimes[id(p)] = {
            "host": host.name, "pid": p.pid, "image": p.image, "command_line": p.command_line,
            "start": iso(start), "end": iso(end),
            "user": _user(host, p) if starts else "",  # who it ran as is told at its start
            "logon_id": _logon_id(host, p), "flags": sorted(flags), "parent": None,
            "_proc": p, "_starts": bool(starts)}
    last: dict[int, dict[str, Any]] = {}
    for p in procs:  # a start under a PID whose last process seems to run on: reused
        lt = lifetimes.get(id(p))
        if lt is None:
            continue
        before = last.get(p.pid)
        if lt["_starts"] and before is not None and "end_missing" in before["flags"]:
            lt["flags"] = sorted({*lt["flags"], "pid_reused"})
        last[p.pid] = lt
    for p in procs:
        lt = lifetimes.get(id(p))
        if lt is None or not lt["_starts"] or p.parent is None:
            continue
        parent = lifetimes.get(id(p.parent))
        if parent is not None:
            lt["parent"] = _key(parent)
            if not parent["_starts"]:  # met first through its child: a placeholder
                parent["flags"] = sorted({*parent["flags"], "placeholder"})
            continue
        # The creator left no record: its children describe a placeholder (legacy 592 names
        # no parent image).
        image = "" if isinstance(host, WindowsHost) and host.legacy else p.parent.image
        if isinstance(host, LinuxHost):
            image = ""
        holder = placeholders.setdefault((p.ppid, image), {
            "host": host.name, "pid": p.ppid, "image": image, "command_line": "",
            "start": None, "end": None, "user": "", "logon_id": "",
            "flags": ["end_missing", "placeholder", "start_missing"], "parent": None})
        lt["parent"] = _key(holder)
    out = []
    for lt in [*lifetimes.values(), *placeholders.values()]:
        lt.pop("_proc", None)
        lt.pop("_starts", None)
        lt["key"] = _key(lt)
        out.append(lt)
    return out, [_session(host, s) for s in host.sessions if _session_seen(host, s)]


def _key(lt: dict[str, Any]) -> str:
    return lifetime_key(lt["host"], lt["pid"], lt["image"], lt["start"], lt["end"])


def _session_seen(host: Host, s: SimSession) -> bool:
    if isinstance(host, LinuxHost):
        return True
    return any(r.channel == SECURITY and r.event_id in (4624, 528) and host.survives(r)
               and r.true_us == s.start_us for r in host.records)


def _session(host: Host, s: SimSession) -> dict[str, Any]:
    if isinstance(host, LinuxHost):
        return {"host": host.name, "logon_id": s.key, "user": s.account.name,
                "start": iso(s.start_us // 1000 * 1000 + 3000) if s.start_us else None}
    types = {2: "Interactive", 3: "Network", 5: "Service", 10: "RemoteInteractive"}
    return {"host": host.name, "logon_id": hex(s.account.logon_id), "user": s.account.user,
            "logon_type": types.get(s.logon_type, str(s.logon_type)),
            "source_ip": "" if s.source_ip == "-" else s.source_ip,
            "start": iso(host.clock.logged(s.start_us)) if s.start_us else None}


def truth(hosts: list[Host], anomalies: list[dict[str, Any]], scenario: str,
          seed: int) -> dict[str, Any]:
    """The scenario's truth file."""
    lifetimes: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for host in hosts:
        lts, ss = host_truth(host)
        lifetimes += lts
        sessions += ss
    lifetimes.sort(key=lambda lt: lt["key"])
    return {"scenario": scenario, "seed": seed, "hosts": sorted(h.name for h in hosts),
            "checked_flags": list(CHECKED_FLAGS), "lifetimes": lifetimes,
            "sessions": sessions, "anomalies": anomalies}


COMPARED = ("start", "end", "user", "logon_id", "flags", "parent")


def diff_lifetimes(exported: list[dict[str, Any]], expected: list[dict[str, Any]]
                   ) -> dict[str, list[Any]]:
    """How correlated lifetimes (``export processes`` records) differ from the truth:
    ``missing`` and ``extra`` keys, and ``different`` (key, field, expected, found)."""
    by_id = {p["id"]: p for p in exported}

    def key(p: dict[str, Any]) -> str:
        return lifetime_key(p["host"], p["pid"], p["image"], p["start"], p["end"])

    found = {}
    for p in exported:
        parent = by_id.get(p["parent_id"])
        found[key(p)] = {"start": p["start"], "end": p["end"], "user": p["user"],
                         "logon_id": p["logon_id"], "parent": key(parent) if parent else None,
                         "flags": sorted(set(p["flags"]) & set(CHECKED_FLAGS))}
    want = {lt["key"]: lt for lt in expected}
    different = [(k, name, want[k][name], found[k][name])
                 for k in sorted(want.keys() & found.keys()) for name in COMPARED
                 if want[k][name] != found[k][name]]
    return {"missing": sorted(want.keys() - found.keys()),
            "extra": sorted(found.keys() - want.keys()), "different": different}
