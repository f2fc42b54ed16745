"""Fuzz seeds: the project's own logs, small logs of every format the generator writes at
test time, and the public samples in ``../shared/samples`` where present."""

from __future__ import annotations

import dataclasses
import functools
import shutil
import tempfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOGS = ROOT / "sample_logs"
SAMPLES = ROOT.parent / "shared" / "samples"

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


def seed_bytes(name: str) -> bytes:
    if name.startswith("public:"):
        return public_seed(name.removeprefix("public:"))
    if name.startswith("public-zip:"):
        rel, _, member = name.removeprefix("public-zip:").partition("!")
        return public_member(rel, member)
    return seeds()[name]
