"""A fresh PostgreSQL case loads without checking its events' foreign keys row by row, and
builds the events' secondary indexes once, after the load.

Two thirds of PostgreSQL's work per stored event was the triggers of the events table's
three foreign keys (to sources, hosts, channels: bench/README.md), and much of the rest
keeping three secondary indexes sorted row by row. When an ingest finds the case's events
table empty, :func:`events_load` drops those keys and indexes for the load (not the
natural key's unique index: that is the dedup), keeping their definitions in
``case_meta``, and adds them back at its end: the keys check every row in one pass, the
indexes are built in one sort: the same guarantees, once. Nothing reads events by those
indexes while loading. A load that dies before its end leaves the definitions behind:
:func:`restore_events_table` (run by every ingest first) puts them back. A second ingest
that starts meanwhile cannot tell a running load from one that died: it puts them back at
its start, and the first load's remaining batches are checked and indexed as usual
(slower, never wrong). The workers of a cluster load leave them to the command, which
drops and restores them around the whole load. SQLite is untouched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from sqlalchemy import Connection, Engine, delete, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from proctrail.store.failures import transient
from proctrail.store.models import CaseMeta, EventRow

RESTORE_ATTEMPTS = 5
# case_meta: what a load dropped, name -> definition (a key's, or an index's CREATE)
MARKER = "events_foreign_keys"
LOCK = "SELECT pg_advisory_xact_lock(hashtext('proctrail-events-foreign-keys'))"
KEYS = text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'events'::regclass AND contype = 'f' ORDER BY conname")
# The secondary indexes: not those behind a constraint (the primary and natural keys).
INDEXES = text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
               "current_schema() AND tablename = 'events' AND indexname NOT IN "
               "(SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass) "
               "ORDER BY indexname")


@contextmanager
def events_load(engine: Engine) -> Iterator[bool]:
    """Around an ingest: on a fresh PostgreSQL case, the events' foreign keys and secondary
    indexes dropped for the load and added back after it; yields whether they were."""
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
                for attempt in range(1, RESTORE_ATTEMPTS + 1):
                    try:
                        restore_events_table(engine)
                        break
                    except SQLAlchemyError as exc:  # a deadlock with another ingest's batch
                        if not transient(exc) or attempt == RESTORE_ATTEMPTS:
                            raise
                        time.sleep(0.1 * attempt)


def _drop(conn: Connection) -> bool:
    if conn.execute(select(EventRow.id).limit(1)).first() is not None:
        return False
    if conn.execute(select(CaseMeta.value).where(CaseMeta.key == MARKER)).first():
        return False  # another load has them
    keys = {name: definition for name, definition in conn.execute(KEYS)}
    indexes = {name: definition for name, definition in conn.execute(INDEXES)}
    if not keys and not indexes:
        return False
    conn.execute(insert(CaseMeta).values(key=MARKER,
                                         value=orjson.dumps(keys | indexes).decode()))
    for name in keys:
        conn.execute(text(f'ALTER TABLE events DROP CONSTRAINT "{_name(name)}"'))
    for name in indexes:
        conn.execute(text(f'DROP INDEX "{_name(name)}"'))
    return True


def restore_events_table(engine: Engine) -> bool:
    """Put back the keys and indexes a load dropped, if any are missing (after the load,
    or after one that died); True if there was something to do."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.begin() as conn:
        conn.execute(text(LOCK))
        stored = conn.execute(select(CaseMeta.value).where(CaseMeta.key == MARKER)).scalar()
        if stored is None:
            return False
        present = {name for name, _definition in conn.execute(KEYS)}
        present |= {name for name, _definition in conn.execute(INDEXES)}
        for name, definition in orjson.loads(stored).items():
            if name in present:
                continue
            if definition.startswith("CREATE INDEX "):
                conn.execute(text(_definition(definition)))
            else:
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
    """A foreign key's definition as ``pg_get_constraintdef`` wrote it, or an index's as
    ``pg_indexes`` did."""
    if not definition.startswith(("FOREIGN KEY (", "CREATE INDEX ")) or ";" in definition:
        raise ValueError(f"unexpected constraint definition {definition!r}")
    return definition
