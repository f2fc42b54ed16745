"""Bulk inserts straight to the driver: compiled once, rows as tuples, parameters bound.

On SQLite, ``executemany`` of the compiled INSERT: SQLAlchemy's per-row parameter handling
was most of the time of ingest and a third of correlation. On PostgreSQL, ``COPY``: rows
are streamed in PostgreSQL's copy format (values are data, never SQL).

Rows that may already exist (ingest's insert-or-ignore) are first ``COPY``'d in binary
straight into the table inside a savepoint: a batch of new rows, what a first ingest
writes, is one statement and the server's least work. When a row of it already exists
(or comes twice), the savepoint is rolled back and the batch goes the careful way: copied
into a temporary table and moved with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``,
whose row count is what was stored; later batches go that way too until one of them is
all new again, so a re-ingest does not copy each batch twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Insert, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from proctrail.store.db import StoreError
from proctrail.store.models import LogText, pg_text

# SQLSTATE of a unique violation: a row of the batch is already stored (or comes twice).
_UNIQUE_VIOLATION = "23505"
# Column types PostgreSQL's binary copy format takes from psycopg's dumpers as they are.
_BINARY_TYPES = frozenset({"smallint", "integer", "bigint", "text", "varchar", "boolean"})


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
            # Binary copy for insert-or-ignore (ingest's events): no text to escape or
            # parse. Its types must be the columns' exactly, so only plain ones.
            types = tuple(re.sub(r"\(.*\)", "", table.c[c].type.compile(
                dialect=engine.dialect)).strip().lower() for c in self.columns)
            self.types: tuple[str, ...] | None = (
                types if ignore_existing and set(types) <= _BINARY_TYPES else None)
            self.direct = True  # try the batch straight into the table first
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
                self._copy_rows(cursor, self.table, self.names, rows, None)
                return len(rows)
            if self.direct:
                try:
                    with conn.begin_nested():
                        self._copy_rows(cursor, self.table, self.names, rows, self.types)
                    return len(rows)
                except Exception as exc:  # the savepoint is rolled back
                    if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                        raise
                    self.direct = False
            stored = self._staged(cursor, rows)
            # All new again (a grown log's tail, the next file): straight in next time.
            self.direct = stored == len(rows)
            return stored
        finally:
            cursor.close()

    def _staged(self, cursor: Any, rows: list[tuple[Any, ...]]) -> int:
        """``rows`` through the temporary table, existing ones ignored: the number stored.
        The stage keeps the rows' order (seq), so ids follow the input as on SQLite; it
        lives as long as the connection."""
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.stage} AS "
                       f"SELECT 0::bigint AS seq, {self.names} FROM {self.table} "
                       "WITH NO DATA")
        types = ("bigint", *self.types) if self.types is not None else None
        self._copy_rows(cursor, self.stage, f"seq, {self.names}",
                        [(seq, *row) for seq, row in enumerate(rows)], types)
        cursor.execute(f"INSERT INTO {self.table} ({self.names}) SELECT {self.names} "
                       f"FROM {self.stage} ORDER BY seq ON CONFLICT DO NOTHING")
        stored: int = cursor.rowcount
        cursor.execute(f"TRUNCATE {self.stage}")  # empty for the next batch
        return stored

    @staticmethod
    def _copy_rows(cursor: Any, table: str, names: str, rows: list[tuple[Any, ...]],
                   types: tuple[str, ...] | None) -> None:
        """``COPY table (names) FROM STDIN``: binary in ``types``, else text."""
        binary = " (FORMAT BINARY)" if types is not None else ""
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN{binary}") as copy:
            if types is not None:
                copy.set_types(types)
            write = copy.write_row
            for row in rows:
                write(row)

    def _escaped(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        out: list[Any] | None = None
        for i in self.texts:
            value = row[i]
            if isinstance(value, str) and (escaped := pg_text(value)) is not value:
                if out is None:
                    out = list(row)
                out[i] = escaped
        return row if out is None else tuple(out)
