"""Process lifetimes: each rule on hand-built streams, then on real and demo logs."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from pathlib import Path

import pytest

from proctrail.store.correlate import correlated, process_events
from proctrail.store.correlate.extract import AUDITD, SECURITY, SYSMON, ProcEvent
from proctrail.store.correlate.lifetimes import build_lifetimes
from proctrail.store.db import open_engine
from proctrail.store.images import same_image
from proctrail.store.ingest import Ingestor

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000
_pk = itertools.count(1)


def start(pid: int, t: float, image: str, ppid: int | None = None, host: int = 1,
          source: str = SECURITY, **kw) -> ProcEvent:
    n = next(_pk)
    return ProcEvent(n, host, True, source, int(t * S), n, pid, ppid=ppid, image=image, **kw)


def end(pid: int, t: float, image: str = "", host: int = 1, source: str = SECURITY,
        **kw) -> ProcEvent:
    n = next(_pk)
    return ProcEvent(n, host, False, source, int(t * S), n, pid, image=image, **kw)


def by_image(lifetimes):
    return {lt.image.rsplit("\\", 1)[-1]: lt for lt in lifetimes}


def test_start_end_and_parent() -> None:
    lts = by_image(build_lifetimes([
        start(10, 0, r"C:\w\explorer.exe", ppid=4),
        start(20, 5, r"C:\w\cmd.exe", ppid=10, parent_image=r"C:\w\explorer.exe"),
        end(20, 9, r"C:\w\cmd.exe", exit_status="0x0"),
    ]))
    cmd, explorer = lts["cmd.exe"], lts["explorer.exe"]
    assert cmd.parent is explorer and cmd.start_us == 5 * S and cmd.end_us == 9 * S
    assert cmd.duration_us == 4 * S and cmd.exit_status == "0x0" and not cmd.flags
    # Running when the log begins and still when it ends: routine, not a loss.
    assert explorer.flags == {"after_log"}
    assert lts[""].flags == {"before_log", "placeholder", "after_log"}  # pid 4


def test_pid_reuse_and_missing_end() -> None:
    lts = build_lifetimes([
        start(100, 0, "a.exe"), start(100, 10, "b.exe"), end(100, 20, "b.exe"),
        start(100, 30, "c.exe"), end(100, 40, "c.exe"),
    ])
    a, b, c = lts
    assert (a.image, a.end_us, a.flags) == ("a.exe", None, {"end_missing"})
    assert (b.end_us, b.flags) == (20 * S, {"pid_reused"})
    assert (c.end_us, c.flags) == (40 * S, set())  # the earlier one ended: no reuse flag


def test_end_without_start_and_end_of_another_image() -> None:
    lts = build_lifetimes([
        end(7, 1, "old.exe"),
        start(8, 2, "x.exe"), end(8, 3, "y.exe"),
    ])
    assert [(lt.image, sorted(lt.flags)) for lt in lts] == [
        ("old.exe", ["before_log"]), ("x.exe", ["end_missing"]),
        ("y.exe", ["before_log"])]
    # Past the log's first minutes a start should have been logged: it is missing.
    late = build_lifetimes([start(1, 0, "a.exe"), end(7, 301, "old.exe")])
    assert [(lt.image, sorted(lt.flags)) for lt in late] == [
        ("a.exe", ["after_log"]), ("old.exe", ["start_missing"])]


def test_security_and_sysmon_make_one_lifetime() -> None:
    lts = build_lifetimes([
        start(50, 0.0, r"C:\w\cmd.exe", ppid=4, user="CORP\\bob", logon_id="0x1"),
        start(50, 0.4, r"C:\W\CMD.EXE", ppid=4, source=SYSMON, guid="{g1}",
              hashes="SHA256=AB", integrity="High"),
        end(50, 5, r"C:\w\cmd.exe", exit_status="0x0"),
        end(50, 5.2, r"C:\w\cmd.exe", source=SYSMON, guid="{g1}"),
    ])
    merged = [lt for lt in lts if lt.pid == 50]
    assert len(merged) == 1
    lt = merged[0]
    assert lt.guid == "{g1}" and lt.hashes == "SHA256=AB" and lt.integrity == "High"
    assert lt.start_sources == {SECURITY, SYSMON} == lt.end_sources
    assert len(lt.start_events) == 2 and len(lt.end_events) == 2
    assert lt.start_us == 0 and lt.end_us == 5 * S and lt.exit_status == "0x0"
    # Too far apart, or another image: two processes.
    far = build_lifetimes([start(60, 0, "a.exe"), start(60, 3, "a.exe", source=SYSMON)])
    assert len(far) == 2 and far[0].flags == {"end_missing"}
    assert far[1].flags == {"pid_reused", "after_log"}


def test_same_pids_on_two_hosts_are_two_processes() -> None:
    lts = build_lifetimes([
        start(300, 0, "a.exe", host=1), start(300, 0, "a.exe", host=2),
        end(300, 1, "a.exe", host=2),
    ])
    assert [(lt.host_id, lt.end_us) for lt in lts] == [(1, None), (2, S)]


def test_parent_mismatch_is_flagged_and_not_taken() -> None:
    lts = by_image(build_lifetimes([
        start(10, 0, r"C:\w\svchost.exe"),
        start(11, 1, r"C:\w\evil.exe", ppid=10, parent_image=r"C:\w\winword.exe"),
    ]))
    assert lts["evil.exe"].parent is None and "parent_mismatch" in lts["evil.exe"].flags
    assert lts["evil.exe"].parent_image == r"C:\w\winword.exe"


def test_siblings_share_a_placeholder_parent() -> None:
    lts = build_lifetimes([
        start(21, 1, "a.exe", ppid=500, parent_image=r"C:\w\services.exe"),
        start(22, 2, "b.exe", ppid=500, parent_image=r"C:\w\services.exe"),
        end(500, 3, r"C:\w\services.exe"),
    ])
    a, holder, b = lts
    assert a.parent is holder and b.parent is holder
    assert holder.image == r"C:\w\services.exe" and holder.end_us == 3 * S
    assert holder.flags == {"before_log", "placeholder"}


def test_sysmon_parent_guid_wins() -> None:
    lts = build_lifetimes([
        start(5, 0, "p.exe", source=SYSMON, guid="{p}"),
        start(6, 1, "c.exe", ppid=999, source=SYSMON, guid="{c}", parent_guid="{p}"),
    ])
    assert lts[1].parent is lts[0]


def test_runas_records_both_users() -> None:
    (lt,) = [x for x in build_lifetimes([
        start(9, 0, "cmd.exe", user="CORP\\alice", target_user="CORP\\admin"),
        end(9, 1, "cmd.exe", user="CORP\\admin"),
    ]) if x.pid == 9]
    assert (lt.user, lt.creator_user, lt.end_user) == ("CORP\\admin", "CORP\\alice",
                                                       "CORP\\admin")
    assert "user_changed" in lt.flags


def test_auditd_exec_in_place_is_a_chain_not_a_reuse() -> None:
    lts = build_lifetimes([
        start(40, 0, "/bin/sh", ppid=1, source=AUDITD),
        start(40, 1, "/usr/bin/python3", ppid=1, source=AUDITD),
        end(40, 2, source=AUDITD),
    ])
    sh, py = (next(lt for lt in lts if lt.image == i) for i in ("/bin/sh", "/usr/bin/python3"))
    assert sh.image == "/bin/sh" and "exec_replaced" in sh.flags and sh.end_us == S
    assert py.parent is sh and "exec" in py.flags and py.end_us == 2 * S


def test_result_does_not_depend_on_arrival_order() -> None:
    events = [
        start(10, 0, "a.exe", ppid=1), start(11, 1, "b.exe", ppid=10),
        start(11, 1.5, "b.exe", ppid=10, source=SYSMON, guid="{b}"), end(11, 2, "b.exe"),
        start(11, 3, "c.exe", ppid=10), end(10, 4, "a.exe"), end(99, 5, "z.exe"),
    ]

    def shape(lts):
        return sorted((lt.pid, lt.image, lt.start_us, lt.end_us, tuple(sorted(lt.flags)),
                       lt.parent.image if lt.parent else None) for lt in lts)

    expected = shape(build_lifetimes(events))
    rng = random.Random(7)
    for _ in range(5):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert shape(build_lifetimes(shuffled)) == expected


def test_same_image_rules() -> None:
    assert same_image(r"C:\Windows\cmd.exe", r"c:\windows\CMD.EXE")
    assert same_image(r"\??\C:\Windows\cmd.exe", r"C:\Windows\cmd.exe")
    assert same_image("cmd.exe", r"C:\Windows\cmd.exe")
    assert not same_image(r"C:\Temp\cmd.exe", r"C:\Windows\cmd.exe")


@pytest.fixture
def demo_engine(db_url: str):
    engine = open_engine(db_url)
    Ingestor(engine).run([str(ROOT / "sample_logs")])
    return engine


def assert_each_event_in_one_lifetime(events: list[ProcEvent], lts: list) -> None:
    """Every start event is in exactly one lifetime; every end closes exactly one."""
    starts = Counter(pk for lt in lts for pk in lt.start_events)
    ends = Counter(pk for lt in lts for pk in lt.end_events)
    assert set(starts) == {e.event_pk for e in events if e.is_start}
    assert set(ends) == {e.event_pk for e in events if not e.is_start and not e.activity}
    assert max(starts.values()) == 1 and max(ends.values()) == 1


def test_demo_case_lifetimes(demo_engine) -> None:
    lts, _sessions = correlated(demo_engine)
    assert_each_event_in_one_lifetime(process_events(demo_engine), lts)
    # Sysmon's network connection and DNS query belong to the processes that made them,
    # mstsc's 4648 (itadmin's credentials for WS02) to mstsc.
    talkers = {lt.image.rsplit("\\", 1)[-1].lower() for lt in lts if lt.activity_events}
    assert sum(len(lt.activity_events) for lt in lts) == 4  # DNS, two connections, a 4648
    assert talkers == {"powershell.exe", "updater.exe", "mstsc.exe"}
    word = next(lt for lt in lts if lt.image.lower().endswith("winword.exe"))
    ps = next(lt for lt in lts if lt.image.lower().endswith("powershell.exe"))
    assert ps.parent is word and word.parent.image.lower().endswith("outlook.exe")
    assert ps.start_sources == {SECURITY, SYSMON} and ps.guid and ps.hashes
    children = sorted(lt.image.rsplit("\\", 1)[-1].lower() for lt in lts if lt.parent is ps)
    assert {"regsvr32.exe", "ftp.exe", "updater.exe"} <= set(children)


def test_sliver_security_and_sysmon_merge(tmp_path: Path, samples: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 's.db'}")
    Ingestor(engine).run([str(samples / "extra/win/sliver-security.evtx"),
                          str(samples / "extra/win/sliver-sysmon.evtx")])
    events = process_events(engine)
    lts, _sessions = correlated(engine)
    assert sum(e.is_start for e in events) == 28 + 13
    starts = Counter(pk for lt in lts for pk in lt.start_events)
    assert sum(starts.values()) == 41 and max(starts.values()) == 1
    merged = [lt for lt in lts if lt.start_sources == {SECURITY, SYSMON}]
    assert merged, "Sysmon 1 events pair with their 4688"
    # Wherever 4688 names a parent that is in the log, the linked parent has that image.
    for lt in lts:
        if lt.parent is not None and lt.parent_image and "placeholder" not in lt.parent.flags:
            assert same_image(lt.parent.image, lt.parent_image)


def test_rules_hold_on_every_evtx_sample(tmp_path: Path, samples: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'all.db'}")
    Ingestor(engine).run([str(p) for p in sorted(samples.rglob("*.evtx"))])
    lts, _sessions = correlated(engine)
    assert_each_event_in_one_lifetime(process_events(engine), lts)
    # A lifetime without a start event is exactly one flagged start_missing or before_log.
    for lt in lts:
        assert bool(lt.start_events) != bool({"start_missing", "before_log"} & lt.flags), lt
        assert not {"start_missing", "before_log"} <= lt.flags, lt
        assert not {"end_missing", "after_log"} <= lt.flags, lt
    # Wherever 4688/Sysmon name the parent and it is in the log, the linked parent agrees.
    checked = 0
    for lt in lts:
        if lt.parent is not None and lt.parent_image and "placeholder" not in lt.parent.flags:
            assert same_image(lt.parent.image, lt.parent_image), (lt.image, lt.parent.image)
            checked += 1
    assert checked > 500


def test_a_process_of_milliseconds_is_one_lifetime_whatever_the_order() -> None:
    # Sysmon wrote start and end before Security wrote its 4688.
    lts = build_lifetimes([
        start(70, 0.0001, "x.exe", source=SYSMON, guid="{x}"),
        end(70, 0.0010, "x.exe", source=SYSMON, guid="{x}"),
        start(70, 0.0012, "x.exe"), end(70, 0.0020, "x.exe"),
    ])
    (lt,) = [x for x in lts if x.pid == 70]
    assert lt.start_sources == lt.end_sources == {SECURITY, SYSMON} and not lt.flags


def test_an_end_found_by_guid_after_its_pid_was_taken_closes_it_once() -> None:
    lts = build_lifetimes([
        start(90, 0, "a.exe", source=SYSMON, guid="{a}"),
        start(90, 1, "b.exe"),  # Security only: a start under the same PID
        end(90, 2, "a.exe", source=SYSMON, guid="{a}"),  # a ends after all
        end(90, 3, "b.exe"),
    ])
    a, b = (next(lt for lt in lts if lt.image == i) for i in ("a.exe", "b.exe"))
    assert (a.end_us, a.flags) == (2 * S, set())
    assert b.end_us == 3 * S and "pid_reused" in b.flags
    assert len({lt.id for lt in lts}) == len(lts) == 2
