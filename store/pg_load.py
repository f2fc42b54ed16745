"""A fresh PostgreSQL case loads without checking its events' foreign keys row by row.

Two thirds of PostgreSQL's work per stored event is the triggers of the events table's
three foreign keys (to sources, hosts, channels: bench/README.md). When an ingest finds
the case's events table empty, :func:`events_load` drops those keys for the load, keeping
their definitions in ``case_meta``, and adds them back at its end, which checks every row
in one pass (0.1 s for 200k events): the same guarantee, once. A load that dies before
its end leaves the definitions behind: :func:`restore_event_keys` (run by every ingest
first) puts them back. A second ingest that starts meanwhile cannot tell a running load
from one that died: it puts the keys back at its start, and the first load's remaining
batches are checked as usual (slower, never wrong). The workers of a cluster load leave
the keys to the command, which drops and restores them around the whole load. SQLite is
untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from sqlalchemy import Connection, Engine, delete, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from proctrail.store.models import CaseMeta, EventRow

MARKER = "events_foreign_keys"  # case_meta: the keys a load dropped, name -> definition
LOCK = "SELECT pg_advisory_xact_lock(hashtext('proctrail-events-foreign-keys'))"
KEYS = text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'events'::regclass AND contype = 'f' ORDER BY conname")


@contextmanager
def events_load(engine: Engine) -> Iterator[bool]:
    """Around an ingest: on a fresh PostgreSQL case, the events' foreign keys dropped for
    the load and added back after it; yields whether they were."""
    dropped = False
    if engine.dialect.name == "postgresql":
        try:
            with engine.begin() as conn:
                conn.execute(text(LOCK))
                dropped = _drop(conn)
        except SQLAlchemyError:  # the database is away: the ingest's spool takes over
            dropped = False
    try:
        yield dropped
    finally:
        if dropped:  # (the database away now: the marker stays, the next ingest restores)
            with contextlib.suppress(SQLAlchemyError):
                restore_event_keys(engine)


def _drop(conn: Connection) -> bool:
    if conn.execute(select(EventRow.id).limit(1)).first() is not None:
        return False
    if conn.execute(select(CaseMeta.value).where(CaseMeta.key == MARKER)).first():
        return False  # another load has them
    keys = {name: definition for name, definition in conn.execute(KEYS)}
    if not keys:
        return False
    conn.execute(insert(CaseMeta).values(key=MARKER, value=orjson.dumps(keys).decode()))
    for name in keys:
        conn.execute(text(f'ALTER TABLE events DROP CONSTRAINT "{_name(name)}"'))
    return True


def restore_event_keys(engine: Engine) -> bool:
    """Put back the keys a load dropped, if any are missing (after the load, or after one
    that died); True if there was something to do."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.begin() as conn:
        conn.execute(text(LOCK))
        stored = conn.execute(select(CaseMeta.value).where(CaseMeta.key == MARKER)).scalar()
        if stored is None:
            return False
        present = {name for name, _definition in conn.execute(KEYS)}
        for name, definition in orjson.loads(stored).items():
            if name not in present:
                conn.execute(text(f'ALTER TABLE events ADD CONSTRAINT "{_name(name)}" '
                                  f"{_definition(definition)}"))
        conn.execute(delete(CaseMeta).where(CaseMeta.key == MARKER))
    return True


def _name(name: str) -> str:
    """A constraint name as PostgreSQL gave it (ours: letters, digits, underscores)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected constraint name {name!r}")
    return name


def _definition(definition: str) -> str:
    """A foreign key's definition as ``pg_get_constraintdef`` wrote it."""
    if not definition.startswith("FOREIGN KEY (") or ";" in definition:
        raise ValueError(f"unexpected constraint definition {definition!r}")
    return definition
