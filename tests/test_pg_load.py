"""A fresh PostgreSQL case loads with its events' foreign keys checked and secondary
indexes built once, at the end (store/pg_load.py): they are back after the load, after a
load that died, and a second load meanwhile leaves them to the first."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select, text

from proctrail.store.db import open_engine
from proctrail.store.ingest import Ingestor
from proctrail.store.models import CaseMeta
from proctrail.store.pg_load import (
    INDEXES,
    KEYS,
    MARKER,
    _drop,
    events_load,
    restore_events_table,
)

ROOT = Path(__file__).resolve().parents[1]


def _keys(engine: Engine) -> list[str]:
    """The events' foreign keys and secondary indexes, by name."""
    with engine.connect() as conn:
        return [name for query in (KEYS, INDEXES) for name, _definition in conn.execute(query)]


def _marker(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(CaseMeta.value).where(CaseMeta.key == MARKER)).scalar()


def test_a_fresh_load_ends_with_its_keys(pg_url: str) -> None:
    engine = open_engine(pg_url)
    keys = _keys(engine)
    assert len(keys) == 6  # events -> sources, hosts, channels; three secondary indexes
    assert "ix_events_host_ts" in keys and "uq_events_natural" not in keys  # the dedup stays
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
    assert restore_events_table(engine) is False  # nothing left to do


def test_a_case_with_events_keeps_its_keys_while_loading(pg_url: str) -> None:
    engine = open_engine(pg_url)
    Ingestor(engine).run([str(ROOT / "sample_logs" / "lnx01-audit.log")])
    with events_load(engine) as dropped:
        assert dropped is False and len(_keys(engine)) == 6
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 185
