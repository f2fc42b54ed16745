"""Process lifetimes from process starts and ends, host by host.

The rules (issues 3, 13 and 17): one lifetime per start, keyed by Sysmon's ProcessGuid
where known, else by (host, pid, start); its end is the first end for that PID after the
start; a start for a PID still open closes the old lifetime as ``end_missing`` and flags
the new one ``pid_reused``; an end with no start makes a ``start_missing`` lifetime.
Where a log begins (the stream's first event, the first after a silence of
:data:`LOG_GAP_US`, a source's first process event) processes are already running: one
first heard of within :data:`EDGE_US` of it is ``before_log``, not ``start_missing``; one
still running when its stretch of the log ends is ``after_log``, not ``end_missing``.
Security and Sysmon records of one process (same PID and image, within two seconds of
Sysmon's real start time; never two GUIDs) are one lifetime. A Sysmon record whose PID a
collector dropped is a lifetime by its GUID; its PID is learnt from the 4688 it merges
with, a child's ParentProcessId or its own activity.

Parents are the lifetime alive under the creator PID at the child's start (or the
ParentProcessGuid; or, where the creator PID was dropped, the running process of the
parent's image); a disagreeing parent image is not taken (``parent_mismatch``); a creator
never seen starting becomes a ``start_missing`` placeholder that its children describe,
so siblings share it. A parent must have been alive at the child's start as far as the
log can vouch: a boot of the host ends every process of the boot before
(``ended_at_boot``), and a process last heard of before the host's log fell silent for
:data:`SILENCE_US` is nobody's parent after it.

The target of a remote thread or a process access (Sysmon 8, 10) that no lifetime is (lsass,
csrss, svchost: running since boot) becomes a placeholder too, where the record names its
image and its GUID or PID: found by both from then on, so every access to it is on it. It
does not take a PID from a process vouched for in this stretch of the log; a start under
its PID ends it, unless the start comes within :data:`MERGE_US` of the access that made it
(a creator opens its child as it makes it): then it is that start's.

Pure Python over :class:`ProcEvent` values: no database here, so it is easy to test and
to feed from any store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from proctrail.store.correlate.extract import AUDITD, ProcEvent
from proctrail.store.correlate.ids import StableIds
from proctrail.store.correlate.signal import expected_user_change
from proctrail.store.images import same_image

MERGE_US = 2_000_000  # Security and Sysmon records of one process lie within this
KEEP_US = 60_000_000  # an ended lifetime stays findable this long for late records
SECOND_US = 1_000_000  # exports that write whole seconds (NXLog) cut this much
SILENCE_US = 24 * 3600 * SECOND_US  # a host's log silent this long vouches for nothing
JITTER_US = 100_000  # Sysmon has logged a process's end a few ms before its start
LOG_GAP_US = 3600 * SECOND_US  # a host's log silent this long stopped: what follows begins one
EDGE_US = 300 * SECOND_US  # a process first heard of this soon after its log begins predates it

IdMaker = Callable[[str], int]
BUSY_ACTS = 256  # a running lifetime's activity rows written before it ends, this many at once
# What a lifetime keeps of each thing it did: an ``activity`` row without its process.
ACT_FIELDS = ("event_pk", "ts_us", "kind", "direction", "protocol", "src_addr", "src_port",
              "dst_addr", "dst_port", "hostname", "path", "target_process_id", "access",
              "detail")


@dataclass(slots=True, eq=False)
class Lifetime:
    """One process from start to end, with what its events said about it."""

    id: int
    host_id: int
    pid: int | None
    start_us: int | None = None
    end_us: int | None = None
    guid: str | None = None
    image: str = ""
    command_line: str = ""
    cwd: str = ""
    hashes: str = ""
    integrity: str = ""
    user: str = ""
    creator_user: str = ""
    end_user: str = ""
    logon_id: str = ""
    login_user: str = ""  # auditd auid: who logged in, whatever uid the process runs as
    session_id: int | None = None
    exit_status: str = ""
    parent: Lifetime | None = None
    parent_pid: int | None = None
    parent_image: str = ""
    flags: set[str] = field(default_factory=set)
    start_events: list[int] = field(default_factory=list)
    end_events: list[int] = field(default_factory=list)
    start_sources: set[str] = field(default_factory=set)
    end_sources: set[str] = field(default_factory=set)
    activity_events: list[int] = field(default_factory=list)
    acts: list[tuple[Any, ...]] = field(default_factory=list)  # :data:`ACT_FIELDS` each
    token_events: list[int] = field(default_factory=list)
    token_changes: list[dict[str, Any]] = field(default_factory=list)
    retired: bool = False  # handed to the drain queue (once)
    seq: int = 0  # creation order on its host's stream: output order
    key: str = ""  # the natural key its id was derived from
    epoch: int = 0  # the host's quiet-period count at its last sign of life
    seen_us: int | None = None  # the stream's time at its last sign of life
    log: int = 0  # which stretch of its host's log (:data:`LOG_GAP_US`) it was last seen in
    heard_us: int | None = None  # a target placeholder: the stream's time it was made at

    @property
    def source_is_auditd(self) -> bool:
        return AUDITD in self.start_sources or AUDITD in self.end_sources

    @property
    def duration_us(self) -> int | None:
        if self.start_us is None or self.end_us is None:
            return None
        return self.end_us - self.start_us


@dataclass(slots=True, eq=False)
class ScriptBlock:
    """The parts of one PowerShell script block (4104) that have arrived, by number."""

    lifetime: Lifetime
    total: int
    path: str
    parts: dict[int, tuple[int, int | None, str]] = field(default_factory=dict)
    last_us: int = -1  # the stream's time at its latest part

    def attach(self) -> None:
        """One activity row on its lifetime: the text whole, in order; where parts are
        missing, a line says which, and ``access`` says it is incomplete."""
        numbers = sorted(self.parts)
        first_pk, first_us, _ = self.parts[numbers[0]]
        texts = [self.parts[n][2] if n in self.parts
                 else f"\n[part {n} of {self.total} was not logged]\n"
                 for n in range(1, self.total + 1)]
        if len(numbers) == self.total:
            note = f"{self.total} parts" if self.total > 1 else ""
        else:
            note = f"incomplete: {len(numbers)} of {self.total} parts"
        self.lifetime.acts.append((first_pk, first_us, "script_block", "", "", "", None, "",
                                   None, "", self.path, None, note, "".join(texts)))


def order_key(e: ProcEvent) -> tuple[int, int, int]:
    """Where an event sits in its host's stream: time (clock-corrected), then starts
    before what processes do before ends, then record number."""
    rank = 0 if e.is_start else 2 if e.activity == "token_change" else 1 if e.activity else 3
    ts = e.order_us if e.order_us is not None else e.ts_us
    return (ts if ts is not None else -1, rank, e.record_id)


def _prune(pool: deque[Lifetime], now: int | None) -> None:
    """Forget the starts too long before ``now`` to pair with a start at ``now``."""
    while pool and (pool[0].start_us is None or now is None
                    or pool[0].start_us < now - 2 * MERGE_US):
        pool.popleft()


def _started_after_end(e: ProcEvent, lt: Lifetime) -> bool:
    """Whether ``e`` starts after ``lt``'s logged end: then it is another process (a
    whole-second end time, as NXLog writes, may be up to a second early)."""
    if lt.end_us is None or e.ts_us is None:
        return False
    slack = SECOND_US if lt.end_us % SECOND_US == 0 else JITTER_US
    return e.ts_us > lt.end_us + slack


class HostLifetimes:
    """The lifetimes of one host, built while its events stream past in time order.

    Memory stays bounded by what is open: a lifetime that has ended is handed out by
    :meth:`drain` once the stream is :data:`KEEP_US` past its end (late Sysmon network
    events and the other source's end record arrive within that), and forgotten.
    """

    def __init__(self, host_id: int, ids: IdMaker | None = None,
                 link: Callable[[Lifetime], None] | None = None) -> None:
        self.host_id = host_id
        self.ids = ids or StableIds()
        self.link = link or (lambda lt: None)
        self.open: dict[int, Lifetime] = {}
        self.by_guid: dict[str, Lifetime] = {}
        self.closed: dict[int, Lifetime] = {}
        self.unbound: dict[int, Lifetime] = {}  # running, PID not known yet (by id)
        self.recent: deque[Lifetime] = deque()  # started lately: twins of a PID-less start
        self.pidless: deque[Lifetime] = deque()  # PID-less starts lately: a 4688's twins
        self.done: deque[tuple[int, Lifetime]] = deque()
        self.now = -1
        self.epoch = 0
        self.seq = 0
        self.unplaced: dict[str, int] = {}  # activity records of processes not in the logs
        self.log = 0  # stretches of this host's log so far, less one
        self.log_start: int | None = None  # when the current stretch began
        self.log_ends: dict[int, int] = {}  # stretch -> its last time (one per silence)
        self.source_start: dict[int, int] = {}  # source -> its first process event's time
        self.blocks: dict[tuple[int, str, int], ScriptBlock] = {}  # 4104 parts held

    def observe(self, ts: int | None) -> None:
        """The stream has reached ``ts``: a silence longer than :data:`SILENCE_US` since
        the last event ends what the log can vouch for."""
        if ts is None:
            return
        if self.now >= 0 and ts - self.now > SILENCE_US:
            self.epoch += 1
        if self.now >= 0 and ts - self.now >= LOG_GAP_US:
            self.log_ends[self.log] = self.now
            self.log += 1
            self.log_start = ts
        if self.log_start is None:
            self.log_start = ts
        if ts > self.now:
            self.now = ts

    def feed(self, e: ProcEvent) -> None:
        """Take the next event of this host's stream."""
        at = e.order_us if e.order_us is not None else e.ts_us
        self.observe(at)
        if e.source_id is not None and at is not None:
            self.source_start.setdefault(e.source_id, at)
        if e.is_start:
            self.start(e)
        elif e.activity == "token_change":
            self.token(e)
        elif e.activity:
            self.activity(e)
        else:
            self.end(e)

    def new(self, pid: int | None, key: str, **values: object) -> Lifetime:
        self.seq += 1
        return Lifetime(id=self.ids(key), host_id=self.host_id, pid=pid, seq=self.seq,
                        key=key, epoch=self.epoch, seen_us=self.now if self.now >= 0 else None,
                        log=self.log, **values)

    def retire(self, lt: Lifetime) -> None:
        """A lifetime that nothing but late records can still change."""
        self.unbound.pop(id(lt), None)
        if not lt.retired:
            lt.retired = True
            self.done.append((self.now, lt))

    def drain(self, keep_us: int | None = None) -> list[Lifetime]:
        """Lifetimes ended more than ``keep_us`` ago (of stream time), now final."""
        horizon = self.now - (KEEP_US if keep_us is None else keep_us)
        self._flush_blocks(horizon)
        out: list[Lifetime] = []
        while self.done and self.done[0][0] < horizon:
            lt = self.done.popleft()[1]
            if lt.guid and self.by_guid.get(lt.guid) is lt:
                del self.by_guid[lt.guid]
            if lt.pid is not None and self.closed.get(lt.pid) is lt:
                del self.closed[lt.pid]
            _rank(lt)
            out.append(lt)
        return out

    def busy(self, least: int = BUSY_ACTS) -> list[Lifetime]:
        """Running lifetimes holding at least ``least`` activity rows: a sink may write
        those now (a lifetime's id never changes) and clear them, so that memory stays
        bounded by what is open, not by what a long-running process did."""
        return [lt for lt in [*self.open.values(), *self.unbound.values()]
                if len(lt.acts) >= least]

    def boot(self) -> None:
        """The host started up (4608, System 6005/12, Sysmon 4, auditd DAEMON_START):
        every process of the boot before has ended, unseen."""
        for lt in [*self.open.values(), *self.unbound.values()]:
            if lt.end_us is None:
                lt.flags.update(("end_missing", "ended_at_boot"))
            self.retire(lt)
        self.open.clear()
        self.unbound.clear()
        self.recent.clear()
        self.pidless.clear()
        self.epoch += 1

    # -- identity --------------------------------------------------------------------------

    def _guid(self, lt: Lifetime, guid: str | None) -> None:
        if guid and not lt.guid:
            lt.guid = guid
            self.by_guid.setdefault(guid, lt)

    def _learn_pid(self, lt: Lifetime, pid: int | None) -> None:
        """A PID-less lifetime's PID, from another record of the same process."""
        if lt.pid is not None or pid is None:
            return
        lt.pid = pid
        if lt.end_us is None and not lt.retired:
            self.unbound.pop(id(lt), None)
            if self.open.get(pid) is not lt:
                if self.open.get(pid) is not None:
                    lt.flags.add("pid_reused")
                self._set_open(pid, lt)

    def _alive(self, lt: Lifetime) -> Lifetime:
        """A sign of life: ``lt`` is vouched for from here on."""
        lt.epoch = self.epoch
        lt.seen_us, lt.log = self.now, self.log
        return lt

    # -- the log's edges -------------------------------------------------------------------

    def _no_start(self, e: ProcEvent) -> str:
        """``before_log`` for a process first heard of in ``e`` within :data:`EDGE_US` of
        the beginning of its log (this stretch of the host's log, ``e``'s source), else
        ``start_missing``."""
        at = e.order_us if e.order_us is not None else e.ts_us
        began = self.log_start
        if e.source_id is not None and e.source_id in self.source_start:
            first = self.source_start[e.source_id]
            began = first if began is None else max(began, first)
        if at is not None and began is not None and at - began <= EDGE_US:
            return "before_log"
        return "start_missing"

    def _lost(self, lt: Lifetime, log_ends: bool = False) -> bool:
        """Flag a running ``lt`` whose end will never be seen: ``after_log`` if its stretch
        of the log ended since its last sign of life (or ``log_ends``: the stream does),
        ``end_missing`` if the log went on and its end should be there. True for the
        first."""
        ran_out = lt.log != self.log or log_ends
        lt.flags.add("after_log" if ran_out else "end_missing")
        return ran_out

    # -- starts ----------------------------------------------------------------------------

    def start(self, e: ProcEvent) -> None:
        known = self.by_guid.get(e.guid) if e.guid else None
        if known is not None:
            if known.heard_us is not None and not known.start_events:
                self._fill(known, e)
                return
            self._merge_start(known, e)
            self._learn_pid(known, e.pid)
            return
        current = self.open.get(e.pid) if e.pid is not None else None
        if current is not None and self._mergeable(current, e):
            self._merge_start(current, e)
            return
        if current is not None and self._revealed_early(current, e):
            self._fill(current, e)
            return
        recent = self.closed.get(e.pid) if e.pid is not None else None
        if current is None and recent is not None and self._mergeable(recent, e) \
                and not _started_after_end(e, recent):
            # A process of a few milliseconds: the other source's end came first.
            self._merge_start(recent, e)
            return
        twin = self._pidless_twin(e)
        if twin is not None:
            self._merge_start(twin, e)
            self._learn_pid(twin, e.pid)
            return
        exec_parent = None
        reused = False
        if current is not None:
            del self.open[current.pid]  # type: ignore[arg-type]
            if e.source == AUDITD and AUDITD in current.start_sources:
                # execve in place: the same process now runs another image.
                current.end_us = e.ts_us
                current.flags.add("exec_replaced")
                exec_parent = current
            else:
                reused = not self._lost(current)  # (a PID of an earlier log's is news to none)
            self.retire(current)
        lt = self.new(e.pid, e.key or f"pk{e.event_pk}", start_us=e.ts_us)
        if current is not None and exec_parent is None and reused:
            lt.flags.add("pid_reused")
        if exec_parent is not None:
            lt.flags.add("exec")
        self._merge_start(lt, e)
        lt.parent_pid = e.pid if exec_parent is not None else e.ppid
        lt.parent = exec_parent or self._parent_of(lt, e)
        if e.pid is not None:
            self._set_open(e.pid, lt)
        else:
            self.unbound[id(lt)] = lt
            self.pidless.append(lt)
        self.recent.append(lt)
        _prune(self.recent, e.ts_us)

    def _revealed_early(self, lt: Lifetime, e: ProcEvent) -> bool:
        """Whether ``lt`` is a target placeholder that ``e`` is the start of: made by an
        access to the process just before its start record in stream order (its parent
        opens it as it creates it; Security's whole-second times and Sysmon's own lag
        put the start a few milliseconds after), of its image and, where both say, GUID.
        Later than :data:`MERGE_US` after the access, a start under that PID is another
        process."""
        return (lt.heard_us is not None and not lt.start_events and e.ts_us is not None
                and e.ts_us - lt.heard_us <= MERGE_US and same_image(lt.image, e.image)
                and not (lt.guid and e.guid and lt.guid != e.guid))

    def _fill(self, lt: Lifetime, e: ProcEvent) -> None:
        """The start of a target placeholder, come after all: one lifetime, with its
        parent found as any start's is."""
        self._merge_start(lt, e)
        self._learn_pid(lt, e.pid)
        if lt.parent is None:
            lt.parent = self._parent_of(lt, e)

    def _set_open(self, pid: int, lt: Lifetime) -> None:
        """``lt`` now runs under ``pid``; whatever ran there before ended unseen."""
        before = self.open.get(pid)
        if before is not None and before is not lt:
            self._lost(before)
            self.retire(before)
        self.open[pid] = lt

    def _mergeable(self, lt: Lifetime, e: ProcEvent) -> bool:
        return (e.source not in lt.start_sources and lt.start_us is not None
                and e.ts_us is not None and abs(e.ts_us - lt.start_us) <= MERGE_US
                and not (lt.guid and e.guid and lt.guid != e.guid)
                and same_image(lt.image, e.image))

    def _pidless_twin(self, e: ProcEvent) -> Lifetime | None:
        """The other source's record of the same process where one of the two has no PID:
        same image, same parent PID where both say, within :data:`MERGE_US`; the nearest."""
        pool = self.recent if e.pid is None else self.pidless
        _prune(pool, e.ts_us)
        best: Lifetime | None = None
        for lt in pool:
            if e.pid is not None and lt.pid is not None:
                continue  # both have PIDs (learnt since): the open-PID path decides
            if not self._mergeable(lt, e) or _started_after_end(e, lt):
                continue  # (ended already: whole-second Security times end it early)
            if e.pid is not None and lt.pid is not None and e.pid != lt.pid:
                continue
            if e.ppid is not None and lt.parent_pid is not None and e.ppid != lt.parent_pid:
                continue
            if best is None or abs(lt.start_us - e.ts_us) < abs(  # type: ignore[operator]
                    best.start_us - e.ts_us):  # type: ignore[operator]
                best = lt
        return best

    def _merge_start(self, lt: Lifetime, e: ProcEvent) -> None:
        """Fill a lifetime from a start event; Sysmon's richer fields win where both speak."""
        lt.start_events.append(e.event_pk)
        lt.start_sources.add(e.source)
        # An end (or a child, for a placeholder) came first: its start is here after all.
        lt.flags.difference_update(("start_missing", "before_log", "placeholder"))
        self._alive(lt)
        if e.ts_us is not None and (lt.start_us is None or e.ts_us < lt.start_us):
            lt.start_us = e.ts_us
        self._guid(lt, e.guid)
        if lt.parent_pid is None and e.ppid is not None and e.source != AUDITD:
            lt.parent_pid = e.ppid
        logon_before = lt.logon_id
        for name in ("image", "command_line", "cwd", "hashes", "integrity", "logon_id",
                     "login_user"):
            value = getattr(e, name)
            if value and (not getattr(lt, name) or e.source == "sysmon"):
                setattr(lt, name, value)
        runs_as = e.target_user or e.user
        if runs_as and (not lt.user or e.source == "sysmon"):
            lt.user = runs_as
        if e.user and not lt.creator_user and e.target_user and e.target_user != e.user:
            lt.creator_user = e.user
            lt.flags.add("user_changed")
        if e.parent_image and not lt.parent_image:
            lt.parent_image = e.parent_image
        if lt.logon_id != logon_before or lt.session_id is None:
            self.link(lt)

    def _parent_of(self, child: Lifetime, e: ProcEvent) -> Lifetime | None:
        candidate = self.by_guid.get(e.parent_guid) if e.parent_guid else None
        if candidate is None and e.ppid is not None:
            candidate = self.open.get(e.ppid)
            if candidate is not None and candidate.epoch != self.epoch:
                # Last heard of before the log fell silent: it may be long gone.
                del self.open[e.ppid]
                self._lost(candidate)
                self.retire(candidate)
                candidate = None
        if candidate is None and e.ppid is None and e.parent_image:
            candidate = self._running_image(e.parent_image)
        if candidate is not None:
            if e.parent_image and not same_image(candidate.image, e.parent_image):
                child.flags.add("parent_mismatch")
                return None
            self._guid(candidate, e.parent_guid)
            self._learn_pid(candidate, e.ppid)
            return self._alive(candidate)
        if e.ppid is None or (e.ppid == 0 and not e.parent_image):
            return None
        # The creator started before the log: a placeholder its children describe.
        holder = self.new(e.ppid, f"ph|{child.key}", image=e.parent_image,
                          guid=e.parent_guid, command_line=e.parent_command_line)
        holder.flags.update((self._no_start(e), "placeholder"))
        self._set_open(e.ppid, holder)
        if e.parent_guid:
            self.by_guid[e.parent_guid] = holder
        return holder

    def _running_image(self, image: str) -> Lifetime | None:
        """The latest-started running process of ``image``, vouched for now: the parent of
        a record whose creator PID a collector dropped."""
        best: Lifetime | None = None
        for lt in [*self.open.values(), *self.unbound.values()]:
            if lt.epoch == self.epoch and lt.image and same_image(lt.image, image) \
                    and (best is None or (lt.start_us or -1) > (best.start_us or -1)):
                best = lt
        return best

    # -- what a process did ----------------------------------------------------------------

    def _running(self, e: ProcEvent) -> Lifetime | None:
        """The lifetime an activity or token record speaks of, if it is known."""
        return self._find(e.guid, e.pid, e.image)

    def _find(self, guid: str | None, pid: int | None, image: str) -> Lifetime | None:
        """The lifetime of Sysmon's ``guid``, else the one running under ``pid`` now (of
        ``image``, where the record names one); None if neither is known."""
        lt = self.by_guid.get(guid) if guid else None
        if lt is None and pid is not None:
            lt = self.open.get(pid)
            if lt is not None and ((image and not same_image(lt.image, image))
                                   or (guid and lt.guid and lt.guid != guid)):
                lt = None
        if lt is not None:
            self._learn_pid(lt, pid)
            self._alive(lt)
        return lt

    def _unplaced(self, reason: str) -> None:
        self.unplaced[reason] = self.unplaced.get(reason, 0) + 1

    def _by_command_line(self, e: ProcEvent) -> Lifetime | None:
        """The one running process (vouched for now) whose command line is ``e``'s
        (Windows PowerShell's classic events name their process by ``HostApplication``
        only); None, counted, when there is none or more than one."""
        want = " ".join(e.command_line.split()).lower()
        found = [lt for lt in [*self.open.values(), *self.unbound.values()]
                 if lt.epoch == self.epoch and " ".join(lt.command_line.split()).lower()
                 == want and (not e.image or same_image(lt.image, e.image))]
        if len(found) != 1:
            self._unplaced(f"{e.activity} of a process not in the logs" if not found else
                           f"{e.activity} of one of several processes of its command line")
            return None
        return self._alive(found[0])

    def _script_part(self, e: ProcEvent) -> bool:
        """One part of a PowerShell script block (4104): held until all its parts are in
        (then one row, the text whole), or handed out incomplete by :meth:`drain`."""
        assert e.part is not None and e.act is not None
        lt = self._running(e)
        if lt is None:
            self._unplaced(f"{e.activity} of a process not in the logs")
            return False
        lt.activity_events.append(e.event_pk)
        block, number, total = e.part
        key = (lt.id, block, total)
        held = self.blocks.get(key)
        if held is None:
            held = self.blocks[key] = ScriptBlock(lt, total, e.act.path)
        held.parts.setdefault(number, (e.event_pk, e.ts_us, e.act.detail))
        held.last_us = self.now
        if len(held.parts) == total:
            del self.blocks[key]
            held.attach()
        return True

    def _flush_blocks(self, horizon: int) -> None:
        """Script blocks whose last part came before ``horizon``: attached with what came."""
        for key in [k for k, b in self.blocks.items() if b.last_us < horizon]:
            self.blocks.pop(key).attach()

    def activity(self, e: ProcEvent) -> bool:
        """Attach what a process did to its lifetime; a remote thread or a process access
        (Sysmon 8, 10) to both ends, each row naming the other. False (and counted per
        end) where a process is not known; an unknown target the record names well is
        a placeholder (:meth:`_target_placeholder`), an unknown doer is not (as for
        everything else processes do)."""
        if e.part is not None:
            return self._script_part(e)
        if e.pid is None and e.guid is None and e.command_line:
            lt = self._by_command_line(e)
            if lt is None:
                return False
        else:
            lt = self._running(e)
        if lt is None:
            self._unplaced(f"{e.activity} of a process not in the logs")
        else:
            lt.activity_events.append(e.event_pk)
        act = e.act
        if act is None:
            return lt is not None
        if e.target_pid is None and e.target_guid is None:
            if lt is not None:
                lt.acts.append((e.event_pk, e.ts_us, e.activity, *act[:8], None,
                                act.access, act.detail))
            return lt is not None
        target = self._find(e.target_guid, e.target_pid, e.target_image) \
            or self._just_ended(e)
        if target is not None:
            self._guid(target, e.target_guid)
            if not target.image and named_image(e.target_image):
                target.image = e.target_image  # (a creator known by its PID alone)
        else:
            target = self._target_placeholder(e)
        if target is None:
            self._unplaced(f"{e.activity} to a process not in the logs")
        else:
            source = e.image or "?"
            target.acts.append((e.event_pk, e.ts_us, e.activity, "in", *act[1:8],
                                lt.id if lt is not None else None, act.access,
                                " ".join(p for p in (f"by {source}", act.detail) if p)))
        if lt is not None:
            lt.acts.append((e.event_pk, e.ts_us, e.activity, "out", *act[1:8],
                            target.id if target is not None else None, act.access,
                            " ".join(p for p in (f"to {e.target_image or '?'}", act.detail)
                                     if p)))
        return lt is not None

    def _just_ended(self, e: ProcEvent) -> Lifetime | None:
        """The process whose end under the target's PID was logged just before ``e``
        (Security's whole-second times put a short process's end before the accesses of
        its last moments): of the target's image and, where both say, GUID."""
        lt = self.closed.get(e.target_pid) if e.target_pid is not None else None
        if lt is None or lt.end_us is None or e.ts_us is None \
                or (e.target_guid and lt.guid and lt.guid != e.target_guid) \
                or not same_image(lt.image, e.target_image):
            return None
        slack = SECOND_US if lt.end_us % SECOND_US == 0 else JITTER_US
        return lt if e.ts_us <= lt.end_us + slack else None

    def _target_placeholder(self, e: ProcEvent) -> Lifetime | None:
        """The other end of a remote thread or process access (Sysmon 8, 10) that no known
        lifetime is: a process running since before the log (lsass, csrss, svchost), made
        a ``placeholder`` (``before_log`` or ``start_missing``) as a creator never seen
        starting is, and registered under its GUID and PID so that later records about it
        find it. Its id is derived from the record that revealed it. None where the record
        names the target too poorly to tell it from another: no image (or Sysmon's
        ``<unknown process>``), or neither GUID nor PID."""
        if not named_image(e.target_image) or (e.target_guid is None
                                                 and e.target_pid is None):
            return None
        held = self.open.get(e.target_pid) if e.target_pid is not None else None
        if held is not None and held.log == self.log and held.epoch == self.epoch:
            # Another process (another image or GUID, or :meth:`_find` would have found
            # it) runs under that PID, vouched for in this stretch of the log: an access
            # does not say that it ended, as a start would; the record stays unplaced.
            # One last heard of in an earlier stretch is let go (``after_log``).
            return None
        holder = self.new(e.target_pid, f"tgt|{e.key or f'pk{e.event_pk}'}",
                          image=e.target_image, guid=e.target_guid)
        holder.flags.update((self._no_start(e), "placeholder"))
        holder.heard_us = e.ts_us
        if e.target_pid is not None:
            self._set_open(e.target_pid, holder)
        else:
            self.unbound[id(holder)] = holder
        if e.target_guid:
            self.by_guid[e.target_guid] = holder
        return holder

    def token(self, e: ProcEvent) -> bool:
        """Record a token change (600, 4703) on the running process; False (and counted)
        if none is known."""
        lt = self._running(e)
        if lt is None:
            reason = "token change of a process not in the logs"
            self.unplaced[reason] = self.unplaced.get(reason, 0) + 1
            return False
        lt.token_events.append(e.event_pk)
        lt.token_changes.append({"time_us": e.ts_us, "event_id": e.event_id,
                                 "user": e.target_user, "by": e.user, "detail": e.detail})
        if e.target_user and e.target_user != lt.user:
            lt.flags.add("token_changed")
        return True

    # -- ends ------------------------------------------------------------------------------

    def end(self, e: ProcEvent) -> None:
        lt = self.by_guid.get(e.guid) if e.guid else None
        if lt is not None and lt.end_us is not None:
            if e.source not in lt.end_sources:  # the other source's end of that process
                self._learn_pid(lt, e.pid)
                self._close(lt, e)
                return
            lt = None
        if lt is None and e.pid is not None:
            lt = self.open.get(e.pid)
        if lt is not None and lt.end_us is None:
            running = lt.pid is not None and self.open.get(lt.pid) is lt
            if e.image and not same_image(lt.image, e.image):
                # Another image under this PID: its start is lost, and so is the old end.
                if running:
                    del self.open[lt.pid]  # type: ignore[arg-type]
                    self._lost(lt)
                    self.retire(lt)
                lt = None
            else:
                # Found by its GUID after another start took its PID: close it all the same,
                # and leave the PID's current process alone.
                if running:
                    del self.open[lt.pid]  # type: ignore[arg-type]
                self._learn_pid(lt, e.pid)
                self._close(lt, e)
                return
        recent = self.closed.get(e.pid) if e.pid is not None else None
        if (recent is not None and e.source not in recent.end_sources
                and recent.end_us is not None and e.ts_us is not None
                and abs(e.ts_us - recent.end_us) <= MERGE_US
                and not (recent.guid and e.guid and recent.guid != e.guid)
                and same_image(recent.image, e.image)):
            self._close(recent, e)
            return
        orphan = self.new(e.pid, e.key or f"pk{e.event_pk}", image=e.image, guid=e.guid,
                          logon_id=e.logon_id)
        orphan.flags.add(self._no_start(e))
        if e.guid:
            self.by_guid[e.guid] = orphan
        self._close(orphan, e)
        self.link(orphan)

    def _close(self, lt: Lifetime, e: ProcEvent) -> None:
        lt.end_events.append(e.event_pk)
        lt.end_sources.add(e.source)
        self._guid(lt, e.guid)
        first = lt.end_us is None
        if first:
            lt.end_us = e.ts_us
            lt.flags.difference_update(("end_missing", "after_log"))  # it ended after all
            lt.flags.discard("ended_at_boot")
        lt.exit_status = lt.exit_status or e.exit_status
        lt.end_user = lt.end_user or e.user
        if not lt.image:
            lt.image = e.image
        if not lt.logon_id and e.logon_id:  # a placeholder's session, learnt from its end
            lt.logon_id = e.logon_id
            self.link(lt)
        if (lt.start_us is not None and lt.end_us is not None and lt.end_us < lt.start_us):
            lt.flags.add("clock_jump")  # ends before it starts: the clock went back
        if first:
            if lt.pid is not None:
                self.closed[lt.pid] = lt
            self.retire(lt)

    def finish(self) -> list[Lifetime]:
        """The end of the stream: whatever is still open ran on past the log's end."""
        for lt in [*self.open.values(), *self.unbound.values()]:
            self._lost(lt, log_ends=True)
            self.retire(lt)
        self.open.clear()
        self.unbound.clear()
        self.recent.clear()
        self.pidless.clear()
        out = self.drain(keep_us=-(1 << 62))
        self.by_guid.clear()
        self.closed.clear()
        return out


def named_image(image: str) -> bool:
    """Whether a Sysmon image field names a program: not empty, not ``<unknown process>``
    (which NXLog exports write escaped, ``&lt;unknown process&gt;``)."""
    text = image.strip()
    return bool(text) and not text.startswith(("<", "&lt;"))


def _rank(lt: Lifetime) -> None:
    """A final lifetime's ``user_changed`` renamed for the routine way Windows does it
    (:func:`~proctrail.store.correlate.signal.expected_user_change`), if it is one."""
    if "user_changed" in lt.flags:
        parent = lt.parent.image if lt.parent is not None and lt.parent.image \
            else lt.parent_image
        routine = expected_user_change(lt.image, parent, lt.user)
        if routine is not None:
            lt.flags.discard("user_changed")
            lt.flags.add(routine)


def build_lifetimes(events: Iterable[ProcEvent]) -> list[Lifetime]:
    """Every lifetime of the given events, host by host, in id order (all in memory).

    The result depends only on the events, not on their order of arrival: running it
    twice, or over files ingested in another order, gives the same lifetimes.
    """
    out: list[Lifetime] = []
    ordered = sorted(events, key=lambda e: (e.host_id, *order_key(e)))
    for host_id, host_events in groupby(ordered, key=lambda e: e.host_id):
        host = HostLifetimes(host_id)
        for e in host_events:
            host.feed(e)
            out.extend(host.drain())
        out.extend(host.finish())
    out.sort(key=lambda lt: (lt.host_id, lt.seq))
    return out
