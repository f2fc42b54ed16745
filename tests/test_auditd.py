"""The auditd reader on real sample logs and on small hand-written ones."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proctrail.store.events import AUDITD, Event, Kind, Skip
from proctrail.store.readers.auditd import WINDOW, looks_like_auditd, open_auditd
from proctrail.store.readers.base import ReaderError, ReadOptions, to_us

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason="../shared/samples is absent")

SYSCALL_TAIL = (
    "a0=1 a1=2 a2=3 a3=4 items=1 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 "
    "egid=1000 sgid=1000 fsgid=1000"
)


def read(data: bytes, opts: ReadOptions | None = None, name: str = "t.log") -> list[Event | Skip]:
    return list(open_auditd(io.BytesIO(data), name, opts or ReadOptions()))


def split(out: list[Event | Skip]) -> tuple[list[Event], list[Skip]]:
    return [e for e in out if isinstance(e, Event)], [s for s in out if isinstance(s, Skip)]


def by_serial(events: list[Event]) -> dict[int | None, Event]:
    return {e.record_id: e for e in events}


def syscall(
    serial: int,
    nr: str,
    *,
    arch: str = "c000003e",
    success: str = "yes",
    pid: int = 100,
    comm: str = "ls",
    stamp: str = "1700000000.250",
) -> str:
    return (
        f"type=SYSCALL msg=audit({stamp}:{serial}): arch={arch} syscall={nr} success={success} "
        f'exit=0 {SYSCALL_TAIL} ppid=1 pid={pid} tty=pts1 ses=3 comm="{comm}" '
        f'exe="/usr/bin/{comm}" key=(null)'
    )


def sample_events(name: str) -> dict[int | None, Event]:
    return by_serial(split(read((SAMPLES / "auditd" / name).read_bytes()))[0])


def zipped_log(name: str) -> bytes:
    with zipfile.ZipFile(SAMPLES / "otrf-linux" / name) as zf:
        (member,) = zf.namelist()
        return zf.read(member)


# --- real samples -----------------------------------------------------------------------


@needs_samples
def test_otrf_arp_cache() -> None:
    events, skips = split(read(zipped_log("sh_arp_cache.zip"), ReadOptions(default_host="lab")))
    assert skips == []
    starts = [e for e in events if e.kind == Kind.PROCESS_START]
    assert len(events) == len(starts) == 2
    arp = by_serial(events)[92733]
    assert arp.host == "lab"
    assert (arp.channel, arp.provider, arp.event_id) == (AUDITD, "auditd", 59)
    assert arp.ts_us == 1604994496_155000
    f = arp.fields
    assert f["CommandLine"] == "arp -a"
    assert (f["pid"], f["ppid"], f["auid"], f["ses"]) == ("1631", "29002", "1000", "104")
    assert f["cwd"] == "/home/wardog"
    assert f["exe"] == "/usr/sbin/arp" and f["comm"] == "arp"
    assert f["argc"] == "2"
    assert f["proctitle"] == "arp -a"  # hex 617270002D61, NUL-separated
    assert f["path0"] == "/usr/sbin/arp" and f["path1"] == "/lib64/ld-linux-x86-64.so.2"
    assert f["type"] == "SYSCALL,EXECVE,CWD,PATH,PROCTITLE"
    assert "key" not in f  # key=(null) is absent
    assert by_serial(events)[92734].fields["CommandLine"] == "grep -v ^?"


@needs_samples
def test_otrf_binary_padding_dd() -> None:
    events, skips = split(read(zipped_log("sh_binary_padding_dd.zip")))
    assert skips == []
    (dd,) = events
    assert dd.kind == Kind.PROCESS_START and dd.record_id == 93777
    assert dd.fields["CommandLine"] == "dd if=/dev/zero bs=1 count=1"
    assert dd.fields["proctitle"] == "dd if=/dev/zero bs=1 count=1"
    assert (dd.fields["pid"], dd.fields["ppid"]) == ("2168", "29002")


@needs_samples
def test_otrf_auoms_json_is_not_raw_auditd() -> None:
    data = zipped_log("syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference.zip")
    assert not looks_like_auditd(data[:4096])
    with pytest.raises(ReaderError, match="log4shell"):
        read(data, name="log4shell.json")


# (events, skips) measured on each file of samples/auditd.
AUDITD_COUNTS = {
    "auparse-audit-rhel6.log": (2, 0),
    "auparse-audit-rhel7.log": (46, 1),
    "auparse-audit-ubuntu14.log": (1, 0),
    "auparse-audit-ubuntu16.log": (3, 0),
    "auparse-audit-ubuntu17.log": (1, 0),
    "auparse-test2.log": (7, 0),
    "auparse-test3.log": (10, 0),
}


@needs_samples
def test_every_auditd_sample_is_known() -> None:
    assert sorted(p.name for p in (SAMPLES / "auditd").iterdir()) == sorted(AUDITD_COUNTS)


@needs_samples
@pytest.mark.parametrize("name", sorted(AUDITD_COUNTS))
def test_auditd_sample_counts(name: str) -> None:
    data = (SAMPLES / "auditd" / name).read_bytes()
    assert looks_like_auditd(data[:4096])
    events, skips = split(read(data))
    assert (len(events), len(skips)) == AUDITD_COUNTS[name]
    assert all(e.ts_us is not None and e.record_id is not None for e in events)
    assert len({e.record_id for e in events}) == len(events)


@needs_samples
def test_ubuntu17_grep_with_hex_key() -> None:
    (grep,) = read((SAMPLES / "auditd" / "auparse-audit-ubuntu17.log").read_bytes())
    assert isinstance(grep, Event)
    assert grep.event_id == 59 and grep.kind == Kind.PROCESS_START
    assert grep.fields["type"] == "SYSCALL"
    assert grep.fields["comm"] == "grep" and grep.fields["exe"] == "/bin/grep"
    # key=65786563013634626974" : two rule keys separated by 0x01 (and a stray quote).
    assert grep.fields["key"] == "exec,64bit"
    assert "CommandLine" not in grep.fields  # no EXECVE, no PROCTITLE: nothing invented


@needs_samples
def test_rhel6_hex_exe_and_user_cmd() -> None:
    events = sample_events("auparse-audit-rhel6.log")
    charon = events[20614537]
    assert charon.fields["exe"] == "/usr/libexec/strongswan/charon (deleted)"
    assert charon.event_id == 44 and charon.kind is None
    assert "tty" not in charon.fields  # tty=(none)
    cmd = events[19469538]
    assert cmd.event_id == 0 and cmd.fields["type"] == "USER_CMD"
    assert cmd.fields["cmd"] == "/usr/lib64/nagios/plugins/check_asterisk_sip_peers -p 107"
    assert cmd.fields["cwd"] == "/" and cmd.fields["res"] == "success"


@needs_samples
def test_rhel7_groups_and_skip() -> None:
    out = read((SAMPLES / "auditd" / "auparse-audit-rhel7.log").read_bytes())
    events, skips = split(out)
    assert skips == [Skip("unparseable line", "line 31: type=UNKNOWN[1329] msg=?")]
    ev = by_serial(events)
    # CWD, EXECVE and PATH of id 479 are lines 10, 14 and 18: one group all the same.
    auditctl = ev[479]
    assert auditctl.fields["type"] == "CWD,EXECVE,PATH"
    assert auditctl.fields["CommandLine"] == "auditctl -a exit,always -F arch=b32 -S execve"
    assert auditctl.fields["cwd"] == "/home/andrew_kroh"
    assert auditctl.fields["path0"] == "/sbin/auditctl"
    assert auditctl.event_id == 0 and auditctl.kind is None  # no SYSCALL record
    assert ev[1208725].fields["cwd"] == "/tmp/a b c"
    assert ev[512226].fields["exe"] == "/usr/bin/python2.7;58d1ccfb (deleted)"
    modprobe = ev[17]
    assert modprobe.fields["type"] == "NETFILTER_CFG,SYSCALL" and modprobe.event_id == 313
    assert modprobe.fields["comm"] == "modprobe" and modprobe.fields["table"] == "filter"
    assert ev[475].fields["cmd"] == "./metricbeat -c mb.dev.yml"
    assert ev[389].fields["type"] == "ADD_USER" and ev[389].fields["op"] == "add-user"
    # DAEMON_CONFIG has no colon after its id: still read.
    assert ev[34].fields["type"] == "DAEMON_CONFIG" and ev[34].fields["pid"] == "1512"
    assert ev[1095517].fields["key"] == "kill_signals"
    # PAM's session open and close (sshd) are the only logon-session records here.
    assert {e.record_id: e.kind for e in events if e.kind} == {416: "logon", 423: "logoff",
                                                                  7798: "boot"}  # DAEMON_START
    assert (ev[416].fields["acct"], ev[416].fields["ses"]) == ("andrew_kroh", "1")


@needs_samples
def test_ubuntu16_hex_acct_and_test3_interleaved() -> None:
    u16 = sample_events("auparse-audit-ubuntu16.log")
    assert u16[19955].fields["acct"] == "(invalid user)"
    assert u16[19955].fields["type"] == "USER_LOGIN" and u16[19955].fields["res"] == "failed"
    t3 = sample_events("auparse-test3.log")
    # SYSCALL and PROCTITLE of these ids are interleaved with other ids.
    for serial in (194435, 194437, 194439, 194440):
        assert t3[serial].fields["proctitle"] == "sshd: burn [priv]"
        assert t3[serial].fields["comm"] == "sshd"
    for serial in (194433, 194436, 194438):
        assert t3[serial].fields["CommandLine"] == "bash"
        assert t3[serial].fields["type"] == "SYSCALL,PROCTITLE"


# --- hand-written logs ------------------------------------------------------------------


def test_hex_args_node_and_eoe() -> None:
    log = "\n".join(
        [
            syscall(500, "59").replace("type=", "node=web01 type=", 1),
            'node=web01 type=EXECVE msg=audit(1700000000.250:500): argc=3 a0="ls" a1=2D6C61 '
            "a2=2F746D702F6120622063",
            "node=web01 type=CWD msg=audit(1700000000.250:500): cwd=2F686F6D652F6D7920646972",
            'node=web01 type=PATH msg=audit(1700000000.250:500): item=0 name="/usr/bin/ls" '
            "inode=1 dev=08:01",
            "node=web01 type=PROCTITLE msg=audit(1700000000.250:500): "
            "proctitle=6C73002D6C61002F746D702F6120622063",
            "node=web01 type=EOE msg=audit(1700000000.250:500): ",
        ]
    ).encode()
    (ev,) = read(log, ReadOptions(default_host="fallback"))
    assert isinstance(ev, Event)
    assert ev.host == "web01"
    assert ev.ts_us == 1700000000_250000 and ev.record_id == 500
    assert ev.fields["CommandLine"] == "ls -la /tmp/a b c"
    assert ev.fields["proctitle"] == "ls -la /tmp/a b c"
    assert ev.fields["cwd"] == "/home/my dir"
    assert ev.fields["type"] == "SYSCALL,EXECVE,CWD,PATH,PROCTITLE"  # no EOE
    assert ev.fields["a0"] == "1"  # the SYSCALL's own a0 is not an argument


def test_split_and_continued_execve_args() -> None:
    log = "\n".join(
        [
            syscall(7, "59", comm="echo"),
            # a1 in chunks; "é" (C3 A9) is split across two chunks.
            'type=EXECVE msg=audit(1700000000.250:7): argc=4 a0="echo" a1_len=8 '
            "a1[0]=68656C6C6F20C3 a1[1]=A9",
            'type=EXECVE msg=audit(1700000000.250:7): a2="x" a3=""',
        ]
    ).encode()
    (ev,) = read(log)
    assert isinstance(ev, Event)
    assert ev.fields["CommandLine"] == "echo hello é x "
    assert ev.fields["argc"] == "4"
    assert ev.fields["type"] == "SYSCALL,EXECVE"


def test_interleaved_groups_and_default_host() -> None:
    log = "\n".join(
        [
            syscall(601, "59", pid=20, comm="a"),
            syscall(602, "59", pid=21, comm="b"),
            'type=EXECVE msg=audit(1700000000.250:602): argc=2 a0="b" a1="x"',
            'type=EXECVE msg=audit(1700000000.250:601): argc=1 a0="a"',
            'type=CWD msg=audit(1700000000.250:602): cwd="/b"',
            'type=CWD msg=audit(1700000000.250:601): cwd="/a"',
        ]
    ).encode()
    events, skips = split(read(log, ReadOptions(default_host="box")))
    assert skips == [] and len(events) == 2
    ev = by_serial(events)
    got = {k: (e.fields["pid"], e.fields["CommandLine"], e.fields["cwd"]) for k, e in ev.items()}
    assert got == {601: ("20", "a", "/a"), 602: ("21", "b x", "/b")}
    assert {e.host for e in events} == {"box"}


def test_same_serial_on_two_nodes_is_two_events() -> None:
    line = syscall(9, "59")
    log = f"node=a {line}\nnode=b {line}\n".encode()
    events, _ = split(read(log))
    assert sorted(e.host for e in events) == ["a", "b"]


class CountingStream(io.BytesIO):
    """A stream that counts the lines handed out."""

    consumed = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in io.BytesIO(self.getvalue()):
            self.consumed += 1
            yield line


def test_groups_stream_in_a_bounded_window() -> None:
    total = 3 * WINDOW
    lines = [syscall(1000 + i, "59", pid=1000 + i) for i in range(total)]
    # A late record within the window joins its group; one beyond it starts a new group.
    lines.insert(WINDOW // 2, 'type=CWD msg=audit(1700000000.250:1000): cwd="/near"')
    lines.append('type=CWD msg=audit(1700000000.250:1001): cwd="/far"')
    stream = CountingStream("\n".join(lines).encode())
    records = open_auditd(stream, "big.log", ReadOptions())
    first = next(records)
    assert isinstance(first, Event) and first.record_id == 1000
    assert first.fields["cwd"] == "/near"
    assert stream.consumed < len(lines) // 2  # streamed, not read whole
    rest = [first, *records]
    assert len(rest) == total + 1
    late = [e for e in rest if isinstance(e, Event) and e.record_id == 1001]
    assert len(late) == 2
    assert "cwd" not in late[0].fields and late[1].fields == {"cwd": "/far", "type": "CWD"}


def test_ausearch_interpreted_block_with_local_offset() -> None:
    stamp = "10/26/2021 12:51:14.046:1385"
    log = "\n".join(
        [
            "----",
            f"type=PROCTITLE msg=audit({stamp}) : proctitle=ls -la /tmp",
            f"type=PATH msg=audit({stamp}) : item=0 name=/usr/bin/ls inode=123 dev=08:01 "
            "mode=file,755 ouid=root ogid=root rdev=00:00 nametype=NORMAL",
            f"type=CWD msg=audit({stamp}) : cwd=/home/alice/my docs",
            f"type=EXECVE msg=audit({stamp}) : argc=3 a0=ls a1=-la a2=/tmp",
            f"type=SYSCALL msg=audit({stamp}) : arch=x86_64 syscall=execve success=yes exit=0 "
            "a0=0x55d1 a1=0x55d2 a2=0x55d3 a3=0x8 items=2 ppid=1 pid=2 auid=alice uid=root "
            "gid=root euid=root tty=pts0 ses=1 comm=ls exe=/usr/bin/ls key=(null)",
            "----",
            "node=srv type=SYSCALL msg=audit(10/26/21 12:51:15.500:1386) : arch=x86_64 "
            "syscall=exit_group a0=0x0 items=0 ppid=1 pid=2 auid=alice uid=root comm=ls "
            "exe=/usr/bin/ls",
        ]
    ).encode()
    opts = ReadOptions(default_host="h", local_offset=timedelta(hours=-5))
    events, skips = split(read(log, opts))
    assert skips == []
    ls, end = by_serial(events)[1385], by_serial(events)[1386]
    assert ls.ts_us == to_us(datetime(2021, 10, 26, 17, 51, 14, 46000, tzinfo=UTC))
    assert (ls.event_id, ls.kind, ls.host) == (59, Kind.PROCESS_START, "h")
    f = ls.fields
    assert f["CommandLine"] == "ls -la /tmp" and f["proctitle"] == "ls -la /tmp"
    assert f["cwd"] == "/home/alice/my docs" and f["path0"] == "/usr/bin/ls"
    assert (f["auid"], f["uid"], f["pid"], f["syscall"]) == ("alice", "root", "2", "execve")
    assert f["type"] == "PROCTITLE,PATH,CWD,EXECVE,SYSCALL"
    assert "key" not in f
    assert (end.event_id, end.kind, end.host) == (231, Kind.PROCESS_END, "srv")
    assert end.ts_us == to_us(datetime(2021, 10, 26, 17, 51, 15, 500000, tzinfo=UTC))
    # Without an offset, local times are taken as UTC.
    (utc, _) = split(read(log))[0]
    assert utc.ts_us == to_us(datetime(2021, 10, 26, 12, 51, 14, 46000, tzinfo=UTC))


def test_interpreted_args_with_spaces_and_arch_names() -> None:
    stamp = "01/02/2022 03:04:05.006:77"
    log = "\n".join(
        [
            f"type=EXECVE msg=audit({stamp}) : argc=3 a0=sh a1=-c a2=echo a=1 b",
            f"type=SYSCALL msg=audit({stamp}) : arch=aarch64 syscall=execve success=yes "
            "exit=0 ppid=1 pid=5 comm=my prog exe=/opt/my prog/bin",
        ]
    ).encode()
    (ev,) = read(log)
    assert isinstance(ev, Event)
    assert ev.fields["CommandLine"] == "sh -c echo a=1 b"
    assert ev.fields["comm"] == "my prog" and ev.fields["exe"] == "/opt/my prog/bin"
    assert ev.event_id == 221 and ev.kind == Kind.PROCESS_START


def test_exit_group_and_arches() -> None:
    log = "\n".join(
        [
            syscall(1, "231"),  # x86_64 exit_group
            syscall(2, "252", arch="40000003"),  # i386 exit_group
            syscall(3, "11", arch="40000003"),  # i386 execve
            syscall(4, "221", arch="c00000b7"),  # aarch64 execve
            syscall(5, "94", arch="c00000b7"),  # aarch64 exit_group
            syscall(6, "322"),  # x86_64 execveat
            syscall(7, "60"),  # x86_64 exit (a thread): not a process end
            syscall(8, "11"),  # x86_64 11 is munmap, not execve
        ]
    ).encode()
    ev = by_serial(split(read(log))[0])
    assert {k: (e.event_id, e.kind) for k, e in ev.items()} == {
        1: (231, Kind.PROCESS_END),
        2: (252, Kind.PROCESS_END),
        3: (11, Kind.PROCESS_START),
        4: (221, Kind.PROCESS_START),
        5: (94, Kind.PROCESS_END),
        6: (322, Kind.PROCESS_START),
        7: (60, None),
        8: (11, None),
    }


def test_failed_execve_is_not_a_process_start() -> None:
    log = "\n".join(
        [
            syscall(42, "59", success="no").replace("exit=0", "exit=-2"),
            'type=EXECVE msg=audit(1700000000.250:42): argc=1 a0="/nope"',
        ]
    ).encode()
    (ev,) = read(log)
    assert isinstance(ev, Event)
    assert ev.event_id == 59 and ev.kind is None
    assert ev.fields["success"] == "no" and ev.fields["exit"] == "-2"
    assert ev.fields["CommandLine"] == "/nope"


def test_garbage_lines_are_skips() -> None:
    log = "\n".join(
        [
            syscall(1, "59"),
            "this is not an audit record",
            "",
            "type=UNKNOWN[1329] msg=?",
            "type=SYSCALL msg=audit(1700000000.250): no serial",
            syscall(2, "231"),
        ]
    ).encode()
    events, skips = split(read(log))
    assert [e.record_id for e in events] == [1, 2]
    assert skips == [
        Skip("unparseable line", "line 2: this is not an audit record"),
        Skip("unparseable line", "line 4: type=UNKNOWN[1329] msg=?"),
        Skip("unparseable line", "line 5: type=SYSCALL msg=audit(1700000000.250): no serial"),
    ]


def test_long_garbage_line_is_cut_in_the_skip() -> None:
    log = (syscall(1, "59") + "\n" + "x" * 500 + "\n").encode()
    _, skips = split(read(log))
    assert skips == [Skip("unparseable line", "line 2: " + "x" * 80)]


def test_not_auditd_raises_with_file_name() -> None:
    with pytest.raises(ReaderError, match=r"notes\.txt") as info:
        read(b"hello\nworld\n" * 20, name="notes.txt")
    assert "not an auditd log" in info.value.reason
    with pytest.raises(ReaderError):
        read(b'{"EventID": 4688}\n', name="x.json")


def test_empty_and_bom() -> None:
    assert read(b"") == []
    assert read(b"\n\n----\n") == []
    (ev,) = read(b"\xef\xbb\xbf" + syscall(3, "59").encode() + b"\r\n")
    assert isinstance(ev, Event) and ev.record_id == 3
    assert "key" not in ev.fields  # key=(null) before the CR: the CR is line ending


def test_undecodable_bytes_are_replaced() -> None:
    log = syscall(3, "59").encode() + b'\ntype=CWD msg=audit(1700000000.250:3): cwd="/tmp/\xff"\n'
    (ev,) = read(log)
    assert isinstance(ev, Event) and ev.fields["cwd"] == "/tmp/\ufffd"


def test_looks_like_auditd() -> None:
    assert looks_like_auditd(syscall(1, "59").encode())
    assert looks_like_auditd(b"node=web01 " + syscall(1, "59").encode())
    assert looks_like_auditd(
        b"----\ntype=SYSCALL msg=audit(10/26/2021 12:51:14.046:1385) : arch=x86_64\n"
    )
    assert not looks_like_auditd(b'{"type": "SYSCALL", "msg": "audit(1.2:3)"}\n')
    assert not looks_like_auditd(b"Nov 10 07:48:12 host sshd[1]: Accepted publickey\n")
    assert not looks_like_auditd(b"")
