"""Bulk inserts straight to the driver: compiled once, rows as tuples, parameters bound.

On SQLite, ``executemany`` of the compiled INSERT: SQLAlchemy's per-row parameter handling
was most of the time of ingest and a third of correlation. On PostgreSQL, ``COPY``: rows
are streamed in PostgreSQL's copy format (values are data, never SQL); rows that may
already exist are copied into a temporary table first and moved with one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Insert, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from proctrail.store.db import StoreError
from proctrail.store.models import LogText, pg_text


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
        self.ignore_existing = ignore_existing
        self.copy = engine.dialect.name == "postgresql"
        table = model.__table__
        if self.copy:
            preparer = engine.dialect.identifier_preparer
            self.table = preparer.format_table(table)
            self.names = ", ".join(preparer.quote(c) for c in self.columns)
            self.stage = preparer.quote(f"_stage_{table.name}")
            # LogText columns keep NUL as PostgreSQL can (models.pg_text).
            self.texts = tuple(i for i, c in enumerate(self.columns)
                               if isinstance(table.c[c].type, LogText))
            return
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
        if self.copy:
            return self._copy(conn, rows)
        params: list[Any] = rows if self.positional else [
            dict(zip(self.columns, r, strict=True)) for r in rows]
        return conn.exec_driver_sql(self.sql, params).rowcount

    def _copy(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        if self.texts:
            rows = [self._escaped(r) for r in rows]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if not self.ignore_existing:
                with cursor.copy(f"COPY {self.table} ({self.names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return len(rows)
            # The stage keeps the rows' order (seq), so ids follow the input as on SQLite.
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.stage} ON COMMIT DROP AS "
                           f"SELECT 0::bigint AS seq, {self.names} FROM {self.table} "
                           "WITH NO DATA")
            with cursor.copy(f"COPY {self.stage} (seq, {self.names}) FROM STDIN") as copy:
                for seq, row in enumerate(rows):
                    copy.write_row((seq, *row))
            cursor.execute(f"INSERT INTO {self.table} ({self.names}) SELECT {self.names} "
                           f"FROM {self.stage} ORDER BY seq ON CONFLICT DO NOTHING")
            stored = cursor.rowcount
            cursor.execute(f"TRUNCATE {self.stage}")
            return stored
        finally:
            cursor.close()

    def _escaped(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(row)
        for i in self.texts:
            if isinstance(out[i], str):
                out[i] = pg_text(out[i])
        return tuple(out)
