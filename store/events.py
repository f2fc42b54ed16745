"""The normalized event every reader yields, and the catalog of event kinds.

An event is classified by its channel (or provider) *and* its event id: the Windows
PowerShell channel's 600 is not the Security log's 600, Sysmon's 1 is not System's 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """What an event means for process tracking."""

    PROCESS_START = "process_start"
    PROCESS_END = "process_end"
    LOGON = "logon"
    LOGOFF = "logoff"
    SPECIAL_PRIVILEGES = "special_privileges"
    TOKEN_CHANGE = "token_change"
    TIME_CHANGE = "time_change"
    LOG_CLEARED = "log_cleared"
    AUDIT_START = "audit_start"
    AUDIT_STOP = "audit_stop"
    BOOT = "boot"  # the machine (or its Sysmon / auditd) started: every process before ended
    # How a user got in (issue 18): joined to logon sessions, not processes.
    REMOTE_SESSION = "remote_session"  # Terminal Services 1149/21-25/39/40, 4778/4779
    EXPLICIT_CREDENTIALS = "explicit_credentials"  # Security 4648: the caller, the target
    NETWORK = "network_connect"
    DNS = "dns_query"
    # What a process did (issue 18): attached to its lifetime, stored in ``activity``.
    FILE_CREATE = "file_create"  # Sysmon 11
    FILE_DELETE = "file_delete"  # Sysmon 23 (archived), 26 (logged only)
    FILE_STREAM = "file_stream"  # Sysmon 15: an alternate data stream created
    REGISTRY_KEY = "registry_key"  # Sysmon 12: a key or value created or deleted
    REGISTRY_SET = "registry_set"  # Sysmon 13: a value set
    REGISTRY_RENAME = "registry_rename"  # Sysmon 14
    REMOTE_THREAD = "remote_thread"  # Sysmon 8: both ends
    PROCESS_ACCESS = "process_access"  # Sysmon 10: both ends
    TAMPERING = "process_tampering"  # Sysmon 25
    IMAGE_LOAD = "image_load"  # Sysmon 7: classified, not attached (volume)
    WFP_CONNECT = "wfp_connect"  # Security 5156: a connection the filtering platform allowed
    WFP_BIND = "wfp_bind"  # Security 5158: a bind the filtering platform allowed
    OBJECT_ACCESS = "object_access"  # Security 4663, where object access is audited
    SCRIPT_BLOCK = "script_block"  # PowerShell 4104: a script block (parts reassembled)
    PIPELINE = "pipeline"  # PowerShell 4103: a command a pipeline ran (module logging)
    PS_ENGINE = "ps_engine"  # Windows PowerShell 400/403: an engine started or stopped
    PS_PROVIDER = "ps_provider"  # Windows PowerShell 600: a provider started
    NET_BIND = "network_bind"  # auditd bind(2)
    FILE_WRITE = "file_write"  # auditd open/openat/creat with write flags


@dataclass(slots=True)
class Event:
    """One log record, normalized.

    ``ts_us`` is the event's UTC time in microseconds since the Unix epoch, or ``None``
    when the record carries no usable time (a zero FILETIME is unknown, not 1601).
    ``received_us`` is when a collector received it, where the format says so.
    ``fields`` holds the event's named data fields as strings, exactly as logged.
    """

    host: str
    channel: str
    provider: str
    event_id: int
    record_id: int | None
    ts_us: int | None
    fields: dict[str, str] = field(default_factory=dict)
    received_us: int | None = None
    kind: str | None = None


@dataclass(slots=True, frozen=True)
class Skip:
    """A record or chunk a reader could not read: counted, never fatal for the file."""

    reason: str
    detail: str = ""


@dataclass(slots=True, frozen=True)
class Damage:
    """A chunk of an input whose checksums or record framing fail: its records are still
    read and stored; the damage is kept with its source (a ``checksum_mismatch`` anomaly).

    ``chunk`` is its number in the file (from 0) and ``offset`` where it starts;
    ``checks`` names what failed (``header CRC``, ``data CRC``, ``record magic``,
    ``record size``, ``record size copy``, ``record ids``); ``first_record`` and
    ``last_record`` are the record ids it holds, the records that cannot be trusted.
    """

    chunk: int
    offset: int
    checks: tuple[str, ...]
    first_record: int | None
    last_record: int | None
    detail: str = ""


SECURITY = "Security"
SYSTEM = "System"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
SYSMON_LINUX = "Linux-Sysmon/Operational"
AUDITD = "auditd"

# Canonical spellings of the channels proctrail cares about, keyed by lower case.
_CANONICAL_CHANNELS = {
    c.lower(): c
    for c in (
        SECURITY,
        SYSTEM,
        "Application",
        SYSMON,
        SYSMON_LINUX,
        AUDITD,
        "ForwardedEvents",
        "Windows PowerShell",
        "Microsoft-Windows-PowerShell/Operational",
        "Setup",
    )
}

_SYSMON_PROVIDERS = {"microsoft-windows-sysmon", "linux-sysmon"}
_SYSMON_CHANNELS = {SYSMON.lower(), SYSMON_LINUX.lower()}


_CHANNEL_CACHE: dict[str, str] = {}


def canonical_channel(name: str) -> str:
    """One spelling per channel: known channels get Windows' own, others keep theirs."""
    found = _CHANNEL_CACHE.get(name)
    if found is None:
        stripped = name.strip()
        found = _CANONICAL_CHANNELS.get(stripped.lower(), stripped)
        if len(_CHANNEL_CACHE) < 4096:
            _CHANNEL_CACHE[name] = found
    return found


_SECURITY_KINDS: dict[int, Kind] = {
    4688: Kind.PROCESS_START,
    592: Kind.PROCESS_START,
    4689: Kind.PROCESS_END,
    593: Kind.PROCESS_END,
    4624: Kind.LOGON,
    528: Kind.LOGON,
    540: Kind.LOGON,
    4648: Kind.EXPLICIT_CREDENTIALS,
    4778: Kind.REMOTE_SESSION,
    4779: Kind.REMOTE_SESSION,
    4634: Kind.LOGOFF,
    4647: Kind.LOGOFF,
    538: Kind.LOGOFF,
    551: Kind.LOGOFF,
    4672: Kind.SPECIAL_PRIVILEGES,
    576: Kind.SPECIAL_PRIVILEGES,
    600: Kind.TOKEN_CHANGE,
    4703: Kind.TOKEN_CHANGE,
    4616: Kind.TIME_CHANGE,
    520: Kind.TIME_CHANGE,
    1102: Kind.LOG_CLEARED,
    517: Kind.LOG_CLEARED,
    4608: Kind.AUDIT_START,
    4902: Kind.AUDIT_START,
    512: Kind.AUDIT_START,
    4609: Kind.AUDIT_STOP,
    1100: Kind.AUDIT_STOP,
    513: Kind.AUDIT_STOP,
    5156: Kind.WFP_CONNECT,
    5158: Kind.WFP_BIND,
    4663: Kind.OBJECT_ACCESS,
}

_SYSMON_KINDS: dict[int, Kind] = {
    1: Kind.PROCESS_START,
    5: Kind.PROCESS_END,
    3: Kind.NETWORK,
    4: Kind.BOOT,  # Sysmon service state changed: a start is the machine's (State=Started)
    22: Kind.DNS,
    7: Kind.IMAGE_LOAD,
    8: Kind.REMOTE_THREAD,
    10: Kind.PROCESS_ACCESS,
    11: Kind.FILE_CREATE,
    12: Kind.REGISTRY_KEY,
    13: Kind.REGISTRY_SET,
    14: Kind.REGISTRY_RENAME,
    15: Kind.FILE_STREAM,
    23: Kind.FILE_DELETE,
    25: Kind.TAMPERING,
    26: Kind.FILE_DELETE,
}

# What a process did, as correlation attaches it (Sysmon 7 is classified but not among
# them: a row for every DLL every process loads is too many to keep by default).
ACTIVITY_KINDS: tuple[str, ...] = tuple(k.value for k in (
    Kind.NETWORK, Kind.DNS, Kind.FILE_CREATE, Kind.FILE_DELETE, Kind.FILE_STREAM,
    Kind.REGISTRY_KEY, Kind.REGISTRY_SET, Kind.REGISTRY_RENAME, Kind.REMOTE_THREAD,
    Kind.PROCESS_ACCESS, Kind.TAMPERING, Kind.WFP_CONNECT, Kind.WFP_BIND,
    Kind.OBJECT_ACCESS, Kind.SCRIPT_BLOCK, Kind.PIPELINE, Kind.PS_ENGINE, Kind.PS_PROVIDER,
    Kind.NET_BIND, Kind.FILE_WRITE))
# What PowerShell ran: the text is in ``detail`` (searched by a bare word).
SCRIPT_KINDS = frozenset((Kind.SCRIPT_BLOCK.value, Kind.PIPELINE.value))
# Kinds with a process at each end (source and target): attached to both.
TWO_ENDED_KINDS = frozenset((Kind.REMOTE_THREAD.value, Kind.PROCESS_ACCESS.value))

# System-log events that matter, keyed by (provider in lower case, event id).
_SYSTEM_KINDS: dict[tuple[str, int], Kind] = {
    ("microsoft-windows-eventlog", 104): Kind.LOG_CLEARED,
    ("eventlog", 104): Kind.LOG_CLEARED,
    ("microsoft-windows-kernel-general", 1): Kind.TIME_CHANGE,
    ("microsoft-windows-kernel-general", 12): Kind.BOOT,
    ("microsoft-windows-eventlog", 6005): Kind.AUDIT_START,
    ("microsoft-windows-eventlog", 6006): Kind.AUDIT_STOP,
}

# Terminal Services (RDP) channels, lower case: the ids that tell how a session came in.
REMOTE_CHANNELS: dict[str, frozenset[int]] = {
    "microsoft-windows-terminalservices-remoteconnectionmanager/operational":
        frozenset((1149,)),
    "microsoft-windows-terminalservices-localsessionmanager/operational":
        frozenset((21, 22, 23, 24, 25, 39, 40)),
    "microsoft-windows-terminalservices-gateway/operational":
        frozenset((200, 300, 302, 303)),
}

_AUDITD_KINDS = {"execve": Kind.PROCESS_START, "exit": Kind.PROCESS_END,
                 "session_open": Kind.LOGON, "session_close": Kind.LOGOFF,
                 "daemon_start": Kind.BOOT, "connect": Kind.NETWORK, "bind": Kind.NET_BIND,
                 "file_write": Kind.FILE_WRITE}

# PowerShell, by (channel or provider in lower case, event id): the Operational channel's
# 4103/4104 (PowerShell 7's too) and the classic "Windows PowerShell" log's 400/403/600 --
# whose 600 is a provider start, not the Security log's 600 (token change).
_POWERSHELL_KINDS: dict[tuple[str, int], Kind] = {
    **{(name, eid): kind for name in ("microsoft-windows-powershell/operational",
                                      "microsoft-windows-powershell",
                                      "powershellcore/operational", "powershellcore")
       for eid, kind in ((4104, Kind.SCRIPT_BLOCK), (4103, Kind.PIPELINE))},
    **{(name, eid): kind for name in ("windows powershell", "powershell")
       for eid, kind in ((400, Kind.PS_ENGINE), (403, Kind.PS_ENGINE),
                         (600, Kind.PS_PROVIDER))},
}
# Channels whose events keep their header's ``Execution ProcessID`` (the process that
# logged them) as the field :data:`EXECUTION_PID`: PowerShell names no process otherwise.
PID_IN_HEADER = frozenset(n for n, _ in _POWERSHELL_KINDS)
EXECUTION_PID = "ExecutionProcessID"


_KIND_CACHE: dict[tuple[str, str, int], str | None] = {}


def classify(channel: str, provider: str, event_id: int) -> str | None:
    """The kind of an event from its channel or provider and its id, or None."""
    key = (channel, provider, event_id)
    try:
        return _KIND_CACHE[key]
    except KeyError:
        pass
    kind = _classify(channel, provider, event_id)
    if len(_KIND_CACHE) < 65536:
        _KIND_CACHE[key] = kind
    return kind


def _classify(channel: str, provider: str, event_id: int) -> str | None:
    prov = provider.lower()
    chan = channel.lower()
    if prov in _SYSMON_PROVIDERS or chan in _SYSMON_CHANNELS:
        kind = _SYSMON_KINDS.get(event_id)
    elif chan == "security" or prov == "microsoft-windows-security-auditing":
        kind = _SECURITY_KINDS.get(event_id)
    elif chan in REMOTE_CHANNELS:
        kind = Kind.REMOTE_SESSION if event_id in REMOTE_CHANNELS[chan] else None
    elif chan == "system":
        kind = _SYSTEM_KINDS.get((prov, event_id))
    else:
        kind = _POWERSHELL_KINDS.get((chan, event_id)) or \
            _POWERSHELL_KINDS.get((prov, event_id))
    return kind.value if kind is not None else None


def classify_auditd(what: str) -> str | None:
    """The kind of an auditd event group: ``execve``, ``exit``, ``session_open`` (USER_START),
    ``session_close`` (USER_END), ``daemon_start``, ``connect``, ``bind``, ``file_write``."""
    kind = _AUDITD_KINDS.get(what)
    return kind.value if kind is not None else None


_HEX = "[0-9a-fA-F]"
_GUID = re.compile(rf"^\{{?({_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})\}}?$")


def canonical_guid(value: str) -> str:
    """``{lower-case}`` for anything that is a GUID; other text unchanged."""
    m = _GUID.match(value)
    return "{" + m.group(1).lower() + "}" if m else value


# How GUID field names end in the wild (ProcessGuid, SourceProcessGUID, ...).
_GUID_SUFFIXES = frozenset(("Guid", "GUID", "guid"))


def canonical_fields(fields: dict[str, str]) -> dict[str, str]:
    """Apply the few spelling rules all readers share (GUID fields), in place."""
    for name in [n for n in fields if n[-4:] in _GUID_SUFFIXES]:
        value = fields[name]
        if value:
            fields[name] = canonical_guid(value)
    return fields


# Positional data of pre-Vista events (no field names in the record), named after the
# Windows Server 2003 message templates so that correlation reads one vocabulary.
LEGACY_FIELD_NAMES: dict[int, tuple[str, ...]] = {
    592: ("NewProcessId", "NewProcessName", "ProcessId", "SubjectUserName",
          "SubjectDomainName", "SubjectLogonId"),
    593: ("ProcessId", "ProcessName", "SubjectUserName", "SubjectDomainName", "SubjectLogonId"),
    528: ("TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType", "LogonProcessName",
          "AuthenticationPackageName", "WorkstationName", "LogonGuid", "SubjectUserName",
          "SubjectDomainName", "SubjectLogonId", "ProcessId", "TransmittedServices",
          "IpAddress", "IpPort"),
    540: ("TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType", "LogonProcessName",
          "AuthenticationPackageName", "WorkstationName", "LogonGuid", "SubjectUserName",
          "SubjectDomainName", "SubjectLogonId", "ProcessId", "TransmittedServices",
          "IpAddress", "IpPort"),
    538: ("TargetUserName", "TargetDomainName", "TargetLogonId", "LogonType"),
    551: ("TargetUserName", "TargetDomainName", "TargetLogonId"),
    576: ("SubjectUserName", "SubjectDomainName", "SubjectLogonId", "PrivilegeList"),
    600: ("ProcessId", "ProcessName", "SubjectUserName", "SubjectDomainName", "SubjectLogonId",
          "NewProcessId", "NewProcessName", "TargetUserName", "TargetDomainName",
          "TargetLogonId"),
}


def name_positional(channel: str, event_id: int, values: list[str]) -> dict[str, str]:
    """Name unnamed ``<Data>`` values: legacy Security events by template, others param1..N."""
    names = LEGACY_FIELD_NAMES.get(event_id, ()) if channel == SECURITY else ()
    out: dict[str, str] = {}
    for i, value in enumerate(values):
        out[names[i] if i < len(names) else f"param{i + 1}"] = value
    return out
