"""Linux audit logs: raw ``audit.log`` lines and ``ausearch -i`` output.

auditd writes one event as several records (SYSCALL, EXECVE, CWD, PATH, PROCTITLE...)
sharing one ``msg=audit(TIME:SERIAL)`` id. Records are grouped by id in a small window
of open groups (auditd writes an event's records together or nearly so), so a file of
any size streams through; each group becomes one :class:`Event`.

Raw logs hex-encode some values (EXECVE arguments, proctitle, paths, exe, comm...) when
they hold spaces, quotes or control characters; those are decoded here. ``ausearch -i``
output is already decoded, its uids are names, its syscalls are names and its times
are the local time of the machine that ran ausearch.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO

from proctrail.store.events import AUDITD, Event, Skip, classify_auditd
from proctrail.store.readers.base import (
    INT32,
    INT64,
    MAX_LINE,
    Format,
    ReaderError,
    ReadOptions,
    RecordStream,
    capped_lines,
    real_time,
    to_us,
)

PROVIDER = "auditd"
# A group is flushed once this many other event ids have been opened after it.
WINDOW = 64
# Meaningful lines looked at before deciding that a file is not an audit log.
HEAD_LINES = 10

_RECORD = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+) msg=audit\((?P<id>[^)]*)\)\s*:?\s*(?P<body>.*)$"
)
_SNIFF = re.compile(r"^(?:node=\S+ )?type=\S+ msg=audit\(")
_KEY = re.compile(r"(?<!\S)([A-Za-z_][\w\-\[\]]*)=")
_ARG = re.compile(r"^a([0-9]{1,9})(?:\[([0-9]{1,9})\])?$")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_EPOCH_TIME = re.compile(r"^([0-9]+)(?:\.([0-9]{1,6}))?$")
_NUMBER = re.compile(r"[0-9]{1,19}")
_ABSENT = {"(null)", "(none)"}
# Fields that raw auditd hex-encodes when the value holds spaces, quotes or controls.
_ENCODED = {"exe", "comm", "cwd", "name", "cmd", "acct", "key", "proctitle"}
_LOCAL_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M:%S", "%Y-%m-%d %H:%M:%S")

_ARCHES = {"c000003e": "x86_64", "40000003": "i386", "c00000b7": "aarch64"}
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {"execve": 59, "execveat": 322, "exit_group": 231, "connect": 42, "bind": 49,
               "open": 2, "openat": 257, "creat": 85},
    "i386": {"execve": 11, "execveat": 358, "exit_group": 252, "connect": 362, "bind": 361,
             "open": 5, "openat": 295, "creat": 8},
    "aarch64": {"execve": 221, "execveat": 281, "exit_group": 94, "connect": 203,
                "bind": 200, "openat": 56},
}
_SYSCALL_NAMES = {arch: {n: s for s, n in table.items()} for arch, table in _SYSCALLS.items()}
_EXECS = {"execve", "execveat"}
# Which argument holds open's flags; creat always writes.
_OPEN_FLAGS = {"open": "a1", "openat": "a2"}
O_WRITE = 0x1 | 0x2 | 0x40  # O_WRONLY | O_RDWR | O_CREAT (x86 and arm alike)
AT_FDCWD = "ffffff9c"  # openat's a0 when a relative name is relative to the cwd
_FAMILIES = {2: "inet", 10: "inet6"}
_FLAGS_HEX = re.compile(r"[0-9A-Fa-f]{1,16}")


def _number(text: str, bounds: range = INT64) -> int | None:
    """A decimal number auditd wrote (ASCII digits: ``"²".isdigit()`` is true too) that
    fits ``bounds``; None for anything else."""
    if _NUMBER.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value in bounds else None


def looks_like_auditd(head: bytes) -> bool:
    """Whether the first bytes of a file read as audit records (``type=X msg=audit(``)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [ln for ln in (s.strip() for s in text.splitlines()) if _meaningful(ln)][:5]
    hits = sum(1 for ln in lines if _SNIFF.match(ln))
    return hits * 2 > len(lines)


def open_auditd(stream: IO[bytes], name: str, opts: ReadOptions) -> RecordStream:
    """Events of a raw auditd log or ``ausearch -i`` output, one per event id.

    Raises :class:`ReaderError` at once when the file's first lines are not audit records;
    a bad line further on is a :class:`Skip`.
    """
    lines = _lines(stream)
    head: list[tuple[int, str | None]] = []
    seen = 0
    found = False
    for number, line in lines:
        head.append((number, line))
        if line is not None and not _meaningful(line.strip()):
            continue
        if line is not None and _RECORD.match(line.strip()):
            found = True
            break
        seen += 1
        if seen >= HEAD_LINES:
            break
    if seen and not found:
        raise ReaderError(name, "not an auditd log (no 'type=... msg=audit(...)' record)")
    return _read(_chain(head, lines), opts)


def _meaningful(line: str) -> bool:
    """Not blank, not an ausearch separator (``----``) or ``time->`` header."""
    return bool(line) and not line.startswith(("----", "time->"))


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """Numbered lines, decoded; None for a line over MAX_LINE (no record is that long)."""
    for number, raw in enumerate(capped_lines(stream), 1):
        if raw is None:
            yield number, None
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        yield number, line.lstrip("\ufeff") if number == 1 else line


def _chain(
    head: list[tuple[int, str | None]], rest: Iterator[tuple[int, str | None]]
) -> Iterator[tuple[int, str | None]]:
    yield from head
    yield from rest


@dataclass(slots=True)
class _Group:
    """The records of one event id, kept as text until the group is complete."""

    node: str | None
    stamp: str
    serial: int
    interpreted: bool
    records: list[tuple[str, str]] = field(default_factory=list)


def _read(lines: Iterable[tuple[int, str | None]], opts: ReadOptions) -> RecordStream:
    open_groups: dict[tuple[str | None, str], _Group] = {}
    for number, text in lines:
        if text is None:
            yield Skip("oversized line", f"line {number}: over {MAX_LINE:,} bytes")
            continue
        line = text.strip()
        if not _meaningful(line):
            continue
        m = _RECORD.match(line)
        stamp, _, serial = m.group("id").rpartition(":") if m else ("", "", "")
        serial_number = _number(serial)
        if m is None or not stamp or serial_number is None:
            yield Skip("unparseable line", f"line {number}: {line[:80]}")
            continue
        rtype = m.group("type")
        key = (m.group("node"), m.group("id"))
        group = open_groups.get(key)
        if group is None:
            interpreted = _EPOCH_TIME.match(stamp) is None
            group = _Group(m.group("node"), stamp, serial_number, interpreted)
            open_groups[key] = group
            while len(open_groups) > WINDOW:
                oldest = next(iter(open_groups))
                event = _event(open_groups.pop(oldest), opts)
                if event is not None:
                    yield event
        if rtype == "EOE":
            # End of event: auditd says the group is complete.
            event = _event(open_groups.pop(key), opts)
            if event is not None:
                yield event
            continue
        group.records.append((rtype, m.group("body")))
    for group in open_groups.values():
        event = _event(group, opts)
        if event is not None:
            yield event


def _event(group: _Group, opts: ReadOptions) -> Event | None:
    """The event of a complete group; None for a group holding nothing (a lone EOE)."""
    if not group.records:
        return None
    raw = not group.interpreted
    types: list[str] = []
    syscall: dict[str, str] | None = None
    others: dict[str, str] = {}
    args: dict[int, list[tuple[int, bytes]]] = {}
    argc: str | None = None
    cwd: str | None = None
    proctitle: str | None = None
    paths: dict[int, str] = {}
    for rtype, body in group.records:
        if rtype not in types:
            types.append(rtype)
        if rtype == "EXECVE":
            argc = _execve(body, raw, args) or argc
        elif rtype == "PROCTITLE":
            proctitle = _proctitle(body, raw) or proctitle
        elif rtype == "CWD":
            cwd = _pairs(body, raw).get("cwd", cwd)
        elif rtype == "PATH":
            pairs = _pairs(body, raw)
            index = _number(pairs.get("item", ""))
            if index is None:
                index = len(paths)
            if "name" in pairs:
                paths[index] = pairs["name"]
        elif rtype == "SYSCALL" and syscall is None:
            syscall = _pairs(body, raw)
        else:
            for k, v in _pairs(body, raw).items():
                others.setdefault(k, v)

    fields = dict(syscall or {})
    for k, v in others.items():
        fields.setdefault(k, v)
    if argc is not None:
        fields["argc"] = argc
    if cwd is not None:
        fields["cwd"] = cwd
    if proctitle is not None:
        fields["proctitle"] = proctitle
    for index in sorted(paths):
        fields[f"path{index}"] = paths[index]
    if args:
        fields["CommandLine"] = " ".join(
            b"".join(chunk for _, chunk in sorted(args[i])).decode("utf-8", errors="replace")
            for i in sorted(args)
        )
    elif proctitle is not None:
        fields["CommandLine"] = proctitle
    fields["type"] = ",".join(types)

    event_id, kind = 0, None
    if syscall is not None:
        event_id, what = _syscall(syscall)
        if what in _EXECS and syscall.get("success") == "yes":
            kind = classify_auditd("execve")
        elif what == "exit_group":
            kind = classify_auditd("exit")
        elif what in ("connect", "bind") and sockaddr(fields) is not None:
            kind = classify_auditd(what)
        elif syscall.get("success") == "yes" and writes(what, syscall):
            kind = classify_auditd("file_write")
    elif "USER_START" in types:
        kind = classify_auditd("session_open")
    elif "USER_END" in types:
        kind = classify_auditd("session_close")
    elif "DAEMON_START" in types:
        kind = classify_auditd("daemon_start")
    return Event(
        host=group.node or opts.default_host,
        channel=AUDITD,
        provider=PROVIDER,
        event_id=event_id,
        record_id=group.serial,
        ts_us=_time(group.stamp, opts.local_offset),
        fields=fields,
        kind=kind,
    )


def _syscall(fields: dict[str, str]) -> tuple[int, str | None]:
    """The event id (syscall number) and the syscall's name where the arch table knows it."""
    arch = fields.get("arch", "").lower()
    arch = _ARCHES.get(arch, arch)
    value = fields.get("syscall", "")
    number = _number(value, INT32)
    if number is not None:
        return number, _SYSCALL_NAMES.get(arch, {}).get(number)
    return _SYSCALLS.get(arch, {}).get(value, 0), value or None


def syscall_name(fields: dict[str, str]) -> str | None:
    """A SYSCALL record's syscall by name (``openat``), where its arch's table knows it."""
    return _syscall(fields)[1]


def sockaddr(fields: dict[str, str]) -> tuple[str, str, int | None] | None:
    """``(family, address, port)`` of an event's SOCKADDR: raw ``saddr`` hex (a
    ``sockaddr_in``/``sockaddr_in6``) or ``ausearch -i``'s ``fam``/``laddr``/``lport``;
    None for other families (a unix socket is no network) or what does not decode."""
    fam = fields.get("fam", "")
    if fam in ("inet", "inet6") and fields.get("laddr"):
        port = _number(fields.get("lport", "").rstrip("}").strip(), range(65536))
        return fam, fields["laddr"].strip(), port
    data = _unhex(fields.get("saddr", ""))
    if data is None or len(data) < 8:
        return None
    family = _FAMILIES.get(int.from_bytes(data[:2], "little"))
    port = int.from_bytes(data[2:4], "big")
    if family == "inet":
        return family, ".".join(str(b) for b in data[4:8]), port
    if family == "inet6" and len(data) >= 24:
        return family, str(ipaddress.IPv6Address(data[8:24])), port
    return None


def writes(what: str | None, syscall: dict[str, str]) -> bool:
    """Whether an ``open``/``openat``/``creat`` asks to write (raw hex flags, or
    ``ausearch -i``'s ``O_WRONLY|O_CREAT`` names)."""
    if what == "creat":
        return True
    arg = _OPEN_FLAGS.get(what or "")
    if arg is None:
        return False
    flags = syscall.get(arg, "")
    if _FLAGS_HEX.fullmatch(flags):
        return bool(int(flags, 16) & O_WRITE)
    return any(name in flags for name in ("O_WRONLY", "O_RDWR", "O_CREAT"))


def _time(stamp: str, local_offset: timedelta | None) -> int | None:
    """UTC microseconds of an event id's time: epoch seconds, or ausearch's local time."""
    m = _EPOCH_TIME.match(stamp)
    if m:
        seconds = _number(m.group(1))
        if seconds is None:
            return None
        frac = (m.group(2) or "").ljust(6, "0")
        return real_time(seconds * 1_000_000 + int(frac))
    whole, _, frac = stamp.partition(".")
    for fmt in _LOCAL_FORMATS:
        try:
            dt = datetime.strptime(whole, fmt)
        except ValueError:
            continue
        micro = _number(frac[:6].ljust(6, "0")) if frac else None
        try:
            if micro is not None:
                dt += timedelta(microseconds=micro)
            if local_offset is not None:
                dt -= local_offset
        except OverflowError:  # year 1 or 9999 moved out of range
            return None
        return real_time(to_us(dt))
    return None


def _scan(body: str, raw: bool) -> Iterator[tuple[str, str, str]]:
    """``(key, value, quote)`` of a record body; quote is ``"``, ``'`` or empty.

    Raw values end at white space; interpreted (``ausearch -i``) values may hold spaces
    and end where the next ``key=`` begins.
    """
    pos = 0
    while (m := _KEY.search(body, pos)) is not None:
        key, start = m.group(1), m.end()
        quote = body[start : start + 1]
        if quote in ('"', "'"):
            end = body.find(quote, start + 1)
            if end == -1:
                end = len(body)
            yield key, body[start + 1 : end], quote
            pos = end + 1
            continue
        if raw:
            end = start
            while end < len(body) and not body[end].isspace():
                end += 1
            yield key, body[start:end], ""
        else:
            nxt = _KEY.search(body, start)
            end = nxt.start() if nxt else len(body)
            yield key, body[start:end].rstrip(), ""
        pos = end


def _pairs(body: str, raw: bool) -> dict[str, str]:
    """The fields of a record, decoded; a quoted ``msg='...'`` is opened into its fields."""
    out: dict[str, str] = {}
    inner: dict[str, str] = {}
    for key, value, quote in _scan(body, raw):
        if quote == "'":
            inner.update(_pairs(value, raw))
            continue
        if not quote and value in _ABSENT:
            continue
        if raw and not quote and key in _ENCODED:
            value = _decode(key, value)
        out[key] = value  # a repeated key: the last wins ("old auid=1 new auid=0")
    for k, v in inner.items():
        out.setdefault(k, v)
    return out


def _unhex(value: str) -> bytes | None:
    return bytes.fromhex(value) if _HEX.fullmatch(value) else None


def _decode(key: str, value: str) -> str:
    """An unquoted raw value of a field auditd hex-encodes when it must."""
    if value.endswith('"'):
        value = value[:-1]  # a stray closing quote (seen in real logs)
    data = _unhex(value)
    if data is None:
        return value
    text = data.decode("utf-8", errors="replace")
    if key == "key":
        return text.replace("\x01", ",")  # several rule keys, 0x01-separated
    if key == "proctitle":
        return _nul_to_space(text)
    return text


def _nul_to_space(text: str) -> str:
    return text.rstrip("\x00").replace("\x00", " ")


def _proctitle(body: str, raw: bool) -> str | None:
    if not raw:
        # ausearch -i: the decoded command line, spaces and all, to the end of the line.
        _, sep, value = body.partition("proctitle=")
        return value.strip() if sep else None
    value = _pairs(body, raw).get("proctitle")
    return _nul_to_space(value) if value is not None else None


def _execve(body: str, raw: bool, args: dict[int, list[tuple[int, bytes]]]) -> str | None:
    """Add an EXECVE record's arguments (whole, or in ``aN[i]`` chunks) to ``args``."""
    if not raw:
        return _execve_interpreted(body, args)
    argc = None
    for key, value, quote in _scan(body, raw):
        if key == "argc":
            argc = value
            continue
        m = _ARG.match(key)
        if m is None:
            continue
        data = None if quote else _unhex(value)
        chunk = data if data is not None else value.encode("utf-8")
        args.setdefault(int(m.group(1)), []).append((int(m.group(2) or 0), chunk))
    return argc


def _execve_interpreted(body: str, args: dict[int, list[tuple[int, bytes]]]) -> str | None:
    """ausearch -i arguments: ``a0=... a1=...``, each running to the next ``aN+1=``."""
    m = re.search(r"(?<!\S)argc=(\S+)", body)
    argc = m.group(1) if m else None
    first = re.search(r"(?<!\S)a([0-9]{1,9})=", body)
    if first is None:
        return argc
    index, start = int(first.group(1)), first.end()
    while True:
        nxt = re.compile(rf"(?<!\S)a{index + 1}=").search(body, start)
        end = nxt.start() if nxt else len(body)
        args.setdefault(index, []).append((0, body[start:end].rstrip().encode("utf-8")))
        if nxt is None:
            return argc
        index, start = index + 1, nxt.end()


def _sniff(head: bytes, text: str) -> bool:
    del text
    return looks_like_auditd(head)


FORMAT = Format("auditd", _sniff, open_auditd)
