"""Hand-made inputs of the regression tests: XML events, JSON lines, auditd records with
the parts a bug needed, and our own EVTX and archives patched where a bug was."""

from __future__ import annotations

import gzip
import re
import struct
import zipfile

import orjson

from tests.fuzz.mutators import make_zip
from tests.fuzz.seeds import seeds


def xml_event(system: str = "", data: str = "<Data Name='x'>1</Data>") -> bytes:
    """One hand-written Security event in an export, its System parts replaceable."""
    parts = {"EventID": "4688", "EventRecordID": "7", "Computer": "ws1"}
    for found in re.finditer(r"<(\w+)>([^<]*)</\1>", system):
        parts[found.group(1)] = found.group(2)
    body = "".join(f"<{k}>{v}</{k}>" for k, v in parts.items())
    return (f"<Events><Event><System><Provider Name='Microsoft-Windows-Security-Auditing'/>"
            f"<TimeCreated SystemTime='2026-11-02T09:00:00.000Z'/><Channel>Security</Channel>"
            f"{body}</System><EventData>{data}</EventData></Event></Events>").encode()


def jsonl_lines(*rows: object) -> bytes:
    """JSON lines of ``rows``: bytes as they are, anything else dumped."""
    return b"\n".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in rows) + b"\n"


WINLOGBEAT = {"@timestamp": "2026-11-02T09:00:00Z", "winlog": {
    "channel": "Security", "event_id": 4688, "record_id": 5, "computer_name": "ws1",
    "provider_name": "Microsoft-Windows-Security-Auditing", "event_data": {"x": "1"}}}


AUDIT_LINE = ('type=SYSCALL msg=audit({stamp}:{serial}): arch=c000003e syscall={nr} '
              'success=yes exit=0 items=1 ppid=1 pid=7 comm="ls" exe="/usr/bin/ls"')
SYSLOG_LINE = (b"Nov  2 09:00:00 lnx01 sysmon: <Event><System><Provider Name='Linux-Sysmon'/>"
               b"<EventID>1</EventID><Channel>Linux-Sysmon/Operational</Channel></System>"
               b"<EventData><Data Name='Image'>/bin/ls</Data></EventData></Event>")


def audit_records(stamp: str = "1700000000.250", serial: str = "5", nr: str = "59",
                  more: str = "", rtype: str = "PATH") -> bytes:
    """Two execve SYSCALL records, the second with the given parts, and a record of
    ``rtype`` holding ``more`` beside it where ``more`` is given."""
    line = AUDIT_LINE.format(stamp=stamp, serial=serial, nr=nr)
    tail = f"\ntype={rtype} msg=audit({stamp}:{serial}): {more}" if more else ""
    return (AUDIT_LINE.format(stamp="1700000000.100", serial="4", nr="59") + "\n"
            + line + tail + "\n").encode()


def first_record(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """The first record of the first chunk: the offset of its substitution array and each
    value's (descriptor offset, value offset, size)."""
    u32 = lambda pos: struct.unpack_from("<I", data, pos)[0]  # noqa: E731
    inst = 4096 + 0x200 + 24 + 4
    subs = inst + 10
    if 4096 + u32(inst + 6) == subs:
        subs += 24 + u32(subs + 20)
    count = u32(subs)
    at = subs + 4 + 4 * count
    values = []
    for i in range(count):
        size = struct.unpack_from("<H", data, subs + 4 + 4 * i)[0]
        values.append((subs + 4 + 4 * i, at, size))
        at += size
    return subs, values


def patched(data: bytes, *patches: tuple[int, bytes]) -> bytes:
    """``data`` with each (offset, bytes) written over it."""
    buf = bytearray(data)
    for pos, value in patches:
        buf[pos:pos + len(value)] = value
    return bytes(buf)


def string_cycle(data: bytes) -> bytes:
    """The chunk's first name string's next-string offset pointed at itself."""
    heads = struct.unpack_from("<64I", data, 4096 + 0x80)
    head = next(h for h in heads if h)
    return patched(data, (4096 + head, struct.pack("<I", head)))


def template_cycle(data: bytes) -> bytes:
    """The chunk's first template's next-template offset pointed at itself."""
    heads = struct.unpack_from("<32I", data, 4096 + 0x180)
    head = next(h for h in heads if h)
    return patched(data, (4096 + head, struct.pack("<I", head)))


def string_loop(data: bytes) -> bytes:
    """The chunk's first two name strings linked to each other: a loop of two."""
    first, second = [h for h in struct.unpack_from("<64I", data, 4096 + 0x80) if h][:2]
    return patched(data, (4096 + first, struct.pack("<I", second)),
                   (4096 + second, struct.pack("<I", first)))


def template_loop(data: bytes) -> bytes:
    """The chunk's first two templates linked to each other: a loop of two."""
    first, second = [h for h in struct.unpack_from("<32I", data, 4096 + 0x180) if h][:2]
    return patched(data, (4096 + first, struct.pack("<I", second)),
                   (4096 + second, struct.pack("<I", first)))


def damaged_archives() -> dict[str, tuple[str, bytes]]:
    """Archives of our own logs, each damaged in one way zipfile, zlib or gzip raises on."""
    log = seeds()["gen-audit-head.log"]
    good = make_zip([("a.log", log), ("b.log", log)], zipfile.ZIP_DEFLATED)
    body = 30 + len("a.log")  # the local header, then the deflate stream
    second = good.find(b"PK\x03\x04", 4)  # the second member's local header
    crc = good.find(b"PK\x01\x02") + 16  # the central directory's CRC-32
    gz = gzip.compress(log, mtime=0)
    return {
        "zip: bad CRC-32": ("x.zip", patched(good, (crc, b"\0\0\0\0"))),
        "zip: bad deflate data": ("x.zip", patched(good, (body + 1, b"\xff\xff\xff\xff"))),
        "zip: bad local header": ("x.zip", patched(good, (second, b"PK\x03\x05"))),
        "zip: local header offset past the end": (
            "x.zip", patched(good, (good.find(b"PK\x01\x02") + 42, b"\xff\xff\xff\x7f"))),
        "zip: unknown compression method": (
            "x.zip", patched(good, (good.find(b"PK\x01\x02") + 10, b"\x63\x00"))),
        "gz: bad CRC-32": ("x.log.gz", patched(gz, (len(gz) - 8, b"\0\0\0\0"))),
        "gz: garbage after the member": ("x.log.gz", gz + b"\x1f\x8b junk"),
        "gz: bad deflate data": ("x.log.gz", patched(gz, (12, b"\xff\xff\xff\xff"))),
    }


DAMAGED = ["zip: bad CRC-32", "zip: bad deflate data", "zip: bad local header",
           "zip: local header offset past the end", "zip: unknown compression method",
           "gz: bad CRC-32", "gz: garbage after the member",
           "gz: bad deflate data"]


def audit_line(serial: int) -> bytes:
    """One execve SYSCALL line of the given serial."""
    return AUDIT_LINE.format(stamp="1700000000.5", serial=serial, nr="59").encode()
