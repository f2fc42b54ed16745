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

And the rules of a log's edges and of routine user changes (issue 17):

- a log begins at its first process record (start, end or activity) of a file: a
  process with no surviving start that really started before that (the scenario made it
  running) and is first heard of (its end, or a child's start) within :data:`EDGE_US` of
  it is ``before_log``; otherwise ``start_missing``.
- a process with no surviving end is ``end_missing`` where the records show it ended (a
  later start takes its PID: that one is ``pid_reused``; a 4608 follows), else
  ``after_log``: nothing written tells it from one still running when the log ends (what
  the records show, not what happened: an end lost without a trace is ``after_log`` too).
- a 4688 naming another account than its creator's is ``user_changed``, or routinely
  so (:func:`routine_change`): ``user_changed_logon`` (winlogon starting userinit, userinit
  explorer, for the person logging on), ``user_changed_wmi`` (svchost starting WmiPrvSE
  as a service account), ``user_changed_service`` (services, svchost or wininit starting
  a System32 program that is not a shell or script host as a service account),
  ``user_changed_broker`` (svchost starting a COM surrogate, broker or task host in a
  person's session).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from proctrail.generate.formats import written_data, written_us
from proctrail.generate.linux import LinuxHost
from proctrail.generate.model import (
    SECOND,
    SECURITY,
    SYSMON,
    Account,
    Host,
    Record,
    SimProc,
    SimSession,
)
from proctrail.generate.windows import WindowsHost
from proctrail.store.timefmt import iso

ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
PRIVILEGE_US = 2 * SECOND  # a 4672 this close to its 4624 elevates it
# The field of a process record that carries the process's own PID.
_PID_FIELDS = {(SECURITY, 4688): "NewProcessId", (SECURITY, 4689): "ProcessId",
               (SYSMON, 1): "ProcessId", (SYSMON, 5): "ProcessId", (SYSMON, 3): "ProcessId",
               (SYSMON, 22): "ProcessId"}

EDGE_US = 300 * SECOND  # first heard of this soon after its log begins: it predates the log
# Flags the truth states exactly; others (parent_mismatch, exec ...) are not planted.
CHECKED_FLAGS = ("start_missing", "before_log", "end_missing", "after_log", "placeholder",
                 "pid_reused", "user_changed", "user_changed_service", "user_changed_wmi",
                 "user_changed_logon", "user_changed_broker", "token_changed", "clock_jump")
# Accounts Windows runs services as: SYSTEM, LOCAL SERVICE, NETWORK SERVICE, NT SERVICE\*.
SERVICE_SIDS = ("S-1-5-18", "S-1-5-19", "S-1-5-20")
SERVICE_STARTERS = ("services.exe", "svchost.exe", "wininit.exe")
SHELLS = ("cmd.exe", "powershell.exe", "pwsh.exe", "rundll32.exe", "regsvr32.exe", "mshta.exe",
          "wscript.exe", "cscript.exe", "msiexec.exe", "certutil.exe", "bitsadmin.exe",
          "wmic.exe")
BROKERS = ("dllhost.exe", "runtimebroker.exe", "taskhostw.exe", "backgroundtaskhost.exe",
           "smartscreen.exe", "backgroundtransferhost.exe", "consent.exe")
_SYSTEM32 = ("c:\\windows\\system32\\", "c:\\windows\\system32\\wbem\\",
             "c:\\windows\\syswow64\\")


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


def when(host: Host, record: Any, fmt: str) -> int:
    """A record's time as correlation reads it: a Sysmon record's UtcTime, not its
    header."""
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


def _system32(image: str) -> str:
    """The file name of a program in Windows' system folder (lower case), else ``""``."""
    folder, _, name = image.lower().rpartition("\\")
    return name if f"{folder}\\" in _SYSTEM32 else ""


def _service(a: Account) -> bool:
    return a.sid in SERVICE_SIDS or a.sid.startswith("S-1-5-80-")


def routine_change(p: SimProc) -> str | None:
    """Why ``p`` runs as another account than its creator, where Windows does that as a
    matter of course (see the module's rules); None for a change worth a look."""
    if p.parent is None:
        return None
    name, parent, person = _system32(p.image), _system32(p.parent.image), not _service(p.account)
    if person and (parent, name) == ("winlogon.exe", "userinit.exe"):
        return "user_changed_logon"
    if person and parent == "userinit.exe" and p.image.lower() == "c:\\windows\\explorer.exe":
        return "user_changed_logon"
    if not person and (parent, name) == ("svchost.exe", "wmiprvse.exe"):
        return "user_changed_wmi"
    if not person and parent in SERVICE_STARTERS and name and name not in SHELLS:
        return "user_changed_service"
    if person and parent == "svchost.exe" and name in BROKERS:
        return "user_changed_broker"
    return None


def _source(host: Host, record: Any, fmt: str) -> str:
    """Which written file a record is in: its channel's, or the export's, or auditd's."""
    if isinstance(host, LinuxHost):
        return "auditd"
    return "export" if fmt == "jsonl" and host.collector == "export" else record.channel


def _log_begins(host: Host, fmt: str) -> dict[str, int]:
    """When each written file's log begins: its first surviving process record."""
    out: dict[str, int] = {}
    for p in host.procs:
        for r in p.records:
            if r.role in ("start", "end", "activity") and _alive(host, r, fmt):
                source, at = _source(host, r, fmt), when(host, r, fmt)
                out[source] = min(out.get(source, at), at)
    return out


def _no_start(host: Host, p: SimProc, heard: list[tuple[int, str]],
              begins: dict[str, int]) -> str:
    """``before_log`` or ``start_missing`` for ``p``, first heard of in ``heard`` (time,
    file) records: it started before that file's log begins, and is heard of soon after."""
    when, source = min(heard)
    began = begins[source]
    if (p.start_us is None or p.start_us < began) and when - began <= EDGE_US:
        return "before_log"
    return "start_missing"


def _heard(host: Host, records: list[Any], fmt: str) -> list[tuple[int, str]]:
    return [(when(host, r, fmt), _source(host, r, fmt)) for r in records]


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
    begins = _log_begins(host, fmt)
    starts_of = {id(p): [r for r in p.records if r.role == "start" and _alive(host, r, fmt)]
                 for p in procs}
    for p in procs:
        starts = starts_of[id(p)]
        ends = [r for r in p.records if r.role == "end" and _alive(host, r, fmt)]
        if not starts and not ends:
            continue
        start = min((when(host, r, fmt) for r in starts), default=None)
        end = min((when(host, r, fmt) for r in ends), default=None)
        pid = p.pid if _pid_known(host, p, children.get(id(p), []), fmt) else None
        flags = set()
        if not starts:
            heard = _heard(host, ends, fmt) + [
                h for c in children.get(id(p), []) for h in _heard(host, starts_of[id(c)], fmt)]
            flags.add(_no_start(host, p, heard, begins))
        if p.creator is not None and any(r.event_id == 4688 for r in starts):
            flags.add(routine_change(p) or "user_changed")
        if p.token_user and p.token_user != _user(host, p):
            flags.add("token_changed")
        if start is not None and end is not None and end < start:
            flags.add("clock_jump")
        lifetimes[id(p)] = {
            "host": host.name, "pid": pid, "image": p.image, "command_line": p.command_line,
            "start": iso(start), "end": iso(end),
            "user": _user(host, p) if starts else "",  # who it ran as is told at its start
            "logon_id": _logon_id(host, p), "flags": sorted(flags), "parent": None,
            "_proc": p, "_starts": bool(starts), "_ends": bool(ends), "_boot": p.boot}
    last: dict[tuple[int, int], dict[str, Any]] = {}
    for p in procs:  # a start under a PID whose last process seems to run on: reused
        lt = lifetimes.get(id(p))
        if lt is None or lt["pid"] is None:
            continue
        before = last.get((p.boot, p.pid))  # a boot ended every process before it
        if lt["_starts"] and before is not None and not before["_ends"]:
            lt["flags"] = sorted({*lt["flags"], "pid_reused"})
            before["flags"] = sorted({*before["flags"], "end_missing"})
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
        holder = placeholders.get((p.parent.boot, p.ppid, image))
        if holder is None:
            holder = placeholders[(p.parent.boot, p.ppid, image)] = {
                "host": host.name, "pid": p.ppid, "image": image, "command_line": "",
                "start": None, "end": None, "user": "", "logon_id": "",
                "flags": sorted(("placeholder", _no_start(
                    host, p.parent, _heard(host, starts_of[id(p)], fmt), begins))),
                "parent": None, "_ends": False, "_boot": p.parent.boot}
        lt["parent"] = _key(holder)
    boots = len(host.boots)
    for lt in [*lifetimes.values(), *placeholders.values()]:
        if not lt["_ends"] and "end_missing" not in lt["flags"]:
            # A boot after it ended it; else nothing written says it ended.
            lt["flags"] = sorted({*lt["flags"], "end_missing" if lt["_boot"] < boots
                                  else "after_log"})
    out = []
    for lt in [*lifetimes.values(), *placeholders.values()]:
        for name in ("_proc", "_starts", "_ends", "_boot"):
            lt.pop(name, None)
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
