# ruff: noqa: E501  (the auditd lines below are as auditd writes them: one a line)
"""What PowerShell ran and what auditd saw a process do (issue 18): 4104 script blocks
reassembled from their parts (and kept, marked, when a part is missing), 4103 pipelines,
Windows PowerShell 400 by its HostApplication (its 600 is not Security's), auditd
connect/bind with their SOCKADDR and open/openat/creat asking to write; attached to the
process that did them, found by the search; on OTRF and go-libaudit samples and on
hand-written logs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from proctrail.store.events import classify
from proctrail.store.models import Activity, Process
from proctrail.store.queries import activity, browse
from proctrail.store.readers.auditd import sockaddr, writes

DLLINJECTION = "empire_dllinjection_LoadLibrary_CreateRemoteThread.zip"  # 104 × 4104, 744 × 4103
PS = "Microsoft-Windows-PowerShell/Operational"


def _counts(engine: Engine) -> dict[str, tuple[int, int, int]]:
    return {k.kind: (k.events, k.attached, k.unplaced) for k in activity.activity_counts(engine)}


def _acts(engine: Engine, kind: str) -> list[Activity]:
    with engine.connect() as conn:
        return list(conn.execute(select(Activity).where(Activity.kind == kind)
                                 .order_by(Activity.ts_us)))


def _image(engine: Engine, process_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Process.image).where(Process.id == process_id)).scalar_one()


def test_powershell_channels_classify_by_channel_and_id() -> None:
    assert classify("Windows PowerShell", "PowerShell", 600) == "ps_provider"
    assert classify("Security", "Microsoft-Windows-Security-Auditing", 600) == "token_change"
    assert classify(PS, "Microsoft-Windows-PowerShell", 4104) == "script_block"
    assert classify(PS, "Microsoft-Windows-PowerShell", 4103) == "pipeline"
    assert classify("Windows PowerShell", "PowerShell", 400) == "ps_engine"
    assert classify("Application", "Something", 4104) is None


def test_auditd_sockaddr_and_write_flags() -> None:
    assert sockaddr({"saddr": "02000050A9FEA9FE0000000000000000"}) == \
        ("inet", "169.254.169.254", 80)
    assert sockaddr({"saddr": "0A000016" + "00" * 24}) == ("inet6", "::", 22)
    assert sockaddr({"saddr": "01002F7661722F72756E"}) is None  # a unix socket
    assert sockaddr({"fam": "inet", "laddr": "10.0.0.1", "lport": "443"}) == \
        ("inet", "10.0.0.1", 443)
    assert writes("openat", {"a2": "241"}) and writes("open", {"a1": "O_WRONLY|O_CREAT"})
    assert not writes("open", {"a1": "10800"}) and not writes("openat", {"a2": "0"})
    assert writes("creat", {})


def test_otrf_script_blocks_attached_and_found(case_of, samples: Path) -> None:
    engine = case_of(samples / "otrf" / DLLINJECTION)
    counts = _counts(engine)
    # Every 4104 carries its header's ProcessID (NXLog's ExecutionProcessID) and its
    # process (WmiPrvSE 1156 on MORDORDC) is in the logs; 8 blocks of several parts have
    # only their first part in this dataset: kept, marked incomplete.
    assert counts["script_block"] == (104, 104, 0)
    # 4103 of powershell 9076 on WORKSTATION5, started before the log: not placed.
    assert counts["pipeline"] == (744, 415, 329)
    # NXLog dropped the classic log's message data: no HostApplication to match by.
    assert counts["ps_engine"] == (1, 0, 1) and counts["ps_provider"] == (8, 0, 8)
    blocks = _acts(engine, "script_block")
    assert sum(1 for b in blocks if b.access.startswith("incomplete: 1 of ")) == 8
    assert {_image(engine, b.process_id).lower().rsplit("\\", 1)[-1] for b in blocks} == \
        {"wmiprvse.exe"}
    found = browse.search(engine, "MSFT_RoleResource")
    assert [r.image.lower().rsplit("\\", 1)[-1] for r in found] == ["wmiprvse.exe"]


def _ps_event(eid: int, rid: int, time: str, data: str, pid: int,
              channel: str = PS, provider: str = "Microsoft-Windows-PowerShell") -> str:
    return (f'<Event><System><Provider Name="{provider}"/><EventID>{eid}</EventID>'
            f"<TimeCreated SystemTime='{time}'/><EventRecordID>{rid}</EventRecordID>"
            f"<Execution ProcessID='{pid}' ThreadID='1'/>"
            f"<Channel>{channel}</Channel><Computer>ws1</Computer></System>"
            f"<EventData>{data}</EventData></Event>")


def _block(rid: int, time: str, number: int, total: int, block: str, text: str,
           pid: int = 500) -> str:
    return _ps_event(4104, rid, time, f'<Data Name="MessageNumber">{number}</Data>'
                     f'<Data Name="MessageTotal">{total}</Data>'
                     f'<Data Name="ScriptBlockText">{text}</Data>'
                     f'<Data Name="ScriptBlockId">{block}</Data><Data Name="Path"></Data>', pid)


def test_split_blocks_reassembled_and_attached(case_of, xml_log) -> None:
    cmd = "powershell.exe -nop -w hidden"
    start = xml_log.event(4688, 1, "2024-05-01T10:00:00Z", {
        "SubjectUserSid": "S-1-5-21-1", "SubjectUserName": "alice", "SubjectDomainName": "D",
        "SubjectLogonId": "0x1234", "NewProcessId": "0x1f4",
        "NewProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "ProcessId": "0x100", "CommandLine": cmd, "TargetLogonId": "0x0"})
    classic = ("<Data>Available</Data><Data>None</Data><Data>NewEngineState=Available\n"
               "\tPreviousEngineState=None\n\tHostName=ConsoleHost\n"
               f"\tHostApplication={cmd}\n\tEngineVersion=5.1</Data>")
    events = [
        start,
        _ps_event(400, 2, "2024-05-01T10:00:01Z", classic, 0, "Windows PowerShell",
                  "PowerShell"),
        # Parts of one block, out of order; then a block whose second part never came.
        _block(3, "2024-05-01T10:00:02Z", 2, 3, "aaaa-1", "katz -DumpCreds; "),
        _block(4, "2024-05-01T10:00:02Z", 1, 3, "aaaa-1", "IEX (New-Object Net.WebClient); Invoke-Mimi"),
        _block(5, "2024-05-01T10:00:02Z", 3, 3, "aaaa-1", "Write-Host &lt;b&gt;[red]done"),
        _block(6, "2024-05-01T10:00:03Z", 1, 2, "bbbb-2", "Get-Process"),
        _block(7, "2024-05-01T10:00:04Z", 1, 1, "cccc-3", "whoami", pid=777),  # no such process
    ]
    engine = case_of(xml_log("ps.xml", events))
    counts = _counts(engine)
    assert counts["script_block"] == (5, 2, 1)  # attached counts blocks (rows), not parts
    assert counts["ps_engine"] == (1, 1, 0)
    whole, partial = _acts(engine, "script_block")
    assert whole.detail == "IEX (New-Object Net.WebClient); Invoke-Mimikatz " \
        "-DumpCreds; Write-Host <b>[red]done"
    assert whole.access == "3 parts"
    assert partial.access == "incomplete: 1 of 2 parts"
    assert partial.detail.startswith("Get-Process\n[part 2 of 2 was not logged]")
    assert {whole.process_id, partial.process_id} == \
        {_acts(engine, "ps_engine")[0].process_id}
    found = browse.search(engine, "Invoke-Mimikatz")
    assert [(r.pid, r.image.rsplit("\\", 1)[-1]) for r in found] == [(500, "powershell.exe")]
    assert browse.search(engine, "Invoke-Nothing") == []
    assert [r.pid for r in browse.search(engine, "invoke-mimikatz -dumpcreds")] == [500]
    # Under --redact a script matches only as shown: what the mask hides is no oracle.
    from proctrail.app.redact import Redactor

    masked = Redactor([r"(Invoke-)(Mimikatz)"])
    assert browse.search(engine, "Mimikatz", redactor=masked) == []
    assert browse.search(engine, "mimi", redactor=masked) == []
    assert [r.pid for r in browse.search(engine, "Invoke-", redactor=masked)] == [500]
    rows = activity.process_activity(engine, whole.process_id)[0]
    assert [r.label for r in rows] == ["ps engine", "script", "script"]
    assert "\n" not in rows[1].summary() and rows[1].summary().startswith("(3 parts) IEX")


AUDIT = """\
type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" key=(null)
type=EXECVE msg=audit(1700000000.100:10): argc=2 a0="curl" a1="http://203.0.113.7/x"
type=CWD msg=audit(1700000000.100:10): cwd="/home/alice"
type=SYSCALL msg=audit(1700000001.000:11): arch=c000003e syscall=42 success=no exit=-115 a0=5 a1=7ffe a2=10 a3=0 items=0 ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" key=(null)
type=SOCKADDR msg=audit(1700000001.000:11): saddr=020001BBCB00710700000000000000
type=SYSCALL msg=audit(1700000002.000:12): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffe a2=241 a3=1b6 items=2 ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" key=(null)
type=CWD msg=audit(1700000002.000:12): cwd="/home/alice"
type=PATH msg=audit(1700000002.000:12): item=0 name="/tmp/" inode=1 dev=08:01 mode=041777 ouid=0 ogid=0 rdev=00:00 nametype=PARENT
type=PATH msg=audit(1700000002.000:12): item=1 name="/tmp/x" inode=2 dev=08:01 mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE
type=SYSCALL msg=audit(1700000002.500:13): arch=c000003e syscall=2 success=yes exit=3 a0=7ffe a1=0 a2=0 a3=0 items=1 ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="curl" exe="/usr/bin/curl" key=(null)
type=PATH msg=audit(1700000002.500:13): item=0 name="/etc/hosts" inode=3 dev=08:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL
type=SYSCALL msg=audit(1700000003.000:14): arch=c000003e syscall=49 success=yes exit=0 a0=5 a1=7ffe a2=10 a3=0 items=0 ppid=1 pid=999 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="nc" exe="/usr/bin/nc" key=(null)
type=SOCKADDR msg=audit(1700000003.000:14): saddr=0200115C000000000000000000000000
"""


def test_auditd_connect_and_writes_attached(case_of, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(AUDIT)
    engine = case_of(path)
    counts = _counts(engine)
    assert counts["network_connect"] == (1, 1, 0)
    assert counts["file_write"] == (1, 1, 0)  # the read-only open of /etc/hosts is none
    assert counts["network_bind"] == (1, 0, 1)  # pid 999: no execve in the log
    conn, = _acts(engine, "network_connect")
    assert (conn.direction, conn.protocol, conn.dst_addr, conn.dst_port, conn.detail) == \
        ("out", "inet", "203.0.113.7", 443, "")
    write, = _acts(engine, "file_write")
    assert (write.path, write.access) == ("/tmp/x", "O_WRONLY|O_CREAT|O_TRUNC")
    assert conn.process_id == write.process_id
    assert _image(engine, conn.process_id) == "/usr/bin/curl"
    assert [r.pid for r in browse.search(engine, "203.0.113.7")] == [4242]


def test_auditd_samples_connect_unplaced(case_of, samples: Path) -> None:
    engine = case_of(samples / "auditd" / "auparse-audit-rhel7.log")
    # One connect (google_ip_forwarding, pid 1170, EINPROGRESS) whose SOCKADDR is logged
    # apart from it; the others are SOCKADDR records without their SYSCALL: no process.
    assert _counts(engine).get("network_connect", (0, 0, 0))[1] == 0
