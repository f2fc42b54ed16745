"""Correlation that keeps up with logs as they arrive (``proctrail ingest --follow``).

A full correlation (:func:`proctrail.store.correlate.correlate`) reads every event of the
case. A :class:`LiveCase` does that once and keeps each machine's state open (its
running processes, sessions and the last :data:`HOLD_US` of events, held
back as the stream reorders them); each :meth:`LiveCase.update` then feeds a machine only
the events stored since, so it costs time in proportion to the new events, not to the
case. What the state holds open is written as it stands (*provisional*) and replaced on
the next update; what became final is written once. Ids are the stable ids of a full
correlation, so a screen showing a process keeps showing it.

A machine's news that sorts before what its state already took (an older file of the
host, dropped in late), or in which its clock jumped, cannot be fed on: that machine is
correlated again whole, alone (a new machine too). A machine that gained a name (one
machine, two spellings) rebuilds the case.
"""

from __future__ import annotations

import gc
import heapq
import io
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, delete, func, select

from proctrail.store.correlate import (
    StoreWriter,
    anomalies,
    bump_generation,
    correlate,
    logged_anomalies,
    store_found,
)
from proctrail.store.correlate.clock import ClockFixes, clock_fixes
from proctrail.store.correlate.integrity import Found, record_gaps
from proctrail.store.correlate.lifetimes import Lifetime
from proctrail.store.correlate.pipeline import (
    Event,
    MachineRun,
    StreamKey,
    keyed_events,
    logged_clock_changes,
    machines,
    record_order,
    stream_kinds,
)
from proctrail.store.correlate.remote import link_explicit
from proctrail.store.correlate.rows import RowSink
from proctrail.store.models import Activity, Anomaly, EventRow, LogonSession, Process, ProcessSource

# What a machine's full correlation puts in the anomalies table, made again when it runs again.
MACHINE_ANOMALIES = ("unplaced_event", "record_gap", "log_cleared", "clock_changed",
                     "audit_stopped", "clock_jump")
# The newest events a machine holds back, unfed, in case later ones sort before them (a
# copy of the state takes them at each snapshot, so this is what every update re-feeds).
# Sysmon's header lags its UtcTime by seconds; news later than this behind the newest is
# rarer, and correct anyway: its machine is correlated whole (as a full run would order it).
HOLD_US = 10_000_000


class Rebuild(Exception):
    """The machines changed (a host is now another's alias): the case is correlated again."""


@dataclass
class Provisional:
    """What a machine's last snapshot wrote for what was still open: replaced next time."""

    processes: set[int] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    activity_events: set[int] = field(default_factory=set)
    anomaly_events: set[int] = field(default_factory=set)


class LiveMachine:
    """One machine's open correlation: its state, fed up to :attr:`fed`, and the newest
    events held back while later ones may still sort before them."""

    def __init__(self, members: tuple[int, ...]) -> None:
        self.members = members
        self.run = MachineRun(members[0])
        self.pending: list[tuple[StreamKey, int, Event]] = []
        self.fed: StreamKey = (-(1 << 62), -1, 0, 0)
        self.newest = -(1 << 62)  # the latest time (and rank) seen
        self.provisional = Provisional()
        self._seq = 0

    def push(self, key: StreamKey, e: Event, sink: RowSink) -> None:
        """Take one event (in stream order, or at least after :attr:`fed`); feed those no
        later event can come before."""
        self._seq += 1
        heapq.heappush(self.pending, (key, self._seq, e))
        self.newest = max(self.newest, key[0] >> 4)
        horizon = self.newest - HOLD_US
        while self.pending and self.pending[0][0][0] >> 4 < horizon:
            key, _seq, due = heapq.heappop(self.pending)
            self.fed = key
            self.run.feed(due, sink)

    def snapshot(self, final: RowSink, provisional: RowSink) -> None:
        """Write what is final to ``final``; what is open, as if the logs ended now, to
        ``provisional`` (a copy of the state takes the held-back events and ends)."""
        run = self.run
        run.drain(final)
        lifetimes = run.lifetimes
        holding = [*lifetimes.open.values(), *lifetimes.unbound.values(),
                   *(lt for _end, lt in lifetimes.done)]
        final.activity([lt for lt in holding if lt.acts])  # a lifetime's id never changes
        shadow = _copy_state(run)
        held = [e for _k, _s, e in sorted(self.pending)]  # events are never changed: shared
        for e in held:
            shadow.feed(e, provisional)
        shadow.finish(provisional)


@dataclass
class LiveUpdate:
    """What one update did."""

    events: int = 0  # stored events it took
    appended: list[int] = field(default_factory=list)  # machines fed on (canonical ids)
    again: list[int] = field(default_factory=list)  # machines correlated again whole
    rebuilt: bool = False  # the whole case was correlated again
    seconds: float = 0.0


class LiveCase:
    """A case's correlation kept open between updates; see the module's docstring."""

    def __init__(self, engine: Engine, tracked: Callable[[str], bool] | None = None,
                 progress: Callable[[int], None] | None = None,
                 image_loads: bool = False) -> None:
        self.engine = engine
        self.tracked = tracked
        self.image_loads = image_loads
        self.kinds = stream_kinds(image_loads)
        self.progress = progress
        self.machines: dict[int, LiveMachine] = {}
        self.fixes: ClockFixes | None = None
        self.through = 0

    # -- the whole case --------------------------------------------------------------------

    def rebuild(self) -> object:
        """Correlate the case whole, keeping every machine open; the correlation report."""
        self.machines = {}
        return correlate(self.engine, self.progress, self.tracked, workers=1, live=self,
                         image_loads=self.image_loads)

    def start(self, conn: Connection, writer: RowSink, groups: list[list[int]],
              fixes: ClockFixes | None, through: int) -> None:
        """Called by a full correlation in place of its streaming run: every machine fed
        and snapshotted; their provisional rows go to ``writer``."""
        self.fixes, self.through = fixes, through
        for members in groups:
            machine = LiveMachine(tuple(members))
            self.machines[members[0]] = machine
            self._feed(conn, machine, writer, through)
            if self.progress is not None:
                self.progress(machine.run.seen)
        for machine in self.machines.values():
            self._snapshot(conn, machine, writer)

    # -- what came since -------------------------------------------------------------------

    def update(self) -> LiveUpdate | None:
        """Take the events stored since the last update (or rebuild); None if none."""
        from proctrail.store.locks import case_lock

        started = time.perf_counter()
        with self.engine.connect() as conn:
            latest = conn.execute(select(func.coalesce(func.max(EventRow.id), 0))).scalar_one()
        if latest <= self.through:
            return None
        done = LiveUpdate()
        changed_hosts: set[int] = set()
        collecting = gc.isenabled()
        # The cyclic collector would walk the whole open state (and the copies) again and
        # again as the copy allocates: off for the update; reference counting frees the
        # rest, a later collection any cycles.
        gc.disable()
        try:
            with case_lock(self.engine, "correlate"), self.engine.begin() as conn:
                done.events = conn.execute(select(func.count()).where(
                    EventRow.id > self.through, EventRow.id <= latest)).scalar_one()
                groups = {g[0]: tuple(g) for g in machines(conn)}
                changed = self._changed(conn, groups)
                changed_hosts.update(changed)
                writer = StoreWriter(self.engine, conn, self.tracked)
                for host, members in changed.items():
                    machine = self.machines.get(host)
                    news: list[tuple[StreamKey, Event]] = []
                    found: list[Found] | None = None
                    if machine is not None:
                        self._retract(conn, machine)
                        news = list(keyed_events(conn, members, self.fixes,
                                                 machine.run.unplaced.append, self.through,
                                                 latest, self.kinds))
                        found = self._new_anomalies(conn, members, latest)
                    if machine is not None and found is not None \
                            and self._appendable(machine, news):
                        for key, e in news:
                            machine.push(key, e, writer)
                        store_found(conn, found, host)
                        done.appended.append(host)
                    else:  # new, or its news came early, or its clock jumped
                        machine = self._again(conn, members, writer, latest)
                        done.again.append(host)
                    self._snapshot(conn, machine, writer)
                writer.flush()
                link_explicit(conn)
                self.through = latest
                bump_generation(conn, latest)
        except Rebuild:
            self.rebuild()
            done.rebuilt = True
        except BaseException:
            # The transaction is undone, the machines' states are not: those it touched
            # are forgotten, and the next update correlates them whole, from the store.
            for host in done.appended + done.again + list(changed_hosts):
                self.machines.pop(host, None)
            raise
        finally:
            if collecting:
                gc.enable()
        done.seconds = time.perf_counter() - started
        return done

    def _changed(self, conn: Connection, groups: dict[int, tuple[int, ...]]
                 ) -> dict[int, tuple[int, ...]]:
        """The machines with news; :class:`Rebuild` if a machine gained or lost a name."""
        for host, machine in self.machines.items():
            if groups.get(host) != machine.members:
                raise Rebuild
        # (host_id + 0: the id range is walked, not the whole host index)
        hosts = set(conn.execute(select(EventRow.host_id + 0).where(EventRow.id > self.through)
                                 .distinct()).scalars())
        return {h: m for h, m in groups.items() if hosts.intersection(m)}

    def _appendable(self, machine: LiveMachine, news: list[tuple[StreamKey, Event]]) -> bool:
        """Whether every new event sorts after what the machine's state took, on a clock
        the stored fixes do not touch."""
        if self.fixes is not None and any(m in self.fixes.hosts for m in machine.members):
            return False
        return all(key > machine.fed for key, _e in news)

    def _feed(self, conn: Connection, machine: LiveMachine, writer: RowSink,
              upto: int) -> None:
        """All of a machine's events up to row ``upto``, fed (all but the held back)."""
        for key, e in keyed_events(conn, machine.members, self.fixes,
                                   machine.run.unplaced.append, upto=upto, kinds=self.kinds):
            machine.push(key, e, writer)

    def _again(self, conn: Connection, members: tuple[int, ...], writer: RowSink,
               latest: int) -> LiveMachine:
        """Correlate one machine again from all its events (its rows replaced)."""
        host = members[0]
        conn.execute(delete(ProcessSource).where(ProcessSource.process_id.in_(
            select(Process.id).where(Process.host_id == host))))
        conn.execute(delete(Process).where(Process.host_id == host))
        conn.execute(delete(Activity).where(Activity.host_id == host))
        conn.execute(delete(LogonSession).where(LogonSession.host_id == host))
        conn.execute(delete(Anomaly).where(Anomaly.host_id.in_(members),
                                           Anomaly.kind.in_(MACHINE_ANOMALIES)))
        found = anomalies(self.engine, members, conn) + self._clock_again(conn, members)
        machine = self.machines[host] = LiveMachine(members)
        self._feed(conn, machine, writer, latest)
        store_found(conn, found, host)
        return machine

    def _clock_again(self, conn: Connection, members: tuple[int, ...]) -> list[Found]:
        """The machine's clock jumps found again from all its records (the rest of the
        case's fixes, and the collectors' offsets, kept)."""
        query = record_order(EventRow.host_id.in_(members))
        fixes, found = clock_fixes((tuple(r) for r in conn.execute(query)),  # type: ignore[misc]
                                   logged_clock_changes(conn))
        kept = self.fixes if self.fixes is not None else ClockFixes()
        kept.segments = {k: v for k, v in kept.segments.items() if k[0] not in members}
        kept.segments.update(fixes.segments)
        self.fixes = kept
        return found

    def _retract(self, conn: Connection, machine: LiveMachine) -> None:
        """Delete what the machine's last snapshot wrote as provisional."""
        was, machine.provisional = machine.provisional, Provisional()
        for model, column, ids in (
                (ProcessSource, ProcessSource.process_id, was.processes),
                (Process, Process.id, was.processes),
                (LogonSession, LogonSession.id, was.sessions),
                (Activity, Activity.event_pk, was.activity_events)):
            for part in _parts(ids):
                conn.execute(delete(model).where(column.in_(part)))
        for part in _parts(was.anomaly_events):
            conn.execute(delete(Anomaly).where(Anomaly.kind == "unplaced_event",
                                               Anomaly.event_pk.in_(part)))
        conn.execute(delete(Anomaly).where(Anomaly.kind == "unplaced_event",
                                           Anomaly.host_id == machine.members[0],
                                           Anomaly.event_pk.is_(None)))

    def _snapshot(self, conn: Connection, machine: LiveMachine, writer: RowSink) -> None:
        """Final rows to ``writer``; the open ones written and remembered as provisional."""
        shadow = RowSink(self.tracked)
        machine.snapshot(writer, shadow)
        rows = shadow.rows
        machine.provisional = Provisional(
            {r[0] for r in rows.processes}, {r[0] for r in rows.sessions},  # type: ignore[misc]
            {r[2] for r in rows.activity},  # type: ignore[misc]
            {u.event_pk for u in rows.unplaced if u.event_pk is not None})
        writer.take(rows)  # type: ignore[attr-defined]

    def _new_anomalies(self, conn: Connection, members: tuple[int, ...], latest: int
                       ) -> list[Found] | None:
        """Record gaps and logged anomalies among the new rows (each new row checked
        against the stored one before it); None if the clock jumped among them."""
        new = (select(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                      EventRow.record_id, EventRow.ts_us, EventRow.id)
               .where(EventRow.id > self.through, EventRow.id <= latest,
                      (EventRow.host_id + 0).in_(members)))
        rows = [tuple(r) for r in conn.execute(new)]
        before = []
        for host, channel, source in {(r[0], r[1], r[2]) for r in rows}:
            last = conn.execute(
                select(EventRow.host_id, EventRow.channel_id, EventRow.source_id,
                       EventRow.record_id, EventRow.ts_us, EventRow.id)
                .where(EventRow.host_id == host, EventRow.channel_id == channel,
                       EventRow.source_id == source, EventRow.id <= self.through,
                       EventRow.record_id > 0)
                .order_by(EventRow.record_id.desc()).limit(1)).first()
            if last is not None:
                before.append(tuple(last))
        ordered = sorted([*before, *(r for r in rows if r[3] > 0)],
                         key=lambda r: (r[0], r[1], r[2], r[3]))
        _fixes, jumps = clock_fixes(r[:5] for r in ordered  # type: ignore[misc]
                                    if r[4] is not None)
        if jumps:
            return None
        found = record_gaps(sorted(ordered, key=lambda r: (r[0], r[1], r[3])))  # type: ignore[arg-type]
        found += logged_anomalies(conn, EventRow.id > self.through, EventRow.id <= latest,
                                  (EventRow.host_id + 0).in_(members),
                                  kind=EventRow.kind + "")  # (the id range walked)
        return found


def _copy_state(run: MachineRun) -> MachineRun:
    """A deep copy of a machine's state, sharing the lifetimes
    that are final (out of the state: a parent, a parent's parent...), which nothing can
    change: the copy stays as small as what is open, however long the parent chains.
    Through pickle: five times faster than :func:`copy.deepcopy`."""
    lifetimes = run.lifetimes
    live = {id(lt) for lt in (*lifetimes.open.values(), *lifetimes.unbound.values(),
                              *lifetimes.by_guid.values(), *lifetimes.closed.values(),
                              *lifetimes.recent, *lifetimes.pidless,
                              *(lt for _end, lt in lifetimes.done))}
    final: dict[int, Lifetime] = {}

    class Out(pickle.Pickler):
        def persistent_id(self, obj: object) -> int | None:
            if type(obj) is Lifetime and id(obj) not in live:
                final[id(obj)] = obj  # type: ignore[assignment]
                return id(obj)
            return None

    class In(pickle.Unpickler):
        def persistent_load(self, pid: object) -> Lifetime:
            return final[pid]  # type: ignore[index]

    buffer = io.BytesIO()
    depth = sys.getrecursionlimit()
    sys.setrecursionlimit(max(depth, 20_000))  # a chain of running parents, copied
    try:
        Out(buffer, pickle.HIGHEST_PROTOCOL).dump(run)
        buffer.seek(0)
        return In(buffer).load()  # type: ignore[no-any-return]
    finally:
        sys.setrecursionlimit(depth)


def _parts(ids: set[int], size: int = 500) -> list[list[int]]:
    items = sorted(ids)
    return [items[i:i + size] for i in range(0, len(items), size)]


__all__ = ["LiveCase", "LiveUpdate"]
