"""A fresh PostgreSQL case loads with its events' foreign keys checked once, at the end
(store/pg_load.py): the keys are back after the load, after a load that died, and a
second load meanwhile leaves them to the first."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, text

from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import CaseMeta
from proctrail.store.pg_load import KEYS, MARKER, _drop, events_load, restore_event_keys

ROOT = Path(__file__).resolve().parents[1]


def _keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [name for name, _definition in conn.execute(KEYS)]


def _marker(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(CaseMeta.value).where(CaseMeta.key == MARKER)).scalar()


def test_a_fresh_load_ends_with_its_keys(pg_url: str) -> None:
    engine = open_engine(pg_url)
    keys = _keys(engine)
    assert len(keys) == 3  # events -> sources, hosts, channels
    report = Ingestor(engine).run([str(ROOT / "sample_logs")])
    assert report.total("stored") == 696
    assert _keys(engine) == keys and _marker(engine) is None


def test_keys_dropped_by_a_load_that_died_come_back_at_the_next(pg_url: str) -> None:
    engine = open_engine(pg_url)
    keys = _keys(engine)
    with engine.begin() as conn:  # a load dropped them, then was killed
        assert _drop(conn)
    assert _keys(engine) == [] and _marker(engine) is not None
    with events_load(engine) as dropped:  # a second load: the marker says not its own
        assert dropped is False
    Ingestor(engine).run([str(ROOT / "sample_logs" / "lnx01-audit.log")])
    assert _keys(engine) == keys and _marker(engine) is None
    assert restore_event_keys(engine) is False  # nothing left to do


def test_a_case_with_events_keeps_its_keys_while_loading(pg_url: str) -> None:
    engine = open_engine(pg_url)
    Ingestor(engine).run([str(ROOT / "sample_logs" / "lnx01-audit.log")])
    with events_load(engine) as dropped:
        assert dropped is False and len(_keys(engine)) == 3
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 185
