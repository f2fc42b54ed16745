"""Fuzzing every reader with mutated samples: nothing but events, skips or ReaderError.

Seeds are the project's own logs (``sample_logs/``, and small logs of every format that
the generator writes at test time), plus the public samples in ``../shared/samples``
where present. Mutations are byte flips, truncation, deletion, insertion, splicing and
duplication of regions, and structure-aware ones: EVTX chunk and record header fields,
template offsets and string and value lengths; broken tags, DTDs with external and
expanding entities, huge attributes and deep nesting in XML; broken quoting, huge
numbers, bad hex, Unicode digits and invalid UTF-8 in JSON lines and auditd.

Every example runs in a worker process (this file run as a script with ``--worker``),
so a hang (python-evtx's loops, the Rust parser's) ends in a timeout and a dead
interpreter (a Rust abort) is seen. The worker checks, for every input:

* the reader yields only :class:`Event` and :class:`Skip` and raises nothing but
  :class:`ReaderError` (a pyo3 ``PanicException`` is a ``BaseException``: a bug too);
* it ends within :data:`TIME_LIMIT` seconds (the worker is killed at :data:`HANG_LIMIT`);
* its peak resident memory grows by less than :func:`memory_limit` of the input size;
* every event can be written to the store: text is encodable UTF-8 (no lone surrogate),
  ``orjson.dumps(fields)`` works, ``event_id`` fits an INTEGER and record id and times a
  BIGINT column; no text is longer than the input could make it (no entity expansion),
  and the file an external entity names is never read.

A few fuzzed inputs of every format also go through :class:`Ingestor` into SQLite, whose
report must add up. Each bug found is a regression test at the end of this file.

``PROCTRAIL_FUZZ_EXAMPLES=N`` runs N random (not derandomized) examples per test, for
long sessions; the normal run is derandomized and small. ``python tests/test_fuzz.py
--atheris MODE CORPUS [libFuzzer flags]`` fuzzes one reader coverage-guided, with the
same checks (see :func:`atheris_main`).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import io
import os
import pickle
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLE_LOGS = ROOT / "sample_logs"
SAMPLES = ROOT.parent / "shared" / "samples"
DATA = HERE / "data" / "fuzz"
CANARY = DATA / "canary.txt"
CANARY_MARK = "PROCTRAIL-FUZZ-CANARY"

needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="../shared/samples is absent (public samples not checked)")

LONG_RUN = int(os.environ.get("PROCTRAIL_FUZZ_EXAMPLES", "0") or 0)
TIME_LIMIT = 8.0  # seconds one input may take (generous: the machine may be busy)
HANG_LIMIT = 40.0  # seconds after which the worker is killed: a hang
MAX_INPUT = 2 << 20  # mutated inputs are cut to this size
MAX_INPUT_PYTHON_EVTX = 320 << 10  # python-evtx reads ~200 records/s: a few chunks at most
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def memory_limit(size: int) -> int:
    """Peak resident memory an input of ``size`` bytes may add: 200 MB and 32 times it."""
    return (200 << 20) + 32 * size


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings: ``examples`` derandomized, or PROCTRAIL_FUZZ_EXAMPLES random."""
    return settings(
        max_examples=LONG_RUN or examples,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,
        print_blob=bool(LONG_RUN),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example,
                               HealthCheck.function_scoped_fixture],
    )


# --- seeds --------------------------------------------------------------------------------

FORMATS = ("evtx", "xml", "jsonl", "auditd", "sysmon-syslog")
SYSMON_LINUX_PROVIDER = ("Linux-Sysmon", "{ff032593-a8d3-4f13-b0d6-01fc615a0f97}")

# ausearch -i output, written by hand after the form of its real output.
AUSEARCH = """\
----
time->Mon Oct 26 12:51:14 2021
type=PROCTITLE msg=audit(10/26/2021 12:51:14.046:1385) : proctitle=ls -la /tmp
type=PATH msg=audit(10/26/2021 12:51:14.046:1385) : item=0 name=/usr/bin/ls inode=1234 \
dev=08:01 mode=file,755 ouid=root ogid=root nametype=NORMAL
type=CWD msg=audit(10/26/2021 12:51:14.046:1385) : cwd=/home/alice/my docs
type=EXECVE msg=audit(10/26/2021 12:51:14.046:1385) : argc=3 a0=ls a1=-la a2=/tmp
type=SYSCALL msg=audit(10/26/2021 12:51:14.046:1385) : arch=x86_64 syscall=execve \
success=yes exit=0 a0=0x55d5 a1=0x55d6 items=2 ppid=1200 pid=1386 auid=alice uid=alice \
gid=alice euid=alice tty=pts0 ses=3 comm=ls exe=/usr/bin/ls key=exec
----
node=srv type=USER_START msg=audit(10/26/21 12:51:15.500:1386) : pid=1005 uid=root \
auid=alice ses=3 msg='op=PAM:session_open grantors=pam_unix acct=alice exe=/usr/sbin/sshd \
hostname=10.0.0.5 addr=10.0.0.5 terminal=ssh res=success'
----
type=SYSCALL msg=audit(2021-10-26 12:51:16.001:1387) : arch=aarch64 syscall=exit_group \
a0=0x0 items=0 ppid=1 pid=1386 auid=alice uid=alice comm=sh exe=/bin/sh
type=EOE msg=audit(2021-10-26 12:51:16.001:1387) :
"""


def _winlogbeat(event: dict[str, Any]) -> dict[str, Any]:
    system = event["System"]
    stamp = system["TimeCreated"]["#attributes"]["SystemTime"]
    return {
        "@timestamp": stamp,
        "event": {"code": str(system["EventID"]), "created": stamp, "kind": "event"},
        "host": {"name": system["Computer"]},
        "winlog": {
            "channel": system["Channel"],
            "computer_name": system["Computer"],
            "event_id": system["EventID"],
            "provider_name": system["Provider"]["#attributes"]["Name"],
            "record_id": system["EventRecordID"],
            "event_data": event.get("EventData") or {},
        },
    }


def _nxlog(event: dict[str, Any]) -> dict[str, Any]:
    system = event["System"]
    stamp = system["TimeCreated"]["#attributes"]["SystemTime"]
    utc = datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00"
                                 if "." in stamp else stamp.replace("Z", "+00:00"))
    local = (utc + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    data = event.get("EventData") or {}
    row = {
        "EventTime": local,
        "EventReceivedTime": local,
        "@timestamp": utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "Hostname": system["Computer"],
        "SourceName": system["Provider"]["#attributes"]["Name"],
        "Channel": system["Channel"],
        "EventID": system["EventID"],
        "RecordNumber": system["EventRecordID"],
        "SourceModuleType": "im_msvistalog",
        "ExecutionProcessID": 4,
    }
    if isinstance(data, dict):
        row.update({k: v for k, v in data.items() if k != "#attributes"})
    return row


def _generated(tmp: Path) -> dict[str, bytes]:
    """Small logs of every format, written by the project's generator."""
    from proctrail.generate import demo
    from proctrail.generate.formats import render_xml, write_windows

    out: dict[str, bytes] = {}
    hosts = demo.build(20261102)
    sysmon_records = []
    for host in hosts:
        channels = getattr(host, "channels", [])
        for channel in channels:
            records = host.written(channel)[:10]
            if not records:
                continue
            if "Sysmon" in channel:
                sysmon_records = sysmon_records or records
            short = host.name.split(".")[0]
            stem = f"gen-{short}-{'Sysmon' if 'Sysmon' in channel else channel}"
            for path in write_windows(tmp / stem, records, ("evtx", "xml", "jsonl")):
                out[path.name] = path.read_bytes()
    # The other JSON shapes, from the evtx_dump lines of one Security and one Sysmon log.
    jsonl = [orjson.loads(line)["Event"] for name, data in sorted(out.items())
             if name.endswith(".jsonl") for line in data.splitlines()[:6]]
    out["gen-winlogbeat.jsonl"] = b"\n".join(orjson.dumps(_winlogbeat(e)) for e in jsonl)
    out["gen-nxlog.jsonl"] = b"\n".join(orjson.dumps(_nxlog(e)) for e in jsonl)
    # Sysmon for Linux: the Sysmon records as Linux-Sysmon, in syslog lines and Sentinel rows.
    lines, rows = [], []
    for i, r in enumerate(sysmon_records):
        linux = dataclasses.replace(r, provider=SYSMON_LINUX_PROVIDER,
                                    channel="Linux-Sysmon/Operational", host="lnx01")
        xml = render_xml(linux)
        if i % 3 == 1:  # Sysmon for Linux's loose references
            xml = xml.replace("&lt;", "&lt ").replace("&gt;", "&gt ")
        lines.append(f"Nov  2 09:00:{i:02d} lnx01 sysmon: {xml}")
        rows.append({"TimeGenerated": f"2026-11-02T09:00:{i:02d}.000Z", "Computer": "lnx01",
                     "HostName": "lnx01", "Facility": "user", "SyslogMessage": xml})
    lines.append(lines[0][:700])  # a message cut by syslog
    out["gen-sysmon-syslog.log"] = "\n".join(lines).encode() + b"\n"
    out["gen-sentinel.jsonl"] = b"\n".join(orjson.dumps(r) for r in rows) + b"\n"
    audit = (SAMPLE_LOGS / "lnx01-audit.log").read_bytes()
    out["gen-audit-head.log"] = b"\n".join(audit.splitlines()[:40]) + b"\n"
    out["ausearch-i.log"] = AUSEARCH.encode()
    return out


@functools.cache
def seeds() -> dict[str, bytes]:
    """Every seed of the project's own, by name."""
    out = {p.name: p.read_bytes() for p in sorted(SAMPLE_LOGS.iterdir()) if p.is_file()}
    tmp = Path(tempfile.mkdtemp(prefix="proctrail-fuzz-seeds-"))
    try:
        out.update(_generated(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def seed_format(name: str) -> str:
    if name.endswith(".evtx"):
        return "evtx"
    if "sysmon-syslog" in name or "xml_lines" in name:
        return "sysmon-syslog"
    if name.endswith(".xml"):
        return "xml"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    return "auditd"


# Seed names are known before the seeds are built: the generator's file names are stable.
OWN_EVTX = ["OLD2003-Security.evtx", "WS02-Security.evtx", "WS02-Sysmon.evtx",
            "gen-WS01-Security.evtx", "gen-WS01-Sysmon.evtx", "gen-WS02-Security.evtx",
            "gen-WS02-Sysmon.evtx", "gen-OLD2003-Security.evtx"]
OWN_EVTX_SMALL = [n for n in OWN_EVTX if n.startswith(("gen-", "OLD2003"))]
OWN_XML = ["WS01-Security.xml", "gen-WS01-Security.xml", "gen-WS01-Sysmon.xml",
           "gen-WS02-Security.xml", "gen-OLD2003-Security.xml"]
OWN_JSONL = ["gen-WS01-Security.jsonl", "gen-WS02-Sysmon.jsonl", "gen-OLD2003-Security.jsonl",
             "gen-winlogbeat.jsonl", "gen-nxlog.jsonl", "gen-sentinel.jsonl"]
OWN_AUDITD = ["lnx01-audit.log", "gen-audit-head.log", "ausearch-i.log"]
OWN_SYSLOG = ["gen-sysmon-syslog.log"]
OWN_ALL = OWN_EVTX + OWN_XML + OWN_JSONL + OWN_AUDITD + OWN_SYSLOG


def _public(pattern: str, max_size: int) -> list[str]:
    if not SAMPLES.is_dir():
        return ["<absent>"]
    found = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.glob(pattern)
                   if p.stat().st_size <= max_size)
    return found or ["<absent>"]


PUBLIC_EVTX = _public("**/*.evtx", 1 << 20)
PUBLIC_EVTX_SMALL = _public("**/*.evtx", 0x11000)
PUBLIC_TEXT = (_public("auditd/*.log", 1 << 20) + _public("extra/linux/*.log", 1 << 20))
PUBLIC_ZIP = _public("otrf*/*.zip", 64 << 10) + _public("extra/linux/*.zip", 64 << 10)


@functools.cache
def public_seed(rel: str) -> bytes:
    if rel == "<absent>":
        pytest.skip("no such sample in ../shared/samples")
    return (SAMPLES / rel).read_bytes()


def _public_members() -> list[str]:
    """The JSON-lines members of the small public zips, as seed names (read from there,
    never copied)."""
    out = []
    for rel in PUBLIC_ZIP:
        if rel == "<absent>":
            continue
        with zipfile.ZipFile(SAMPLES / rel) as archive:
            out += [f"public-zip:{rel}!{info.filename}" for info in archive.infolist()
                    if not info.is_dir() and "__MACOSX" not in info.filename
                    and info.file_size < 600 << 10]
    return out or ["<absent>"]


PUBLIC_MEMBERS = _public_members()


@functools.cache
def public_member(rel: str, member: str) -> bytes:
    with zipfile.ZipFile(SAMPLES / rel) as archive:
        return archive.read(member)


# --- mutations ----------------------------------------------------------------------------

INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 0x1F, 0x20, 0x21, 0x7F, 0x80, 0xFF, 0x100, 0x1FF,
               0x200, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, 0x10000, 0xFFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFE, 0xFFFFFFFF, 2**63 - 1, 2**63, 2**64 - 1]

int_values = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**64 - 1),
                       st.tuples(st.just("delta"), st.integers(-600, 600)))


def generic_op(n: int) -> st.SearchStrategy[tuple[Any, ...]]:
    """A byte-level mutation of an input of ``n`` bytes (positions drawn in it)."""
    at = st.integers(0, n)
    span = st.integers(1, max(1, n))
    return st.one_of(
        st.tuples(st.just("flip"), at, st.integers(0, 7)),
        st.tuples(st.just("byte"), at, st.integers(0, 255)),
        st.tuples(st.just("truncate"), at),
        st.tuples(st.just("delete"), at, span),
        st.tuples(st.just("insert"), at, st.binary(min_size=1, max_size=48)),
        st.tuples(st.just("duplicate"), at, span),
        st.tuples(st.just("splice"), at, at, span),
        st.tuples(st.just("int"), at, st.sampled_from([1, 2, 4, 8]), int_values),
    )


def _int_value(value: Any, old: int, width: int) -> int:
    if isinstance(value, tuple):
        value = old + value[1]
    return value % (1 << (8 * width))


def apply_generic(data: bytes, op: tuple[Any, ...]) -> bytes:
    """One byte-level mutation: flip a bit, set a byte or a little-endian integer, cut the
    input, delete, insert, duplicate or copy over (splice) a region."""
    kind, n = op[0], len(data)
    at = min(op[1], n)
    if kind == "flip":
        if n == 0:
            return data
        at = min(at, n - 1)
        return data[:at] + bytes([data[at] ^ (1 << op[2])]) + data[at + 1:]
    if kind == "byte":
        return data[:at] + bytes([op[2]]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + op[2]:]
    if kind == "insert":
        return data[:at] + op[2] + data[at:]
    if kind == "duplicate":
        return data[:at] + data[at:at + op[2]] + data[at:]
    if kind == "splice":
        region = data[at:at + op[3]]
        dst = min(op[2], n)
        return data[:dst] + region + data[dst + len(region):]
    if kind == "int":
        width = op[2]
        old = int.from_bytes(data[at:at + width].ljust(width, b"\0"), "little")
        return data[:at] + _int_value(op[3], old, width).to_bytes(width, "little") \
            + data[at + width:]
    raise AssertionError(kind)


# EVTX: the layout's integer fields, as (offset, width) in a seed.
_FILE_FIELDS = [(8, 8), (16, 8), (24, 8), (32, 4), (36, 2), (38, 2), (40, 2), (42, 2),
                (120, 4), (124, 4)]
_CHUNK_FIELDS = [(0, 8), (8, 8), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 4),
                 (52, 4), (120, 4), (124, 4)]


@functools.cache
def evtx_targets(name: str) -> tuple[tuple[int, int], ...]:
    """Integer fields of an EVTX seed worth corrupting: file and chunk headers, string and
    template tables, name string lengths, template sizes and offsets, record sizes, and
    every substitution value's size and type."""
    data = seed_bytes(name)
    out = list(_FILE_FIELDS)
    u32 = lambda pos: struct.unpack_from("<I", data, pos)[0]  # noqa: E731
    for chunk in range(4096, len(data) - 0x10000 + 1, 0x10000):
        if data[chunk:chunk + 8] != b"ElfChnk\0":
            continue
        out += [(chunk + o, w) for o, w in _CHUNK_FIELDS]
        for slot in range(64):
            entry = chunk + 0x80 + 4 * slot
            out.append((entry, 4))
            if 0 < u32(entry) < 0xFFF8:
                out += [(chunk + u32(entry) + 4, 2), (chunk + u32(entry) + 6, 2)]
        for slot in range(32):
            entry = chunk + 0x180 + 4 * slot
            out.append((entry, 4))
            if 0 < u32(entry) < 0xFFE0:
                out += [(chunk + u32(entry), 4), (chunk + u32(entry) + 20, 4)]
        pos = chunk + 0x200
        while pos + 24 <= chunk + 0x10000 and u32(pos) == 0x2A2A:
            size = u32(pos + 4)
            if size < 28:
                break
            out += [(pos + 4, 4), (pos + 8, 8), (pos + 16, 8), (pos + size - 4, 4)]
            inst = pos + 24 + 4  # the fragment header, then a template instance
            if data[inst] == 0x0C:
                out += [(inst + 2, 4), (inst + 6, 4)]
                offset = u32(inst + 6)
                subs = inst + 10
                if chunk + offset == subs:  # the template is defined here
                    out.append((subs + 20, 4))
                    subs += 24 + u32(subs + 20)
                if subs + 4 <= pos + size:
                    count = min(u32(subs), 64)
                    out.append((subs, 4))
                    for i in range(count):
                        out += [(subs + 4 + 4 * i, 2), (subs + 6 + 4 * i, 1)]
            pos += size
    return tuple(t for t in out if t[0] + t[1] <= len(data))


def _repeat(unit: bytes, size: int) -> bytes:
    return unit * (size // len(unit))


def _nested(open_: bytes, close: bytes, depth: int) -> bytes:
    return open_ * depth + close * depth


# Hostile snippets by where they go. XML markup: beside or instead of a tag.
XML_MARKUP = [
    b'<!DOCTYPE Event [<!ENTITY xxe SYSTEM "file://CANARY">]>',
    b'<!DOCTYPE Events [<!ENTITY % p SYSTEM "file://CANARY"> %p;]>',
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
               for i in range(1, 10)) + b"]>",
    b'<!ENTITY e "expanded">', b'<!ENTITY xxe SYSTEM "file://CANARY">',
    b"<Event>", b"</Event>", b"<Event ", b"<Events>", b"</Events>", b"<", b">", b"/>",
    b"</Data>", b'<Data Name="', b"<![CDATA[", b"]]>", b"<!--", b"-->",
    b'<?xml version="1.0" encoding="utf-16"?>', b"<?pi x?>", b"<EventData>", b"</System>",
    b"<UserData><x><y>1</y></x></UserData>", b"<e:Data>", b"\xef\xbb\xbf", b"\xff\xfe",
    _nested(b"<a>", b"</a>", 50_000),
    _nested(b"<Data><a>", b"</a></Data>", 2_000),
    b"<UserData>" + _nested(b"<a>", b"</a>", 3_000) + b"</UserData>",
    b"<Data" + b"".join(b' a%d="x"' % i for i in range(20_000)) + b">v</Data>",
    b"<EventData>" + _repeat(b"<Data>x</Data>", 300_000) + b"</EventData>",
    b"<EventData>" + b"".join(b'<Data Name="n%d">v</Data>' % i for i in range(20_000))
    + b"</EventData>",
    b'<Data Name="' + b"A" * (1 << 20) + b'">x</Data>',
    b"<EventID>99999999999999999999999</EventID>", b"<EventID>-1</EventID>",
    b"<EventID>" + b"9" * 5000 + b"</EventID>", b"<EventID>0x1F</EventID>",
    b"<EventID>2147483648</EventID>", b"<EventID>\xc2\xb2</EventID>",
    b"<EventID>\xd9\xa3</EventID>", b"<EventRecordID>18446744073709551616</EventRecordID>",
    b"<EventRecordID>-9223372036854775809</EventRecordID>",
    b"<TimeCreated SystemTime='9999-12-31T23:59:59.9999999Z'/>",
    b"<TimeCreated SystemTime='0001-01-01T00:00:00Z'/>",
    b"<TimeCreated SystemTime='2026-11-02T09:00:00+99:00'/>",
    b"<TimeCreated SystemTime='2026-11-02T09:00:00.\xd9\xa3Z'/>",
]
# XML text: in or instead of element text and attribute values.
XML_TEXT = [
    b"&xxe;", b"&lol9;", b"&e;", b"&#x1b;", b"&#0;", b"&#xD800;", b"&#x110000;",
    b"&#99999999999999999999;", b"&#" + b"9" * 5000 + b";", b"&#x" + b"f" * 100 + b";",
    b"&lt", b"&lt ", b"&amp", b"&", b"&#", b"&#x;", b"&quot ", "\uf700".encode(),
    b"\x00", b"\x1b[31m", b"\xff\xfe", b"\xed\xa0\x80", b"\xc3", b"\xf4\x90\x80\x80",
    b"\xef\x9c\x80", b"\r", b"\r\n", b"\t", b'"', b"'", b"<", b">", b"]]>",
    b"99999999999999999999999", b"-1", b"9" * 5000, b"\xc2\xb2", b"\xd9\xa3", b"0x1F",
    b"2147483648", b"18446744073709551616", b"9999-12-31T23:59:59.9999999Z",
    b"0000-00-00T00:00:00Z", b"{00000000-0000-0000-0000-00000000000G}",
    b"C" * (1 << 20), b"B" * (1 << 20),
]
JSON_VALUES = [
    b"99999999999999999999999999", b"-9223372036854775809", b"18446744073709551615",
    b"9223372036854775808", b"2147483648", b"1e400", b"-1e400", b"1e-400", b"NaN",
    b"Infinity", b"0x1f", b"1" * 5000, b'"' + b"9" * 5000 + b'"', b'"0x' + b"f" * 40 + b'"',
    b'"-0x1"', b'" 42 "', b'"2147483648"', b'"\xd9\xa3"', b'"\xc2\xb2"', b'"\\ud800"',
    b'"\\udc00\\ud800"', b'"\\u0000"', b'"\\u001b[31m"', b'"\xff\xfe"', b'"\xed\xa0\x80"',
    b'"unterminated', b'"\\', b'"\\x41"', b"null", b"true", b"false", b"[]", b"{}", b'""',
    b"[1,[2,[3]]]", _nested(b"[", b"]", 1100), _nested(b"[", b"]", 990),
    b'{"a":' * 1000 + b"1" + b"}" * 1000, b'{"a":' * 990 + b"1" + b"}" * 990,
    b'[{"a":' * 490 + b"1" + b"}]" * 490,
    b'{"#text":[1,[2,[3]]],"#attributes":{"SystemTime":5,"Name":{"x":1}}}',
    b'{"#attributes":{"Name":{"x":1}}}', b'{"#attributes":5}', b'[{"#text":"x"}]',
    b'{"#text":{"#text":null}}', b'"2026-11-02T09:00:00.1234567890123Z"',
    b'"9999-12-31T23:59:59.999999Z"', b'"0001-01-01T00:00:00Z"',
    b'"2026-11-02T09:00:00+99:00"', b'"2026-11-02 09:00:00"', b'"\xe2\x80\xae"',
    b'"' + b"A" * (1 << 20) + b'"', b'{"Event":{"System":{}}}',
    b'{"System":{"EventID":{"#text":"x"}}}', b'"<Event><System><EventID>1</EventID>'
    b'</System><EventData><Data Name=\\"x\\">' + b"<a>" * 3000 + b'</Data></EventData>"',
]
# JSON punctuation: beside or instead of a colon, comma or line end.
JSON_PUNCT = [
    b"\n", b"\r", b"\x00", b"\xef\xbb\xbf", b",", b":", b"{", b"}", b"[", b"]", b'"',
    b"\n{}\n", b"\n[1]\n", b'\n"x"\n', b"\n\xff\xfe\n", b"\n" + _nested(b"[", b"]", 1100),
    b'\n{"Event":{"System":{"EventID":2147483648}}}\n',
    b'\n{"winlog":{"event_id":1,"user_data":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}\n",
]
AUDIT_STAMPS = [
    b"99999999999999999999.000:1", b"9" * 5000 + b".0:1", b"1793599200.010:" + b"9" * 5000,
    b"1793599200.\xc2\xb2:1", b"1793599200.010:\xc2\xb2", b"\xd9\xa1\xd9\xa2.0:5",
    b"1793599200.010:99999999999999999999", b"10/26/2021 12:51:14.\xc2\xb2:1385",
    b"10/26/2021 12:51:14.046:1385", b"99/99/9999 99:99:99.000:1",
    b"12/31/9999 23:59:59.999:1", b"01/01/0001 00:00:00.000:1", b"01/01/1 00:00:00.000:1",
    b":1", b".:1", b"1.1234567:1", b"1:", b"1:-1", b"", b"(", b"1793599200.010:4482) x=(",
]
AUDIT_VALUES = [
    b"99999999999999999999999", b"9" * 5000, b"\xc2\xb2", b"\xd9\xa3", b"-1", b"",
    b'"', b"'", b'"unterminated', b"'msg=", b"'op=x a=", b"ZZ", b"ABC", b"00", b"0000",
    b"6162" * 10_000, b"(null)", b"(none)", b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"=",
    b"==", b"x=" * 5000, b'"x" a' + b"9" * 5000 + b"=y", b"x a0[" + b"9" * 5000 + b"]=y",
    b"x a1[\xc2\xb2]=y", b"x item=" + b"9" * 5000, b"x item=\xc2\xb2",
    b"x syscall=" + b"9" * 5000, b"x syscall=\xc2\xb2", b"x syscall=99999999999",
    b"c000003e syscall=59 success=yes", b"x a0=" + b"41" * 100_000,
]
# auditd lines: at a line's start.
AUDIT_LINES = [
    b"type=EOE msg=audit(1:1):\n", b"\n", b"\r", b"----\n", b"time->x\n",
    b"type=SYSCALL msg=audit(1700000000.1:1): " + b"a=b " * 50_000 + b"\n",
    b"type=EXECVE msg=audit(1.1:5): argc=1 a" + b"9" * 5000 + b"=x\n",
    b"node=\xff type=SYSCALL msg=audit(1.1:1): syscall=\xc2\xb2\n",
    b"type=PATH msg=audit(1793599200.010:4482): item=\xc2\xb2 name=x\n",
    b"type=SYSCALL msg=audit(01/01/0001 00:00:00.000:9) : syscall=execve\n",
    b"".join(b"type=CWD msg=audit(1.1:%d): cwd=/\n" % i for i in range(5000)),
    b"type=X msg=audit(" + b"(" * 10_000 + b"\n", b"type= msg=audit():\n",
]

# Where text seeds are mutated: spans of each kind of token, found by a pattern (its group
# 1 where it has one), and the snippets that go there.
_TARGETS: dict[str, dict[str, tuple[re.Pattern[bytes], list[bytes]]]] = {
    "xml": {"tag": (re.compile(rb"<[^<>]*>"), XML_MARKUP),
            "text": (re.compile(rb">([^<>]+)<"), XML_TEXT),
            "attr": (re.compile(rb"""=['"]([^'"]*)['"]"""), XML_TEXT)},
    "jsonl": {"value": (re.compile(rb'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?'),
                        JSON_VALUES),
              "punct": (re.compile(rb"[:,\n]"), JSON_PUNCT)},
    "auditd": {"stamp": (re.compile(rb"audit\(([^)]*)\)"), AUDIT_STAMPS),
               "value": (re.compile(rb"=(\S*)"), AUDIT_VALUES),
               "line": (re.compile(rb"^()", re.M), AUDIT_LINES)},
}
_TARGETS["sysmon-syslog"] = dict(
    _TARGETS["xml"], line=(re.compile(rb"^()", re.M), [b"\n", b"x sysmon: ", b"<Event>\n",
                                                       b"x" * 3000 + b"\n"]))


@functools.cache
def text_targets(name: str, fmt: str) -> dict[str, tuple[tuple[int, int], ...]]:
    """The token spans of a text seed, by kind (each kind's first 20,000)."""
    data = seed_bytes(name)
    out = {}
    for kind, (pattern, _) in _TARGETS[fmt].items():
        spans = tuple(m.span(1 if pattern.groups else 0)
                      for _, m in zip(range(20_000), pattern.finditer(data), strict=False))
        if spans:
            out[kind] = spans
    return out or {"line": ((0, 0),)}


MODES = ("replace", "before", "after")


def structure_op(name: str, fmt: str) -> st.SearchStrategy[tuple[Any, ...]]:
    """A structure-aware mutation of the seed ``name``: one of its EVTX fields set to a
    value, or one of its text tokens replaced by (or given before or after it) a snippet
    made for that kind of token."""
    if fmt == "evtx":
        return st.tuples(st.just("field"), st.integers(0, max(len(evtx_targets(name)) - 1, 0)),
                         int_values)
    targets = text_targets(name, fmt)
    snippets = {k: v[1] for k, v in _TARGETS[fmt].items()}
    snippets.setdefault("line", [b"\n"])
    return st.sampled_from(sorted(targets)).flatmap(lambda kind: st.tuples(
        st.just("token"), st.just(kind), st.integers(0, len(targets[kind]) - 1),
        st.sampled_from(MODES), st.integers(0, len(snippets[kind]) - 1)))


def apply_structure(data: bytes, fmt: str, name: str, ops: Iterable[tuple[Any, ...]]) -> bytes:
    """The structure-aware mutations of a seed, from the end of the seed backwards so each
    op's span is still where the seed had it."""
    ops = list(ops)
    if not ops:
        return data
    if fmt == "evtx":
        targets = evtx_targets(name)
        buf = bytearray(data)
        for _, index, value in ops:
            pos, width = targets[index]
            old = int.from_bytes(buf[pos:pos + width], "little")
            buf[pos:pos + width] = _int_value(value, old, width).to_bytes(width, "little")
        return bytes(buf)
    spans = text_targets(name, fmt)
    snippets = {k: v[1] for k, v in _TARGETS[fmt].items()}
    snippets.setdefault("line", [b"\n"])
    chosen = sorted(((spans[kind][index], mode, snippets[kind][pick])
                     for _, kind, index, mode, pick in ops), key=lambda c: c[0], reverse=True)
    for (start, end), mode, snippet in chosen:
        snippet = snippet.replace(b"CANARY", str(CANARY).encode())
        if mode == "replace":
            data = data[:start] + snippet + data[end:]
        elif mode == "before":
            data = data[:start] + snippet + data[start:]
        else:
            data = data[:end] + snippet + data[end:]
    return data


def seed_bytes(name: str) -> bytes:
    if name.startswith("public:"):
        return public_seed(name.removeprefix("public:"))
    if name.startswith("public-zip:"):
        rel, _, member = name.removeprefix("public-zip:").partition("!")
        return public_member(rel, member)
    return seeds()[name]


@dataclasses.dataclass(frozen=True, repr=False)
class Mutant:
    """A mutated seed: which seed, the mutations (as hypothesis reports it), the bytes."""

    seed: str
    ops: tuple[tuple[Any, ...], ...]
    data: bytes
    filename: str = "input.log"

    def __repr__(self) -> str:
        ops = ", ".join(repr(op)[:200] for op in self.ops)
        return f"Mutant({self.seed!r}, ops=({ops}), {len(self.data)} bytes)"


def draw_generic(draw: Callable[..., Any], data: bytes, limit: int, max_ops: int = 4
                 ) -> tuple[bytes, list[tuple[Any, ...]]]:
    """Up to ``max_ops`` byte-level mutations, each drawn against the input as it is then."""
    ops = []
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(generic_op(len(data)))
        data = apply_generic(data, op)[:limit]
        ops.append(op)
    return data, ops


@st.composite
def mutants(draw: Callable[..., Any], names: list[str], fmt: str | None = None,
            limit: int = MAX_INPUT) -> Mutant:
    """A seed of ``names`` with up to 4 structure-aware, then up to 4 byte-level mutations."""
    name = draw(st.sampled_from(names))
    kind = fmt or seed_format(name)
    structural = []
    if kind == "evtx" or kind in _TARGETS:  # a zip: its bytes only
        structural = draw(st.lists(structure_op(name, kind), max_size=4))
    data = apply_structure(seed_bytes(name), kind, name, structural)[:limit]
    data, generic = draw_generic(draw, data, limit)
    return Mutant(name, tuple(structural + generic), data)


# --- the worker ---------------------------------------------------------------------------


def text_ok(value: object) -> str | None:
    """Why ``value`` cannot be stored as log text, or None."""
    if type(value) is not str:
        return f"not a str: {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not UTF-8 encodable: {exc}"
    return None


def int_ok(value: object, bounds: tuple[int, int], optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if type(value) is not int:
        return f"not an int: {value!r}"[:80]
    if not bounds[0] <= value <= bounds[1]:
        return f"out of range: {value}"[:80]
    return None


def item_problems(item: object, max_chars: int) -> list[str]:
    """Why a yielded item would break the store or is impossible, or nothing."""
    from proctrail.store.events import Event, Kind, Skip

    if isinstance(item, Skip):
        return [f"skip {k}: {p}" for k, p in (("reason", text_ok(item.reason)),
                                              ("detail", text_ok(item.detail))) if p]
    if not isinstance(item, Event):
        return [f"yielded a {type(item).__name__}"]
    problems = []
    for attr in ("host", "channel", "provider"):
        value = getattr(item, attr)
        why = text_ok(value) or (f"{len(value)} chars" if len(value) > max_chars else None)
        if why:
            problems.append(f"{attr} {why}")
    if item.kind is not None and item.kind not in {k.value for k in Kind}:
        problems.append(f"kind {item.kind!r}")
    for attr, bounds, optional in (("event_id", INT32, False), ("record_id", INT64, True),
                                   ("ts_us", INT64, True), ("received_us", INT64, True)):
        why = int_ok(getattr(item, attr), bounds, optional)
        if why:
            problems.append(f"{attr} {why}")
    if type(item.fields) is not dict:
        problems.append(f"fields is a {type(item.fields).__name__}")
        return problems
    for key, value in item.fields.items():
        for what, text in (("name", key), ("value", value)):
            why = text_ok(text) or (f"{len(text)} chars" if len(text) > max_chars else None)
            if why:
                problems.append(f"field {what} {str(key)[:40]!r} {why}")
            elif CANARY_MARK in text:
                problems.append(f"field {key[:40]!r} holds the external entity's file")
    try:
        orjson.dumps(item.fields)
    except TypeError as exc:
        problems.append(f"orjson.dumps(fields): {exc}")
    return problems


def _reader(mode: str, stream: Any, name: str, options: dict[str, Any]) -> Iterable[Any]:
    from proctrail.store.readers.auditd import open_auditd
    from proctrail.store.readers.base import ReadOptions
    from proctrail.store.readers.evtx_python import open_evtx_python
    from proctrail.store.readers.evtx_rust import open_evtx_rust
    from proctrail.store.readers.jsonl import open_jsonl
    from proctrail.store.readers.xml import open_sysmon_syslog, open_xml_export

    opts = ReadOptions(local_offset=options.get("offset"), threads=options.get("threads", 1))
    if mode == "evtx":
        return open_evtx_rust(stream, name, opts.threads)
    if mode == "python-evtx":
        return open_evtx_python(stream, name)
    openers = {"xml": open_xml_export, "jsonl": open_jsonl, "auditd": open_auditd,
               "sysmon-syslog": open_sysmon_syslog}
    return openers[mode](stream, name, opts)


def _sniffed(path: Path, options: dict[str, Any]) -> Iterable[Any]:
    """What ingest reads of ``path``: every input (archive members too), sniffed."""
    from proctrail.store.readers.base import ReaderError, ReadOptions
    from proctrail.store.readers.sniff import iter_inputs, open_records

    opts = ReadOptions(parser=options.get("parser", "evtx"), threads=options.get("threads", 1))
    for item in iter_inputs([str(path)]):
        if isinstance(item, ReaderError):
            yield ("input error", item.reason)
            continue
        try:
            item.sha256()
            with item.open() as stream:
                _, records = open_records(item, stream, opts)
                yield from records
        except ReaderError as exc:
            yield ("reader error", exc.reason)


def run_one(request: dict[str, Any], work: Path) -> dict[str, Any]:
    """Read one input as asked and check every item; the summary."""
    from proctrail.store.events import Skip
    from proctrail.store.readers.base import ReaderError

    data: bytes = request["data"]
    mode: str = request["mode"]
    options: dict[str, Any] = request.get("options", {})
    path = work / request.get("filename", "input.log")
    path.write_bytes(data)
    # No text can be longer than the input makes it (an archive's members may be, though).
    max_chars = 2 * len(data) + 64 if mode != "sniff" else sys.maxsize
    result: dict[str, Any] = {"events": 0, "skips": Counter(), "problems": [],
                              "outcome": "ok", "error": "", "errors": Counter()}
    _reset_peak()
    base = _rss()
    started = time.perf_counter()
    try:
        with open(path, "rb") as handle:
            stream: Any = io.BytesIO(data) if options.get("in_memory") else handle
            if mode == "sniff":
                records: Iterable[Any] = _sniffed(path, options)
            else:
                records = _reader(mode, stream, request.get("name", "input"), options)
            limit = 2 * len(data) + 16
            for n, item in enumerate(records):
                if isinstance(item, tuple):  # sniff: an input that could not be read
                    result["errors"][item[0]] += 1
                    continue
                for problem in item_problems(item, max_chars):
                    if len(result["problems"]) < 10:
                        result["problems"].append(problem)
                if isinstance(item, Skip):
                    result["skips"][item.reason] += 1
                else:
                    result["events"] += 1
                if n > limit:
                    result["problems"].append(f"more than {limit} items from {len(data)} bytes")
                    break
    except ReaderError as exc:
        result["outcome"], result["error"] = "reader_error", exc.reason
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        result["outcome"] = "crash"
        result["error"] = "".join(traceback.format_exception(exc))[-4000:]
    result["elapsed"] = time.perf_counter() - started
    result["memory"] = _peak() - base
    path.unlink()
    return result


def run_ingest(request: dict[str, Any]) -> dict[str, Any]:
    """Ingest the given files into the store at ``url``; the report, or the crash."""
    from proctrail.store.db import open_engine
    from proctrail.store.ingest import Ingestor
    from proctrail.store.readers.base import ReadOptions

    try:
        engine = open_engine(request["url"])
        report = Ingestor(engine, ReadOptions(threads=1)).run(request["paths"])
        engine.dispose()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"crash": "".join(traceback.format_exception(exc))[-4000:]}
    return {"sources": [dict(name=s.name, status=s.status, format=s.format,
                             records_read=s.records_read, stored=s.stored,
                             duplicates=s.duplicates, skipped=dict(s.skipped), error=s.error)
                        for s in report.sources]}


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _status(key: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss() -> int:
    return _status("VmRSS:")


def _peak() -> int:
    return _status("VmHWM:")


def worker_main() -> None:
    """Serve requests on stdin (length-prefixed pickles), answers on the original stdout."""
    import resource

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    inp = sys.stdin.buffer
    soft = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (soft, resource.getrlimit(resource.RLIMIT_AS)[1]))
    work = Path(tempfile.mkdtemp(prefix="proctrail-fuzz-worker-"))
    try:
        while True:
            head = inp.read(4)
            if len(head) < 4:
                return
            request = pickle.loads(inp.read(struct.unpack("<I", head)[0]))
            ingest = request["mode"] == "ingest"
            answer = run_ingest(request) if ingest else run_one(request, work)
            body = pickle.dumps(answer)
            out.write(struct.pack("<I", len(body)) + body)
            out.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Worker:
    """A worker process: each request read in it, killed and restarted on a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's stderr, closed last

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = dict(os.environ, PYTHONFAULTHANDLER="1", RUST_BACKTRACE="0")
            self.proc = subprocess.Popen([sys.executable, __file__, "--worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.log, env=env)
        return self.proc

    def ask(self, request: dict[str, Any], timeout: float = HANG_LIMIT) -> dict[str, Any]:
        proc = self._start()
        body = pickle.dumps(request)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(struct.pack("<I", len(body)) + body)
            proc.stdin.flush()
        except BrokenPipeError:
            return self._dead(proc)
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            proc.kill()
            proc.wait()
            return {"outcome": "hang", "error": f"no answer within {timeout:.0f} s"}
        head = proc.stdout.read(4)
        if len(head) < 4:
            return self._dead(proc)
        return pickle.loads(proc.stdout.read(struct.unpack("<I", head)[0]))

    def _dead(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        code = proc.wait()
        self.log.seek(0, 2)
        size = self.log.tell()
        self.log.seek(max(0, size - 3000))
        tail = self.log.read().decode(errors="replace")
        return {"outcome": "died", "error": f"worker exited with {code}:\n{tail}"}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


def check(worker: Worker, mode: str, data: bytes, **options: Any) -> dict[str, Any]:
    """Read ``data`` in the worker and assert every property; the summary."""
    filename = options.pop("filename", "input.log")
    result = worker.ask({"mode": mode, "data": data, "options": options, "filename": filename,
                         "name": filename})
    where = f"{mode} reader, {len(data)} bytes, {options}"
    assert result["outcome"] in ("ok", "reader_error"), \
        f"{where}: {result['outcome']}\n{result['error']}"
    assert not result["problems"], f"{where}: {result['problems']}"
    assert result["elapsed"] < TIME_LIMIT, f"{where}: took {result['elapsed']:.1f} s"
    assert result["memory"] < memory_limit(len(data)), \
        f"{where}: peak memory grew by {result['memory'] >> 20} MB"
    return result


# --- the fuzz tests: one per reader -------------------------------------------------------


@fuzz(150)
@given(m=mutants(OWN_EVTX, "evtx"), in_memory=st.booleans())
def test_fuzz_evtx_rust(worker: Worker, m: Mutant, in_memory: bool) -> None:
    check(worker, "evtx", m.data, in_memory=in_memory)


@fuzz(40)
@given(m=mutants(OWN_EVTX_SMALL, "evtx", MAX_INPUT_PYTHON_EVTX))
def test_fuzz_evtx_python(worker: Worker, m: Mutant) -> None:
    check(worker, "python-evtx", m.data)


@fuzz(120)
@given(m=mutants(OWN_XML, "xml"))
def test_fuzz_xml(worker: Worker, m: Mutant) -> None:
    check(worker, "xml", m.data)


@fuzz(150)
@given(m=mutants(OWN_JSONL, "jsonl"))
def test_fuzz_jsonl(worker: Worker, m: Mutant) -> None:
    check(worker, "jsonl", m.data)


OFFSETS = st.sampled_from([None, timedelta(hours=14), timedelta(hours=-12),
                           timedelta(minutes=-30)])


@fuzz(120)
@given(m=mutants(OWN_AUDITD, "auditd"), offset=OFFSETS)
def test_fuzz_auditd(worker: Worker, m: Mutant, offset: timedelta | None) -> None:
    check(worker, "auditd", m.data, offset=offset)


@fuzz(100)
@given(m=mutants(OWN_SYSLOG, "sysmon-syslog"))
def test_fuzz_sysmon_syslog(worker: Worker, m: Mutant) -> None:
    check(worker, "sysmon-syslog", m.data)


def _zip(members: list[tuple[str, bytes]], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 2, 9, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
    return buf.getvalue()


@st.composite
def archives(draw: Callable[..., Any]) -> Mutant:
    """One to three mutated seeds of any format, in a zip (deflated or stored) or a gz or
    as they are, the archive itself then mutated."""
    members = draw(st.lists(mutants(OWN_ALL, None, 256 << 10), min_size=1, max_size=3))
    kind = draw(st.sampled_from(["zip", "zip-stored", "gz", "plain"]))
    if kind == "plain":
        data, filename = members[0].data, "input.log"
    elif kind == "gz":
        data, filename = gzip.compress(members[0].data, mtime=0), "input.log.gz"
    else:
        method = zipfile.ZIP_STORED if kind == "zip-stored" else zipfile.ZIP_DEFLATED
        data = _zip([(f"logs/{i}-{m.seed}", m.data) for i, m in enumerate(members)], method)
        filename = "input.zip"
    data, outer = draw_generic(draw, data, MAX_INPUT, max_ops=3)
    return Mutant(f"{kind}: " + ", ".join(m.seed for m in members),
                  (*(op for m in members for op in m.ops), ("archive",), *outer),
                  data, filename)


@fuzz(80)
@given(m=archives(), parser=st.sampled_from(["evtx", "python-evtx"]))
def test_fuzz_archives_and_sniffing(worker: Worker, m: Mutant, parser: str) -> None:
    """Any seed, mutated, in a zip or gz (itself mutated) or plain: format sniffing and
    archive members read as ingest reads them."""
    if len(m.data) > MAX_INPUT_PYTHON_EVTX:
        parser = "evtx"
    check(worker, "sniff", m.data, filename=m.filename, parser=parser)


# --- the public samples, where present ----------------------------------------------------


@needs_samples
@fuzz(60)
@given(m=mutants([f"public:{r}" for r in PUBLIC_EVTX], "evtx"), in_memory=st.booleans())
def test_fuzz_evtx_rust_public_samples(worker: Worker, m: Mutant, in_memory: bool) -> None:
    check(worker, "evtx", m.data, in_memory=in_memory)


@needs_samples
@fuzz(20)
@given(m=mutants([f"public:{r}" for r in PUBLIC_EVTX_SMALL], "evtx", MAX_INPUT_PYTHON_EVTX))
def test_fuzz_evtx_python_public_samples(worker: Worker, m: Mutant) -> None:
    check(worker, "python-evtx", m.data)


@needs_samples
@fuzz(40)
@given(m=mutants([f"public:{r}" for r in PUBLIC_TEXT]), offset=OFFSETS)
def test_fuzz_text_public_samples(worker: Worker, m: Mutant, offset: timedelta | None) -> None:
    check(worker, seed_format(m.seed), m.data, offset=offset)


@needs_samples
@fuzz(30)
@given(m=mutants(PUBLIC_MEMBERS, "jsonl"))
def test_fuzz_jsonl_public_samples(worker: Worker, m: Mutant) -> None:
    check(worker, "jsonl", m.data)


@needs_samples
@fuzz(20)
@given(m=mutants([f"public:{r}" for r in PUBLIC_ZIP], "zip"))
def test_fuzz_public_zips(worker: Worker, m: Mutant) -> None:
    check(worker, "sniff", m.data, filename="input.zip")


# --- fuzzed inputs through the ingest -----------------------------------------------------


def assert_ingest_consistent(worker: Worker, url: str, paths: list[Path]) -> tuple[int, int]:
    """Ingest ``paths`` into ``url``: no exception, and the report adds up with what the
    readers alone yield and with what the store holds."""
    from sqlalchemy import func, select

    from proctrail.store.db import open_engine
    from proctrail.store.models import EventRow

    expected = {}
    for path in paths:
        alone = worker.ask({"mode": "sniff", "data": path.read_bytes(), "filename": path.name,
                            "options": {}})
        assert alone["outcome"] == "ok", alone["error"]
        expected[str(path)] = alone
    answer = worker.ask({"mode": "ingest", "url": url, "paths": [str(p) for p in paths]})
    assert "crash" not in answer, answer.get("crash") or answer.get("error")
    assert "outcome" not in answer, answer["error"]
    stored = 0
    for source in answer["sources"]:
        assert source["status"] in ("complete", "failed", "already"), source
        assert source["records_read"] == source["stored"] + source["duplicates"], source
        stored += source["stored"]
        alone = expected.get(source["name"])
        if alone is not None and source["status"] == "complete" and not alone["errors"]:
            assert source["records_read"] == alone["events"], source
            assert Counter(source["skipped"]) == alone["skips"], source
        if source["status"] == "failed":
            assert source["error"], source
    engine = open_engine(url)
    with engine.connect() as conn:
        in_store = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
    engine.dispose()
    return stored, in_store


@fuzz(12)
@given(chosen=st.lists(mutants(OWN_ALL, None, 256 << 10), min_size=1, max_size=4))
def test_fuzzed_inputs_ingest_into_sqlite(worker: Worker, sqlite_url: str, tmp_path: Path,
                                          chosen: list[Mutant]) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    paths = []
    for i, m in enumerate(chosen):
        paths.append(folder / f"{i}-{m.seed}")
        paths[-1].write_bytes(m.data)
    before = _events_in(sqlite_url)
    stored, in_store = assert_ingest_consistent(worker, sqlite_url, paths)
    assert in_store == before + stored


def _events_in(url: str) -> int:
    from sqlalchemy import func, select

    from proctrail.store.db import open_engine
    from proctrail.store.models import EventRow

    engine = open_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(EventRow)).scalar_one()
    engine.dispose()
    return n


def test_seeds_read_cleanly(worker: Worker) -> None:
    """The unmutated seeds read without a skip: the fuzzing starts from good input."""
    for name in OWN_ALL:
        fmt = seed_format(name)
        result = check(worker, fmt if fmt != "evtx" else "evtx", seed_bytes(name))
        assert result["outcome"] == "ok", (name, result["error"])
        assert result["events"] > 0, name
        allowed = {"truncated syslog message"} if fmt == "sysmon-syslog" else set()
        assert set(result["skips"]) <= allowed, (name, result["skips"])
    targets = evtx_targets("WS02-Security.evtx")
    assert len(targets) > 500
    assert len(text_targets("gen-WS01-Security.jsonl", "jsonl")["value"]) > 100
    assert set(text_targets("lnx01-audit.log", "auditd")) == {"stamp", "value", "line"}


# --- regressions: every failure the fuzzing found, as its minimal input ------------------


def read_direct(mode: str, data: bytes, **options: Any) -> tuple[list[Any], str | None]:
    """Every item a reader yields for ``data`` (in this process), and its ReaderError."""
    from proctrail.store.readers.base import ReaderError

    items: list[Any] = []
    try:
        items.extend(_reader(mode, io.BytesIO(data), "regression", options))
    except ReaderError as exc:
        return items, exc.reason
    return items, None


def events_and_skips(items: list[Any]) -> tuple[list[Any], Counter[str]]:
    from proctrail.store.events import Skip

    return ([i for i in items if not isinstance(i, Skip)],
            Counter(i.reason for i in items if isinstance(i, Skip)))


def xml_event(system: str = "", data: str = "<Data Name='x'>1</Data>") -> bytes:
    """One hand-written Security event in an export, its System parts replaceable."""
    parts = {"EventID": "4688", "EventRecordID": "7", "Computer": "ws1"}
    for found in re.finditer(r"<(\w+)>([^<]*)</\1>", system):
        parts[found.group(1)] = found.group(2)
    body = "".join(f"<{k}>{v}</{k}>" for k, v in parts.items())
    return (f"<Events><Event><System><Provider Name='Microsoft-Windows-Security-Auditing'/>"
            f"<TimeCreated SystemTime='2026-11-02T09:00:00.000Z'/><Channel>Security</Channel>"
            f"{body}</System><EventData>{data}</EventData></Event></Events>").encode()


@pytest.mark.parametrize("data", [
    _nested("<a>", "</a>", 5000), "<Data Name='x'>" + _nested("<b>", "</b>", 2000) + "</Data>"],
    ids=["unnamed", "in a Data"])
def test_xml_elements_nested_deeper_than_python_recurses_are_a_skip(data: str) -> None:
    # Was: RecursionError out of the reader (winevent._element_text).
    items, error = read_direct("xml", xml_event(data=data) + xml_event())
    events, skips = events_and_skips(items)
    assert error is None and skips == {"malformed event": 1} and len(events) == 1


def test_sysmon_syslog_elements_nested_too_deep_are_a_skip() -> None:
    line = ("Nov  2 09:00:00 lnx01 sysmon: <Event><System><Provider Name='Linux-Sysmon'/>"
            "<EventID>1</EventID><Channel>Linux-Sysmon/Operational</Channel></System>"
            "<EventData><Data Name='x'>" + _nested("<b>", "</b>", 3000)
            + "</Data></EventData></Event>\n")
    items, error = read_direct("sysmon-syslog", line.encode())
    assert error is None and events_and_skips(items)[1] == {"malformed event": 1}


@pytest.mark.parametrize(("event_id", "kept"), [
    ("2147483648", False), ("-2147483649", False), ("99999999999999999999999", False),
    ("9" * 5000, False), ("2147483647", True), ("0x1F", True)], ids=[
    "2**31", "-2**31-1", "23 digits", "5000 digits", "2**31-1", "hex"])
def test_xml_event_ids_an_integer_column_cannot_hold_are_a_skip(event_id: str,
                                                                 kept: bool) -> None:
    # Was: an event whose event_id overflows the store's INTEGER column (a crash at write).
    items, _ = read_direct("xml", xml_event(f"<EventID>{event_id}</EventID>"))
    events, skips = events_and_skips(items)
    assert (len(events), sum(skips.values())) == ((1, 0) if kept else (0, 1))


@pytest.mark.parametrize("record_id", ["18446744073709551616", "9223372036854775808",
                                       "-9223372036854775809"])
def test_record_ids_a_bigint_cannot_hold_are_unknown(record_id: str) -> None:
    # Was: the event carried the id and the store write overflowed (SQLite OverflowError).
    items, _ = read_direct("xml", xml_event(f"<EventRecordID>{record_id}</EventRecordID>"))
    events, skips = events_and_skips(items)
    assert not skips and len(events) == 1 and events[0].record_id is None


def _jsonl(*rows: object) -> bytes:
    return b"\n".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in rows) + b"\n"


WINLOGBEAT = {"@timestamp": "2026-11-02T09:00:00Z", "winlog": {
    "channel": "Security", "event_id": 4688, "record_id": 5, "computer_name": "ws1",
    "provider_name": "Microsoft-Windows-Security-Auditing", "event_data": {"x": "1"}}}


@pytest.mark.parametrize("nested", [
    # Winlogbeat user data (jsonl._flatten), a list value (base.as_text), evtx_dump's
    # UserData (winevent._json_flatten): each nested as deep as orjson reads (1024).
    b'{"@timestamp":"2026-11-02T09:00:00Z","winlog":{"channel":"Security","event_id":1,'
    b'"user_data":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}",
    b'{"EventID":4688,"Channel":"Security","Hostname":"ws1","CommandLine":'
    + _nested(b"[", b"]", 1000) + b"}",
    b'{"Event":{"System":{"EventID":1,"Channel":"Security"},"UserData":'
    + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}}",
], ids=["winlogbeat user_data", "NXLog list value", "evtx_dump UserData"])
def test_json_nested_deeper_than_python_recurses_is_a_skip(nested: bytes) -> None:
    # Was: RecursionError out of the reader.
    items, error = read_direct("jsonl", _jsonl(WINLOGBEAT, nested, WINLOGBEAT))
    events, skips = events_and_skips(items)
    assert error is None and len(events) == 2 and skips == {"malformed event": 1}


@pytest.mark.parametrize(("event_id", "record_id", "kept"), [
    (2**31, 5, False), (2**64 - 1, 5, False), ("0x80000000", 5, False),
    (4688, 2**64 - 1, True), (4688, "18446744073709551616", True),
    (4688, "-9223372036854775809", True)])
def test_json_numbers_beyond_the_store_columns(event_id: object, record_id: object,
                                               kept: bool) -> None:
    row = dict(WINLOGBEAT, winlog=dict(WINLOGBEAT["winlog"], event_id=event_id,
                                       record_id=record_id))
    items, _ = read_direct("jsonl", _jsonl(WINLOGBEAT, row))
    events, skips = events_and_skips(items)
    assert len(events) == 1 + kept and sum(skips.values()) == (not kept)
    if kept:
        assert events[1].record_id is None


AUDIT_LINE = ('type=SYSCALL msg=audit({stamp}:{serial}): arch=c000003e syscall={nr} '
              'success=yes exit=0 items=1 ppid=1 pid=7 comm="ls" exe="/usr/bin/ls"')
SYSLOG_LINE = (b"Nov  2 09:00:00 lnx01 sysmon: <Event><System><Provider Name='Linux-Sysmon'/>"
               b"<EventID>1</EventID><Channel>Linux-Sysmon/Operational</Channel></System>"
               b"<EventData><Data Name='Image'>/bin/ls</Data></EventData></Event>")


def _audit(stamp: str = "1700000000.250", serial: str = "5", nr: str = "59",
           more: str = "", rtype: str = "PATH") -> bytes:
    line = AUDIT_LINE.format(stamp=stamp, serial=serial, nr=nr)
    tail = f"\ntype={rtype} msg=audit({stamp}:{serial}): {more}" if more else ""
    return (AUDIT_LINE.format(stamp="1700000000.100", serial="4", nr="59") + "\n"
            + line + tail + "\n").encode()


@pytest.mark.parametrize("serial", ["²", "0²", "٣", "9" * 5000, "99999999999999999999"],
                         ids=["superscript", "digit+superscript", "arabic", "5000 digits",
                              "2**64+"])
def test_auditd_serials_that_are_no_ascii_number_are_unparseable_lines(serial: str) -> None:
    # Was: ValueError out of int() ("²".isdigit() is true; 4300 digits at most).
    items, error = read_direct("auditd", _audit(serial=serial))
    events, skips = events_and_skips(items)
    assert error is None and len(events) == 1 and skips == {"unparseable line": 1}


@pytest.mark.parametrize("nr", ["²", "9" * 5000, "99999999999"],
                         ids=["superscript", "5000 digits", "2**31+"])
def test_auditd_syscall_numbers_that_are_no_number_are_event_id_zero(nr: str) -> None:
    items, _ = read_direct("auditd", _audit(nr=nr))
    events, skips = events_and_skips(items)
    assert not skips and [e.event_id for e in events] == [59, 0]
    assert events[1].fields["syscall"] == nr


@pytest.mark.parametrize(("rtype", "more"), [
    ("PATH", "item=² name=/x"), ("PATH", "item=" + "9" * 5000 + " name=/x"),
    ("EXECVE", "argc=1 a" + "9" * 5000 + "=x"), ("EXECVE", "argc=1 a0[" + "9" * 5000 + "]=x")],
    ids=["PATH item superscript", "PATH item 5000 digits", "EXECVE a<5000 digits>",
         "EXECVE a0[<5000 digits>]"])
def test_auditd_huge_or_unicode_indexes_are_ignored(rtype: str, more: str) -> None:
    items, _ = read_direct("auditd", _audit(more=more, rtype=rtype))
    events, skips = events_and_skips(items)
    assert not skips and len(events) == 2


@pytest.mark.parametrize(("stamp", "offset"), [
    ("9" * 5000, None), ("99999999999999999999.000", None), ("1700000000.²", None),
    ("01/01/0001 00:00:00.000", timedelta(hours=14)),
    ("12/31/9999 23:59:59.999", timedelta(hours=-12)), ("10/26/2021 12:51:14.²", None)],
    ids=["5000 digits", "2**64+ s", "superscript fraction", "year 1 - 14 h",
         "year 9999 + 12 h", "ausearch superscript fraction"])
def test_auditd_times_out_of_range_are_unknown(stamp: str, offset: timedelta | None) -> None:
    # Was: ValueError (digits), OverflowError (local time moved past year 1 or 9999), or a
    # time beyond a BIGINT column.
    items, error = read_direct("auditd", _audit(stamp=stamp), offset=offset)
    events, skips = events_and_skips(items)
    assert error is None and not skips and len(events) == 2
    assert events[1].ts_us is None or events[1].ts_us in range(-(2**63), 2**63)


def _first_record(data: bytes) -> tuple[int, list[tuple[int, int, int]]]:
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


def _patched(data: bytes, *patches: tuple[int, bytes]) -> bytes:
    buf = bytearray(data)
    for pos, value in patches:
        buf[pos:pos + len(value)] = value
    return bytes(buf)


@pytest.fixture(scope="module")
def own_evtx() -> bytes:
    """A small Security EVTX by the project's generator (Provider with a Guid)."""
    data = seed_bytes("gen-WS02-Security.evtx")
    assert len(_first_record(data)[1]) > 12
    return data


def test_evtx_rust_provider_name_of_a_number_type(worker: Worker, own_evtx: bytes) -> None:
    # The provider name's substitution typed UInt32: the Rust parser renders a JSON number.
    # Was: AttributeError ('int' object has no attribute 'lower') out of the reader.
    descriptor = _first_record(own_evtx)[1][0][0]
    data = _patched(own_evtx, (descriptor + 2, b"\x08"))
    check(worker, "evtx", data)
    events, skips = events_and_skips(read_direct("evtx", data)[0])
    assert not skips and events[0].provider == str(int.from_bytes(
        "Mi".encode("utf-16-le"), "little"))


def test_evtx_record_id_beyond_a_bigint_is_unknown(worker: Worker, own_evtx: bytes) -> None:
    # EventRecordID (substitution 9: Name, Guid, EventID ... TimeCreated, EventRecordID)
    # set to 2**64 - 1. Was: a record id that overflowed the store's BIGINT.
    _, values = _first_record(own_evtx)
    assert values[9][2] == 8
    data = _patched(own_evtx, (values[9][1], b"\xff" * 8))
    for mode in ("evtx", "python-evtx"):
        check(worker, mode, data)
        events, skips = events_and_skips(read_direct(mode, data)[0])
        assert not skips and events[0].record_id is None, mode
        assert events[1].record_id is not None


def _string_cycle(data: bytes) -> bytes:
    """The chunk's first name string's next-string offset pointed at itself."""
    heads = struct.unpack_from("<64I", data, 4096 + 0x80)
    head = next(h for h in heads if h)
    return _patched(data, (4096 + head, struct.pack("<I", head)))


def _template_cycle(data: bytes) -> bytes:
    """The chunk's first template's next-template offset pointed at itself."""
    heads = struct.unpack_from("<32I", data, 4096 + 0x180)
    head = next(h for h in heads if h)
    return _patched(data, (4096 + head, struct.pack("<I", head)))


def _string_loop(data: bytes) -> bytes:
    """The chunk's first two name strings linked to each other: a loop of two."""
    first, second = [h for h in struct.unpack_from("<64I", data, 4096 + 0x80) if h][:2]
    return _patched(data, (4096 + first, struct.pack("<I", second)),
                    (4096 + second, struct.pack("<I", first)))


def _template_loop(data: bytes) -> bytes:
    first, second = [h for h in struct.unpack_from("<32I", data, 4096 + 0x180) if h][:2]
    return _patched(data, (4096 + first, struct.pack("<I", second)),
                    (4096 + second, struct.pack("<I", first)))


@pytest.mark.parametrize("in_memory", [False, True])
def test_evtx_rust_name_strings_in_a_loop_are_read(worker: Worker, own_evtx: bytes,
                                                   in_memory: bool) -> None:
    # Found by fuzzing a public sample: two name strings' next offsets point at each other
    # (the string table's slot 32 changed from 0x6a7 to 7, whose 'next' is at 0x100, the
    # slot itself). The Rust parser followed the loop for ever (upstream stops only at a
    # link to the string itself); the link closing the loop is now read as 0, and the
    # records come out as they would undamaged.
    data = _string_loop(own_evtx)
    result = check(worker, "evtx", data, in_memory=in_memory)
    assert result["events"] > 0 and not result["skips"]
    assert read_direct("evtx", data)[0] == read_direct("evtx", own_evtx)[0]


@pytest.mark.parametrize("damage", [_string_cycle, _template_cycle, _string_loop,
                                    _template_loop])
@pytest.mark.parametrize("cut", [None, 4096 + 30_000])
@pytest.mark.parametrize("mode", ["evtx", "python-evtx"])
def test_evtx_string_and_template_chains_that_loop_end(worker: Worker, own_evtx: bytes,
                                                       damage: Callable[[bytes], bytes],
                                                       cut: int | None, mode: str) -> None:
    # Was: python-evtx followed the chain for ever (a hang), also in the Rust path when the
    # file is cut inside a chunk (its complete records are read through python-evtx).
    data = damage(own_evtx)[:cut]
    result = check(worker, mode, data, in_memory=True)
    assert result["events"] > 0


class _Panicking:
    """A records iterator that panics as pyo3 does: a BaseException, not an Exception."""

    def __init__(self, after: int) -> None:
        self.left = after

    def __iter__(self) -> _Panicking:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.left == 0:
            raise type("PanicException", (BaseException,), {})("called `Option::unwrap()`")
        self.left -= 1
        return {"data": orjson.dumps({"Event": {"System": {"EventID": 1, "Channel": "System",
                                                           "EventRecordID": self.left}}})}


def test_a_rust_panic_is_a_counted_skip() -> None:
    from proctrail.store.readers.evtx_rust import _iterate

    events, skips = events_and_skips(list(_iterate(_Panicking(after=2))))
    assert len(events) == 2 and skips == {"parser panic": 1}


def test_a_rust_panic_when_opening_is_a_reader_error(monkeypatch: pytest.MonkeyPatch,
                                                     own_evtx: bytes) -> None:
    import evtx

    from proctrail.store.readers.base import ReaderError
    from proctrail.store.readers.evtx_rust import _iterate, open_evtx_rust

    def panics(*args: object, **kwargs: object) -> None:
        raise type("PanicException", (BaseException,), {})("index out of bounds")

    monkeypatch.setattr(evtx, "PyEvtxParser", panics)
    with pytest.raises(ReaderError, match="index out of bounds"):
        open_evtx_rust(io.BytesIO(own_evtx), "x.evtx")

    def interrupted() -> Iterable[Any]:
        raise KeyboardInterrupt
        yield  # a generator

    with pytest.raises(KeyboardInterrupt):  # other BaseExceptions still go through
        list(_iterate(interrupted()))


def _damaged_archives() -> dict[str, tuple[str, bytes]]:
    """Archives of our own logs, each damaged in one way zipfile, zlib or gzip raises on."""
    log = seeds()["gen-audit-head.log"]
    good = _zip([("a.log", log), ("b.log", log)], zipfile.ZIP_DEFLATED)
    body = 30 + len("a.log")  # the local header, then the deflate stream
    second = good.find(b"PK\x03\x04", 4)  # the second member's local header
    crc = good.find(b"PK\x01\x02") + 16  # the central directory's CRC-32
    gz = gzip.compress(log, mtime=0)
    return {
        "zip: bad CRC-32": ("x.zip", _patched(good, (crc, b"\0\0\0\0"))),
        "zip: bad deflate data": ("x.zip", _patched(good, (body + 1, b"\xff\xff\xff\xff"))),
        "zip: bad local header": ("x.zip", _patched(good, (second, b"PK\x03\x05"))),
        "zip: local header offset past the end": (
            "x.zip", _patched(good, (good.find(b"PK\x01\x02") + 42, b"\xff\xff\xff\x7f"))),
        "zip: unknown compression method": (
            "x.zip", _patched(good, (good.find(b"PK\x01\x02") + 10, b"\x63\x00"))),
        "gz: bad CRC-32": ("x.log.gz", _patched(gz, (len(gz) - 8, b"\0\0\0\0"))),
        "gz: garbage after the member": ("x.log.gz", gz + b"\x1f\x8b junk"),
        "gz: bad deflate data": ("x.log.gz", _patched(gz, (12, b"\xff\xff\xff\xff"))),
    }


DAMAGED = ["zip: bad CRC-32", "zip: bad deflate data", "zip: bad local header",
           "zip: local header offset past the end", "zip: unknown compression method",
           "gz: bad CRC-32", "gz: garbage after the member",
           "gz: bad deflate data"]


@pytest.mark.parametrize("what", DAMAGED)
def test_damaged_archive_members_are_a_reader_error(worker: Worker, what: str) -> None:
    # Was: BadZipFile, zlib.error, BadGzipFile, EOFError or OSError out of sniff's Input
    # (sha256 or open) and the readers: an ingest crash, not one failed input.
    assert sorted(_damaged_archives()) == sorted(DAMAGED)
    filename, data = _damaged_archives()[what]
    result = check(worker, "sniff", data, filename=filename)
    assert result["errors"], result


def test_a_gz_cut_short_keeps_what_it_holds(worker: Worker) -> None:
    # Was a reader error (EOFError): a copy cut short stored nothing (issue 14). Now what
    # decompresses is read; the ingest counts the cut (tests/test_ingest.py).
    gz = gzip.compress(seeds()["ausearch-i.log"], mtime=0)
    result = check(worker, "sniff", gz[:len(gz) // 2], filename="x.log.gz")
    assert not result["errors"], result


def test_damaged_archives_fail_alone_in_an_ingest(worker: Worker, sqlite_url: str,
                                                  tmp_path: Path) -> None:
    paths = []
    for i, (filename, data) in enumerate(_damaged_archives().values()):
        paths.append(tmp_path / f"{i}-{filename}")
        paths[-1].write_bytes(data)
    paths.append(tmp_path / "good.log")
    paths[-1].write_bytes(seeds()["ausearch-i.log"])
    answer = worker.ask({"mode": "ingest", "url": sqlite_url, "paths": [str(p) for p in paths]})
    assert "crash" not in answer, answer.get("crash")
    by_file: dict[str, list[dict[str, Any]]] = {}
    for source in answer["sources"]:
        assert source["records_read"] == source["stored"] + source["duplicates"], source
        by_file.setdefault(Path(source["name"].split("!")[0]).name, []).append(source)
    (good,) = by_file.pop("good.log")
    assert good["status"] == "complete" and good["stored"] > 0
    assert sorted(by_file) == sorted(p.name for p in paths[:-1])
    for sources in by_file.values():
        failed = [s for s in sources if s["status"] == "failed"]
        assert failed and all(s["error"] for s in failed), sources


def test_a_fifo_in_a_folder_is_a_reader_error_not_a_hang(worker: Worker, sqlite_url: str,
                                                         tmp_path: Path) -> None:
    # Found reading the sniff layer: the 4-byte magic read of a FIFO (a copied /var/spool
    # has some) blocked for ever. A FIFO, socket or device is now a failed input.
    folder = tmp_path / "triage"
    folder.mkdir()
    os.mkfifo(folder / "pickup")
    (folder / "audit.log").write_bytes(seeds()["ausearch-i.log"])
    answer = worker.ask({"mode": "ingest", "url": sqlite_url, "paths": [str(folder)]},
                        timeout=20)
    assert "crash" not in answer and "outcome" not in answer, answer
    status = {Path(s["name"]).name: (s["status"], s["error"]) for s in answer["sources"]}
    assert status == {"audit.log": ("complete", None),
                      "pickup": ("failed", "not a regular file (a FIFO, socket or device)")}


def test_an_evtx_member_beyond_the_memory_limit_is_spilled(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path,
                                                           own_evtx: bytes) -> None:
    # A zip bomb must not make an EVTX member a huge bytes object: past EVTX_IN_MEMORY it
    # goes to an anonymous temporary file, and reads the same.
    from proctrail.store.readers import sniff
    from proctrail.store.readers.base import ReadOptions

    path = tmp_path / "x.zip"
    path.write_bytes(_zip([("x.evtx", own_evtx)], zipfile.ZIP_DEFLATED))
    (item,) = list(sniff.iter_inputs([str(path)]))
    counts = []
    for limit in (len(own_evtx), len(own_evtx) - 1):
        monkeypatch.setattr(sniff, "EVTX_IN_MEMORY", limit)
        with item.open() as stream:
            spilled = sniff._seekable(stream, item.name, 1 << 30)
            assert isinstance(spilled, io.BytesIO) == (limit == len(own_evtx))
        with item.open() as stream:
            _, records = sniff.open_records(item, stream, ReadOptions(threads=1))
            counts.append(len(list(records)))
    assert counts[0] == counts[1] > 0


def test_xml_event_that_never_ends_is_read_past_in_linear_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: each chunk rescanned (and copied) the whole unfinished event: 128 MB took 25 s,
    # a gigabyte would take half an hour. Small chunks show it at a small size.
    from proctrail.store.readers import xml

    monkeypatch.setattr(xml, "_CHUNK", 1024)
    data = xml_event() + b"<Event><System><EventID>1</EventID>" + b"x" * (8 << 20)
    started = time.perf_counter()
    items, error = read_direct("xml", data)
    assert time.perf_counter() - started < 4
    assert error is None and events_and_skips(items)[1] == {"truncated event": 1}


def test_xml_oversized_event_is_a_skip_and_the_next_ones_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from proctrail.store.readers import xml

    monkeypatch.setattr(xml, "_CHUNK", 1000)
    monkeypatch.setattr(xml, "MAX_EVENT", 3000)
    big = xml_event(data="<Data Name='x'>" + "y" * 20_000 + "</Data>")
    for data in (xml_event() + big + xml_event(), big + xml_event()):
        items, error = read_direct("xml", data)
        events, skips = events_and_skips(items)
        assert error is None and skips == {"oversized event": 1}
        assert len(events) == data.count(b"<Event>") - 1
    items, error = read_direct("xml", big[:-20])  # only an oversized, unfinished event
    assert error is None and events_and_skips(items)[1] == {"oversized event": 1}


def _audit_line(serial: int) -> bytes:
    return AUDIT_LINE.format(stamp="1700000000.5", serial=serial, nr="59").encode()


@pytest.mark.parametrize(("mode", "long", "good"), [
    ("jsonl", orjson.dumps(dict(WINLOGBEAT, pad="x" * 5000)), [orjson.dumps(WINLOGBEAT)] * 2),
    ("auditd", _audit_line(9) + b" x=" * 3000, [_audit_line(8), _audit_line(10)]),
    ("sysmon-syslog", SYSLOG_LINE + b"<!--" + b"x" * 5000 + b"-->", [SYSLOG_LINE] * 2)],
    ids=["jsonl", "auditd", "sysmon-syslog"])
def test_lines_longer_than_max_line_are_a_skip(monkeypatch: pytest.MonkeyPatch, mode: str,
                                               long: bytes, good: list[bytes]) -> None:
    # Was: a line was read whole, whatever its size: one line of gigabytes (a one-line JSON
    # export sniffed as JSON lines) was held in memory, decoded and parsed.
    from proctrail.store.readers import base

    monkeypatch.setattr(base, "MAX_LINE", 1000)
    data = b"\n".join([good[0], long, long + b"\r", good[1]]) + b"\n"
    items, error = read_direct(mode, data)
    events, skips = events_and_skips(items)
    assert error is None and len(events) == 2 and skips == {"oversized line": 2}
    if mode == "jsonl":  # the first line too: was refused whole (issue 14)
        items, error = read_direct(mode, long + b"\n" + good[0])
        events, skips = events_and_skips(items)
        assert error is None and len(events) == 1 and skips == {"oversized line": 1}


def test_a_one_line_file_of_64_mb_is_not_held_whole(worker: Worker) -> None:
    data = b'{"a": "' + b"x" * (64 << 20) + b'"}\n' + orjson.dumps(WINLOGBEAT) + b"\n"
    result = check(worker, "jsonl", data)
    assert result["outcome"] == "reader_error" or result["skips"] == {"oversized line": 1}
    assert result["memory"] < 120 << 20, result["memory"] >> 20


def test_regressions_ingest_into_sqlite(worker: Worker, sqlite_url: str, tmp_path: Path,
                                        own_evtx: bytes) -> None:
    """The regression inputs, all in one ingest: nothing escapes, the counts add up."""
    inputs = {
        "nested.xml": xml_event(data=_nested("<a>", "</a>", 5000)) + xml_event(),
        "ids.xml": xml_event("<EventRecordID>18446744073709551616</EventRecordID>")
        + xml_event("<EventID>2147483648</EventID>"),
        "nested.jsonl": _jsonl(WINLOGBEAT, b'{"EventID":4688,"Channel":"Security",'
                               b'"CommandLine":' + _nested(b"[", b"]", 1000) + b"}"),
        "audit.log": _audit(serial="²") + _audit(stamp="9" * 5000, nr="²"),
        "provider.evtx": _patched(own_evtx, (_first_record(own_evtx)[1][0][0] + 2, b"\x08")),
        "record.evtx": _patched(own_evtx, (_first_record(own_evtx)[1][9][1], b"\xff" * 8)),
        "cycle.evtx": _string_cycle(own_evtx)[:4096 + 30_000],
    }
    paths = []
    for name, data in inputs.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    stored, in_store = assert_ingest_consistent(worker, sqlite_url, paths)
    assert stored == in_store > 0


def atheris_main(mode: str, corpus: str, flags: list[str]) -> None:
    """Coverage-guided fuzzing of one reader with atheris (``pip install atheris``):
    ``python tests/test_fuzz.py --atheris MODE CORPUS [libFuzzer flags]``, MODE one of
    evtx, python-evtx, xml, jsonl, auditd, sysmon-syslog. An empty CORPUS folder gets
    this file's seeds of that format. A crash is any exception but ReaderError (or a
    problem :func:`item_problems` finds); libFuzzer's -timeout and -rss_limit_mb catch
    hangs and memory."""
    import atheris

    with atheris.instrument_imports(include=["proctrail", "Evtx"]):
        from proctrail.store.readers import (  # noqa: F401 - instrumented for _reader
            auditd,
            evtx_python,
            evtx_rust,
            jsonl,
            sniff,
            xml,
        )
        from proctrail.store.readers.base import ReaderError

    folder = Path(corpus)
    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        fmt = "evtx" if mode == "python-evtx" else mode
        small = OWN_EVTX_SMALL if mode == "python-evtx" else OWN_ALL
        for name in small:
            if seed_format(name) == fmt:
                (folder / name).write_bytes(seed_bytes(name))

    def one(data: bytes) -> None:
        try:
            for item in _reader(mode, io.BytesIO(data), "atheris", {"threads": 1}):
                problems = item_problems(item, 2 * len(data) + 64)
                if problems:
                    raise AssertionError(problems)
        except ReaderError:
            pass

    atheris.Setup([sys.argv[0], corpus, *flags], one)
    atheris.Fuzz()


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    worker_main()
elif __name__ == "__main__" and sys.argv[1:2] == ["--atheris"]:
    atheris_main(sys.argv[2], sys.argv[3], sys.argv[4:])
