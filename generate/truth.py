"""The truth of a scenario: what correlation must find in the logs as written.

Not what really happened, but what the surviving records can show: a process whose start
records were cleared is ``start_missing``; one whose parent left no record hangs under a
placeholder for the parent's PID; times are the earliest surviving record's time (a
Sysmon record's UtcTime, another Windows record's logged time, auditd's in milliseconds).

The rules correlation follows (issue 13), for every scenario:

- identity: a process is its Sysmon ProcessGuid (never the all-zero GUID), else host, PID
  and start. A Sysmon 1 or 5 whose ProcessId a collector dropped (older NXLog) is still
  that process. Its PID is learnt from any surviving record of the same process that
  carries it (the 4688 or 4689 it merges with, a Sysmon 1, 5, 3 or 22 with ProcessId) or
  from a surviving child's Sysmon 1 (ParentProcessGuid naming it, its ParentProcessId);
  else it is unknown: the exported ``pid`` is null (``None``).
- time: Sysmon's ``UtcTime`` field (milliseconds) is a Sysmon record's time, not its header
  (System/TimeCreated, NXLog's EventTime), which can lag it by seconds. A 4688 and a
  Sysmon 1 of one process are one lifetime starting at the earlier of the 4688 header
  time and the Sysmon 1 UtcTime; its end is the earlier of the 4689 header time and the
  Sysmon 5 UtcTime.
- session and user: a 4688 whose TargetLogonId is present and not ``0x0`` runs in that
  logon, as TargetDomainName\\TargetUserName (its Subject is its creator); else in
  SubjectLogonId's. A Sysmon 1 runs in its LogonId, as its User. S-1-5-18 is
  ``NT AUTHORITY\\SYSTEM`` however a 4688 names it (``CORP\\FS01$``).
- elevation: a 4672 within 2 s either side of a 4624 of its SubjectLogonId (Windows often
  writes it a few microseconds first) makes that session ``elevated``.
- hosts: a bare NetBIOS name and the one FQDN whose first label it is (in any case) are
  one host, named by the FQDN as written; two FQDNs sharing a first label
  (``db01.corp.example``, ``db01.lab.example``) stay two hosts.
- boots: a 4608 ("Windows is starting up") ends every process of the host's boot before
  it: they are ``end_missing`` (no end time), a process after it is never ``pid_reused``
  by one before it, and never a child of one before it: a PPID with no process since the
  boot gets a new placeholder. An all-zero ParentProcessGuid names no parent (the PPID
  does); PPID 0 (Windows' Idle) is no parent at all.
- formats: the truth is that of the records as one format holds them
  (:func:`~proctrail.generate.formats.written_data`). A 4688 or 4689 without its PID
  field (a 4689 whose ``ProcessId`` an older NXLog overwrote, in its JSON rows) is placed
  in no process: an ``unplaced_event`` each, and its process has no start or end from it.
  An export that wrote local time as UTC is read moved back (correlation finds its
  offsets from the 4688s and Sysmon 1s of the same processes): its times are the true
  ones, in milliseconds, and it is one ``time_offset`` anomaly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from proctrail.generate.formats import written_data, written_us
from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import SECOND, SECURITY, SYSMON, Host, Record, SimProc, SimSession
from proctrail.generate.windows import WindowsHost
from proctrail.store.timefmt import iso

ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
PRIVILEGE_US = 2 * SECOND  # a 4672 this close to its 4624 elevates it
# The field of a process record that carries the process's own PID.
_PID_FIELDS = {(SECURITY, 4688): "NewProcessId", (SECURITY, 4689): "ProcessId",
               (SYSMON, 1): "ProcessId", (SYSMON, 5): "ProcessId", (SYSMON, 3): "ProcessId",
               (SYSMON, 22): "ProcessId"}

# Flags the truth states exactly; others (parent_mismatch, exec ...) are not planted.
CHECKED_FLAGS = ("start_missing", "end_missing", "placeholder", "pid_reused", "user_changed",
                 "token_changed", "clock_jump")


def _logged(host: Host, record: Any, fmt: str) -> int:
    if isinstance(host, LinuxHost):
        return record.true_us // 1000 * 1000  # auditd's milliseconds
    return written_us(host, record, fmt)


def _alive(host: Host, record: Any, fmt: str) -> bool:
    """Whether a record is in the log as ``fmt`` holds it and correlation can place it."""
    if isinstance(host, LinuxHost):
        return True
    return host.survives(record) and placed(host, record, fmt)


def placed(host: Host, record: Record, fmt: str) -> bool:
    """Whether correlation can place a start or end record in a process: a 4688 or 4689
    must name its PID (Sysmon's name their ProcessGuid)."""
    return (record.channel != SECURITY or record.role not in ("start", "end")
            or names_pid(record, fmt, host.collector))


def field(record: Record, name: str, fmt: str = "evtx", collector: str = "") -> str | None:
    """A named data field of a Windows record (as ``fmt`` holds it for a host collected by
    ``collector``), None when the record has none."""
    for key, value in written_data(record, fmt, collector):
        if key == name:
            return value
    return None


def utc_time(record: Record) -> int | None:
    """A Sysmon record's ``UtcTime`` in microseconds, None without one."""
    text = field(record, "UtcTime")
    if not text:
        return None
    when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    return int(when.timestamp()) * SECOND + when.microsecond


def _when(host: Host, record: Any, fmt: str) -> int:
    """A start or end record's time: a Sysmon record's UtcTime, not its header."""
    if not isinstance(host, LinuxHost) and record.channel == SYSMON:
        utc = utc_time(record)
        if utc is not None:
            return utc
    return _logged(host, record, fmt)


def names_pid(record: Record, fmt: str = "evtx", collector: str = "") -> bool:
    """Whether a record carries its process's PID (a collector may have dropped it)."""
    name = _PID_FIELDS.get((record.channel, record.event_id))
    return name is None or field(record, name, fmt, collector) is not None


def _pid_known(host: Host, p: SimProc, children: list[SimProc], fmt: str) -> bool:
    """Whether the surviving records tell ``p``'s PID (see the module's rules)."""
    if isinstance(host, LinuxHost):
        return True
    if any(r.role in ("start", "end", "activity") and _alive(host, r, fmt)
           and names_pid(r, fmt, host.collector) for r in p.records):
        return True
    return any(r.channel == SYSMON and r.role == "start" and _alive(host, r, fmt)
               and field(r, "ParentProcessGuid") == p.guid != ZERO_GUID
               and field(r, "ParentProcessId") is not None
               for c in children for r in c.records)


def _user(host: Host, p: SimProc) -> str:
    if isinstance(host, LinuxHost):
        return str(p.account.logon_id)
    if isinstance(host, WindowsHost) and host.legacy:
        return (p.creator or p.account).user  # 592 names the creator only
    return p.account.user


def _logon_id(host: Host, p: SimProc) -> str:
    if isinstance(host, LinuxHost):
        return p.ses
    if isinstance(host, WindowsHost) and host.legacy:
        return hex((p.creator or p.account).logon_id)  # 592 names the creator's logon only
    return hex(p.account.logon_id)  # the 4688's TargetLogonId where it has one


def lifetime_key(host: str, pid: int | None, image: str, start: str | None,
                 end: str | None) -> str:
    """How a truth lifetime and a correlated one are matched."""
    return f"{host.lower()}|{pid}|{image.lower()}|{start or end or 'placeholder'}"


def host_truth(host: Host, fmt: str = "evtx"
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lifetimes and sessions correlation must find for one host, in format ``fmt``."""
    lifetimes: dict[int, dict[str, Any]] = {}  # id(SimProc) -> lifetime
    placeholders: dict[tuple[int, int, str], dict[str, Any]] = {}
    procs = sorted(host.procs, key=lambda p: (p.start_us is None, p.start_us or 0))
    children: dict[int, list[SimProc]] = {}
    for p in procs:
        if p.parent is not None:
            children.setdefault(id(p.parent), []).append(p)
    for p in procs:
        starts = [r for r in p.records if r.role == "start" and _alive(host, r, fmt)]
        ends = [r for r in p.records if r.role == "end" and _alive(host, r, fmt)]
        if not starts and not ends:
            continue
        start = min((_when(host, r, fmt) for r in starts), default=None)
        end = min((_when(host, r, fmt) for r in ends), default=None)
        pid = p.pid if _pid_known(host, p, children.get(id(p), []), fmt) else None
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
            "host": host.name, "pid": pid, "image": p.image, "command_line": p.command_line,
            "start": iso(start), "end": iso(end),
            "user": _user(host, p) if starts else "",  # who it ran as is told at its start
            "logon_id": _logon_id(host, p), "flags": sorted(flags), "parent": None,
            "_proc": p, "_starts": bool(starts)}
    last: dict[tuple[int, int], dict[str, Any]] = {}
    for p in procs:  # a start under a PID whose last process seems to run on: reused
        lt = lifetimes.get(id(p))
        if lt is None or lt["pid"] is None:
            continue
        before = last.get((p.boot, p.pid))  # a boot ended every process before it
        if lt["_starts"] and before is not None and "end_missing" in before["flags"]:
            lt["flags"] = sorted({*lt["flags"], "pid_reused"})
        last[(p.boot, p.pid)] = lt
    for p in procs:
        lt = lifetimes.get(id(p))
        if lt is None or not lt["_starts"] or p.parent is None:
            continue
        if p.ppid == 0 and isinstance(host, WindowsHost):
            continue  # Windows' Idle process: no parent
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
        holder = placeholders.setdefault((p.parent.boot, p.ppid, image), {
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
    keys = [lt["key"] for lt in out]
    if len(set(keys)) != len(keys):  # the scenario made two lifetimes no diff tells apart
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"{host.name}: lifetime keys not unique: {twice[:3]}")
    return out, [_session(host, s, fmt) for s in host.sessions if _session_seen(host, s)]


def _key(lt: dict[str, Any]) -> str:
    return lifetime_key(lt["host"], lt["pid"], lt["image"], lt["start"], lt["end"])


def _logon_record(host: Host, s: SimSession) -> Record | None:
    return next((r for r in host.records if r.channel == SECURITY
                 and r.event_id in (4624, 528) and host.survives(r)
                 and r.true_us == s.start_us), None)


def _session_seen(host: Host, s: SimSession) -> bool:
    if isinstance(host, LinuxHost):
        return True
    return _logon_record(host, s) is not None


def _elevated(host: Host, s: SimSession) -> bool:
    """A surviving 4672 of the session's logon id within 2 s of its 4624, either side."""
    logon = _logon_record(host, s)
    logon_id = hex(s.account.logon_id)
    return logon is not None and any(
        r.channel == SECURITY and r.event_id == 4672 and host.survives(r)
        and field(r, "SubjectLogonId") == logon_id
        and abs(r.logged_us - logon.logged_us) <= PRIVILEGE_US for r in host.records)


def _session(host: Host, s: SimSession, fmt: str) -> dict[str, Any]:
    if isinstance(host, LinuxHost):
        return {"host": host.name, "logon_id": s.key, "user": s.account.name,
                "start": iso(s.start_us // 1000 * 1000 + 3000) if s.start_us else None}
    types = {2: "Interactive", 3: "Network", 5: "Service", 10: "RemoteInteractive"}
    return {"host": host.name, "logon_id": hex(s.account.logon_id), "user": s.account.user,
            "logon_type": types.get(s.logon_type, str(s.logon_type)),
            "source_ip": "" if s.source_ip == "-" else s.source_ip,
            "start": iso(_logged(host, _logon_record(host, s), fmt)) if s.start_us else None,
            "elevated": _elevated(host, s)}


def spellings(host: Host) -> list[str]:
    """Every name the host's written records give it (``Computer``)."""
    return sorted({r.host for channel in host.channels for r in host.written(channel)})


def truth(hosts: list[Host], anomalies: list[dict[str, Any]], scenario: str,
          seed: int, fmt: str = "evtx") -> dict[str, Any]:
    """The scenario's truth file, for its logs in format ``fmt``."""
    lifetimes: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for host in hosts:
        lts, ss = host_truth(host, fmt)
        lifetimes += lts
        sessions += ss
    lifetimes.sort(key=lambda lt: lt["key"])
    # Machines whose logs name them more than one way: one host all the same.
    host_spellings = {h.name: names for h in hosts
                      if not isinstance(h, LinuxHost) and len(names := spellings(h)) > 1}
    return {"scenario": scenario, "seed": seed, "hosts": sorted(h.name for h in hosts),
            "checked_flags": list(CHECKED_FLAGS), "lifetimes": lifetimes,
            "sessions": sessions, "anomalies": anomalies, "host_spellings": host_spellings}


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
