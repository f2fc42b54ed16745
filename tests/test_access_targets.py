"""The target of a process access or remote thread (Sysmon 10, 8) that started before the
log: a placeholder lifetime, made once, found again by GUID and PID, giving way to a later
process that reuses its PID, and filled by its own start where the access came first."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from sqlalchemy import select

from proctrail.store.correlate.extract import SECURITY, SYSMON, Act, ProcEvent
from proctrail.store.correlate.lifetimes import HostLifetimes, Lifetime, build_lifetimes
from proctrail.store.models import Activity, Process
from proctrail.store.queries import activity

S = 1_000_000
_pk = itertools.count(1)
LSASS = r"C:\Windows\System32\lsass.exe"
MIMI = r"C:\Users\bob\mimikatz.exe"
G_LSASS = "{lsass-guid}"
DUMPERT = "cmd_lsass_memory_dumpert_syscalls.zip"  # Outflank-Dumpert reads lsass


def start(pid: int, t: float, image: str, source: str = SYSMON, **kw) -> ProcEvent:
    n = next(_pk)
    return ProcEvent(n, 1, True, source, int(t * S), n, pid, image=image, **kw)


def access(t: float, pid: int, image: str, tpid: int | None, timage: str,
           tguid: str | None = None, guid: str | None = None,
           kind: str = "process_access") -> ProcEvent:
    n = next(_pk)
    return ProcEvent(n, 1, False, SYSMON, int(t * S), n, pid, guid=guid, image=image,
                     activity=kind, event_id=10 if kind == "process_access" else 8,
                     act=Act(access="0x1010 PROCESS_VM_READ"), target_pid=tpid,
                     target_guid=tguid, target_image=timage)


def named(lts: list[Lifetime], name: str) -> list[Lifetime]:
    return [lt for lt in lts if lt.image.lower().endswith(name)]


def test_target_before_the_log_is_a_placeholder_with_the_access() -> None:
    lts = build_lifetimes([
        start(100, 0, MIMI, guid="{mimi}"),
        access(1, 100, MIMI, 600, LSASS, G_LSASS, "{mimi}"),
        access(2, 100, MIMI, 600, LSASS, G_LSASS, "{mimi}"),  # the same lsass again
    ])
    [mimi], [lsass] = named(lts, "mimikatz.exe"), named(lts, "lsass.exe")
    assert (lsass.pid, lsass.guid, lsass.start_us, lsass.parent) == (600, G_LSASS, None, None)
    assert lsass.flags == {"placeholder", "before_log", "after_log"}
    ins = [a for a in lsass.acts if a[3] == "in"]
    assert len(ins) == 2 and {a[11] for a in ins} == {mimi.id}  # naming the reader
    assert all(a[2] == "process_access" and a[13] == f"by {MIMI}" for a in ins)
    outs = [a for a in mimi.acts if a[3] == "out"]
    assert len(outs) == 2 and {a[11] for a in outs} == {lsass.id}  # and the other way


def test_one_placeholder_per_target_by_guid_or_pid() -> None:
    lts = build_lifetimes([
        start(100, 0, MIMI),
        access(400, 100, MIMI, 600, LSASS, G_LSASS),  # long after the log began
        access(401, 100, MIMI, 600, LSASS),  # PID and image: the same process
        access(402, 100, MIMI, None, LSASS, G_LSASS),  # GUID alone
        access(403, 100, MIMI, 700, r"C:\Windows\System32\csrss.exe", kind="remote_thread"),
        access(404, 100, MIMI, 700, "csrss.exe", kind="remote_thread"),
    ])
    [lsass], [csrss] = named(lts, "lsass.exe"), named(lts, "csrss.exe")
    assert lsass.flags == {"placeholder", "start_missing", "after_log"}
    assert len([a for a in lsass.acts if a[3] == "in"]) == 3
    assert csrss.guid is None and len(csrss.acts) == 2 and csrss.acts[0][2] == "remote_thread"
    assert len(lts) == 3


def test_a_later_start_under_its_pid_is_another_process() -> None:
    evil = r"C:\Temp\evil.exe"
    lts = build_lifetimes([
        start(100, 0, MIMI),
        access(1, 100, MIMI, 600, LSASS, G_LSASS),
        start(600, 100, evil, guid="{evil}"),  # lsass ended unseen; its PID is reused
        access(101, 100, MIMI, 600, evil, "{evil}"),
        start(600, 200, LSASS, source=SECURITY),  # so is evil's: not the placeholder either
    ])
    [lsass_ph, lsass_new], [ev] = named(lts, "lsass.exe"), named(lts, "evil.exe")
    assert "placeholder" in lsass_ph.flags and "end_missing" in lsass_ph.flags
    assert lsass_ph.start_events == [] and len(lsass_ph.acts) == 1
    assert ev.start_us == 100 * S and "pid_reused" in ev.flags and len(ev.acts) == 1
    assert "placeholder" not in lsass_new.flags and not lsass_new.acts
    assert len({lt.id for lt in lts}) == len(lts) == 4


def test_a_start_just_after_the_access_fills_the_placeholder() -> None:
    """The creator opens its child as it makes it: the access can come a few milliseconds
    before the start (Sysmon 1, or Security's whole-second 4688) in stream order."""
    cmd, child = r"C:\Windows\System32\cmd.exe", r"C:\Tools\Outflank-Dumpert.exe"
    lts = build_lifetimes([
        start(50, 0, cmd, guid="{cmd}"),
        access(5.001, 50, cmd, 700, child, "{child}", "{cmd}"),
        start(700, 5.003, child, ppid=50, guid="{child}", parent_guid="{cmd}"),
        start(700, 5.004, child, source=SECURITY, ppid=50),
        access(5.2, 700, child, 600, LSASS, G_LSASS, "{child}"),
    ])
    [c], [d], [lsass] = named(lts, "cmd.exe"), named(lts, "dumpert.exe"), \
        named(lts, "lsass.exe")
    assert d.flags == {"after_log"} and d.start_us == int(5.003 * S) and d.parent is c
    assert d.start_sources == {SYSMON, SECURITY} and len(d.start_events) == 2
    assert [a[3] for a in d.acts] == ["in", "out"] and d.acts[0][11] == c.id
    assert lsass.flags == {"placeholder", "before_log", "after_log"}
    assert len(lts) == 3
    # Without a GUID, and much later than the access: another process under that PID.
    lts = build_lifetimes([
        start(50, 0, cmd),
        access(5, 50, cmd, 700, child),
        start(700, 5.5, child, source=SECURITY, ppid=50),
        access(8, 50, cmd, 710, child),
        start(710, 30, child, source=SECURITY, ppid=50),
    ])
    early, placeholder, late = sorted(named(lts, "dumpert.exe"), key=lambda lt: lt.seq)
    assert early.start_us == int(5.5 * S) and "placeholder" not in early.flags
    assert placeholder.pid == 710 and "placeholder" in placeholder.flags
    assert late.pid == 710 and late.start_us == 30 * S and "pid_reused" in late.flags


def test_an_access_just_after_a_whole_second_end_is_on_that_process() -> None:
    """Security writes whole seconds: a 100 ms net.exe starts and ends at .000, before
    the accesses of its life (.420) and its Sysmon start (.428). Those are on it, and the
    Sysmon start merges with the 4688 as ever: one lifetime, not a placeholder beside it."""
    ps, net = r"C:\Windows\powershell.exe", r"C:\Windows\System32\net.exe"
    n = next(_pk)
    net_end = ProcEvent(n, 1, False, SECURITY, 10 * S, n, 3892, image=net)
    lts = build_lifetimes([
        start(5724, 0, ps, guid="{ps}"),
        start(3892, 10, net, source=SECURITY, ppid=5724), net_end,
        access(10.420, 5724, ps, 3892, net, "{net}", "{ps}"),
        start(3892, 10.428, net, ppid=5724, guid="{net}", parent_guid="{ps}"),
    ])
    [one] = named(lts, "net.exe")
    assert one.start_sources == {SECURITY, SYSMON} and one.guid == "{net}"
    assert "placeholder" not in one.flags and [a[3] for a in one.acts] == ["in"]


def test_poorly_named_or_taken_targets_stay_unplaced() -> None:
    host = HostLifetimes(1)
    for e in [
        start(100, 0, MIMI),
        start(600, 0.5, r"C:\Windows\notepad.exe"),
        access(1, 100, MIMI, 600, LSASS, G_LSASS),  # notepad runs under 600: taken
        access(2, 100, MIMI, 601, ""),  # no image
        access(3, 100, MIMI, 602, "<unknown process>"),
        access(4, 100, MIMI, 603, "&lt;unknown process&gt;", "{x}"),
        access(5, 100, MIMI, None, LSASS),  # neither GUID nor PID: no target to count
    ]:
        host.feed(e)
    lts = host.finish()
    assert sorted(lt.image for lt in lts) == [MIMI, r"C:\Windows\notepad.exe"]
    assert host.unplaced == {"process_access to a process not in the logs": 4}
    assert all(a[11] is None for a in named(lts, "mimikatz.exe")[0].acts)


def test_placeholders_do_not_depend_on_arrival_order() -> None:
    events = [start(100, 0, MIMI, guid="{m}")]
    events += [access(1 + i, 100, MIMI, 600 + i % 7, f"C:\\W\\p{i % 7}.exe",
                      f"{{t{i % 7}}}", "{m}") for i in range(40)]
    events += [start(600, 100, r"C:\W\late.exe"), access(101, 100, MIMI, 600, "late.exe")]

    def shape(lts: list[Lifetime]) -> list[tuple]:
        return [(lt.id, lt.pid, lt.image, sorted(lt.flags), sorted(a[0] for a in lt.acts))
                for lt in lts]

    first = shape(build_lifetimes(events))
    for seed in range(3):
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        assert shape(build_lifetimes(shuffled)) == first
    assert sum("placeholder" in flags for _i, _p, _im, flags, _a in first) == 7


def test_otrf_lsass_shows_who_read_it(samples: Path, case_of) -> None:
    """Outflank-Dumpert opens lsass (running since boot) with PROCESS_ALL_ACCESS: the
    access is on lsass too, naming the dumper, and lsass is a placeholder of the host."""
    engine = case_of(samples / "otrf" / DUMPERT)
    with engine.connect() as conn:
        [(lsass, flags)] = conn.execute(select(Process.id, Process.flags)
                                        .where(Process.image.ilike("%\\lsass.exe"))).all()
        [dumpert] = conn.execute(select(Process.id)
                                 .where(Process.image.ilike("%outflank-dumpert.exe"))).scalars()
        ins = conn.execute(select(Activity.target_process_id, Activity.access)
                           .where(Activity.process_id == lsass, Activity.direction == "in",
                                  Activity.kind == "process_access")).all()
    assert set(flags.split(",")) == {"placeholder", "before_log", "after_log"}
    assert ins == [(dumpert, "0x1fffff PROCESS_ALL_ACCESS")] * 2
    rows, total = activity.process_activity(engine, lsass)
    assert total == 2 and all(r.detail.endswith("Outflank-Dumpert.exe") for r in rows)
