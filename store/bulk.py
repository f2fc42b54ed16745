"""Bulk inserts straight to the driver: compiled once, rows as tuples, parameters bound.

The per-row parameter handling of SQLAlchemy's ``execute(insert(...), [dicts])`` was most
of the time of ingest and a third of correlation; ``executemany`` on the compiled SQL skips
it and still binds every value (nothing is formatted into SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Insert, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from proctrail.store.db import StoreError


def dialect_insert(engine: Engine, model: type[Any]) -> Insert:
    """The dialect's INSERT for ``model`` (it has ON CONFLICT DO NOTHING)."""
    name = engine.dialect.name
    if name == "sqlite":
        return sqlite.insert(model)
    if name == "postgresql":
        return postgresql.insert(model)
    raise StoreError(f"unsupported database {name!r}: use SQLite or PostgreSQL")


class BulkInsert:
    """``INSERT INTO model (columns...)``, optionally ignoring rows that already exist."""

    def __init__(self, engine: Engine, model: type[Any], columns: Sequence[str],
                 ignore_existing: bool = False) -> None:
        self.columns = tuple(columns)
        stmt = dialect_insert(engine, model)
        if ignore_existing:
            stmt = stmt.on_conflict_do_nothing()
        compiled = stmt.values({c: bindparam(c) for c in self.columns}).compile(
            dialect=engine.dialect)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        if self.positional and tuple(compiled.positiontup or ()) != self.columns:
            raise StoreError(f"bulk insert into {model.__name__}: unexpected parameter order")

    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows`` (tuples in column order); the number the database stored."""
        if not rows:
            return 0
        params: list[Any] = rows if self.positional else [
            dict(zip(self.columns, r, strict=True)) for r in rows]
        return conn.exec_driver_sql(self.sql, params).rowcount
