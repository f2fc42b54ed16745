"""Correlation kept open between updates (store/correlate/live.py): events arriving in
pieces give exactly the tables a full correlation of the same events gives, ids included."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, insert, select

from proctrail.store.correlate import correlate
from proctrail.store.correlate.live import LiveCase
from proctrail.store.correlate.pipeline import DRAIN_EVERY
from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import Activity, Anomaly, EventRow, LogonSession, Process

ROOT = Path(__file__).resolve().parents[1]


def tables(engine: Engine) -> dict[str, list[tuple]]:
    """Everything correlation writes, in a comparable order (anomaly ids aside)."""
    with engine.connect() as conn:
        return {
            "processes": sorted(tuple(r) for r in conn.execute(select(Process))),
            "sessions": sorted(tuple(r) for r in conn.execute(select(LogonSession))),
            "activity": sorted(tuple(r)[1:] for r in conn.execute(select(Activity))),
            "anomalies": sorted((r.host_id, r.channel_id or 0, r.kind, r.start_us or 0,
                                 r.event_pk or 0, r.detail)
                                for r in conn.execute(select(Anomaly))),
        }


def held_back(engine: Engine, after_us: int) -> list[dict]:
    """Take the events after ``after_us`` out of the store, in time order."""
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(EventRow).where(EventRow.ts_us > after_us)
            .order_by(EventRow.ts_us, EventRow.id))]
        conn.execute(delete(EventRow).where(EventRow.ts_us > after_us))
    for r in rows:
        del r["id"]
    return rows


def arrive(engine: Engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(EventRow), rows)


@pytest.fixture
def demo_events(db_url: str) -> Engine:
    """The demo's events, stored and not correlated, on SQLite and on PostgreSQL."""
    engine = open_engine(db_url)
    Ingestor(engine).run([str(ROOT / "sample_logs")])
    return engine


def _times(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(EventRow.ts_us).where(EventRow.ts_us.is_not(None))
                                 .order_by(EventRow.ts_us)).scalars())


def test_events_arriving_in_time_order_give_the_full_correlation(demo_events: Engine) -> None:
    times = _times(demo_events)
    rest = held_back(demo_events, times[len(times) // 3])
    live = LiveCase(demo_events)
    live.rebuild()
    steps = []
    for part in range(4):
        arrive(demo_events, rest[part * len(rest) // 4:(part + 1) * len(rest) // 4])
        steps.append(live.update())
    assert all(s is not None and s.events for s in steps)
    # Each machine fed on, none redone, but the one whose clock jumped (the demo's OLD2003):
    # its events are put in order whole, every time.
    jumped = live.fixes.hosts if live.fixes is not None else set()
    assert jumped and all(set(s.again) <= jumped and not s.rebuilt for s in steps)
    assert {h for s in steps for h in s.appended}  # some machine took news each time
    assert live.update() is None  # nothing new: nothing done
    got = tables(demo_events)
    correlate(demo_events)
    want = tables(demo_events)
    assert len(got["processes"]) == len(want["processes"]) > 150
    for name in want:
        assert got[name] == want[name], name


def test_an_older_piece_arriving_late_redoes_only_its_machine(demo_events: Engine) -> None:
    times = _times(demo_events)
    with demo_events.begin() as conn:  # one host's early hour goes missing, then arrives
        host = conn.execute(select(EventRow.host_id).group_by(EventRow.host_id)
                            .order_by(func.count().desc())).scalars().first()
        early = [dict(r._mapping) for r in conn.execute(
            select(EventRow).where(EventRow.host_id == host,
                                   EventRow.ts_us < times[len(times) // 2])
            .order_by(EventRow.id))]
        conn.execute(delete(EventRow).where(EventRow.id.in_([r["id"] for r in early])))
    for r in early:
        del r["id"]
    live = LiveCase(demo_events)
    live.rebuild()
    arrive(demo_events, early)
    step = live.update()
    assert step is not None and step.again == [host] and not step.appended
    got = tables(demo_events)
    correlate(demo_events)
    assert got == tables(demo_events)


def test_unplaced_records_after_the_first_drain_are_all_kept(xml_log, tmp_path: Path) -> None:
    """Every record no process is found for is an anomaly, however long the stream: the
    list handed to the sink at a drain is not the one that goes on filling."""
    n = DRAIN_EVERY + 300  # each with an exit of an unknown process, which is fed
    events = []
    for i in range(n):
        at = f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.5Z"
        events.append(xml_log.event(4648, 2 * i + 1, at, {"SubjectUserName": "alice",
                                                          "TargetServerName": "srv"}))
        events.append(xml_log.event(4689, 2 * i + 2, at, {"ProcessId": "0x1234",
                                                          "ProcessName": "C:\\x.exe"}))
    path = xml_log("H-Security.xml", events)
    engine = open_engine(f"sqlite:///{tmp_path / 'unplaced.db'}")
    Ingestor(engine).run([str(path)])
    report = correlate(engine)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Anomaly)
                              .where(Anomaly.kind == "unplaced_event")).scalar_one()
    assert report.unplaced.get("4648 without ProcessId") == n
    assert report.unplaced_total() == stored


def test_an_update_that_fails_half_way_leaves_nothing_wrong(demo_events: Engine,
                                                            monkeypatch) -> None:
    """The update's transaction is undone; the machines it had fed are forgotten and the
    next update correlates them whole: the same tables as a full correlation."""
    from proctrail.store.correlate import live as live_module

    times = _times(demo_events)
    rest = held_back(demo_events, times[len(times) // 2])
    live = LiveCase(demo_events)
    live.rebuild()
    arrive(demo_events, rest)
    real = live_module.link_explicit

    def broken(conn):  # type: ignore[no-untyped-def]
        raise OSError("the database went away")

    monkeypatch.setattr(live_module, "link_explicit", broken)
    with pytest.raises(OSError):
        live.update()
    monkeypatch.setattr(live_module, "link_explicit", real)
    step = live.update()
    assert step is not None and step.again and not step.appended
    got = tables(demo_events)
    correlate(demo_events)
    assert got == tables(demo_events)
