"""Case-wide locks, so that two analysts' runs of a whole-case job take turns.

Correlation and detection each rebuild whole tables from everything stored. Two at once
would interleave their deletes and inserts; taken in turn, the last to start sees every
event stored before it, so two ingests into one case end as one ingest of both. On
PostgreSQL the lock is a session advisory lock (released by the server if the process
dies); on a SQLite file, an ``flock`` on a file beside it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

LOCK_NAMES = ("correlate", "detect")


def _key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"proctrail:{name}".encode()).digest()[:8], "big",
                          signed=True)


@contextmanager
def case_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold the case's lock ``name`` (waiting for it) for the duration of the block."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key(name)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    try:
        fd = os.open(f"{database}.{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # a read-only folder: nobody else writes this case either
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
