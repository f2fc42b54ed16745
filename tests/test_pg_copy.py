"""PostgreSQL's COPY path of event ingest (store/bulk.py) against SQLite's INSERT OR IGNORE:
hostile text stored alike, and stored/duplicate counts exact whichever way a batch goes
(straight COPY, or through the stage when a row already exists or comes twice)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from proctrail.store.bulk import BulkInsert
from proctrail.store.db import open_engine
from proctrail.store.ingest import ROW_COLUMNS, Ingestor
from proctrail.store.models import PG_ESC, Channel, EventRow, Host

# What a log may hold and COPY's formats treat specially: NUL (PostgreSQL's text cannot
# hold it), tab and newline (text COPY's separators), backslashes and COPY's own NULL and
# end-of-data markers, quotes, an astral character, PostgreSQL's NUL escape as data.
HOSTILE = ["nul\x00in\x00side", "tab\there", "new\nline\r\nand CR\r", "back\\slash\\",
           "\\N", "\\.", "\\.\n\\.", "quotes ' \" `", "emoji 🦀 \U0001f600", "",
           PG_ESC + "0" + PG_ESC + PG_ESC, "\x01\x1b[2J\x7f"]
BIG = "A\x00\t\\" + "x" * (100 << 10) + "\nEND"


def xml_text(value: str) -> str:
    """``value`` as XML text (element or attribute): markup escaped, control characters
    and quotes as character references, which the XML reader gives back exactly."""
    return re.sub("[&<>\"\x00-\x1f]", lambda m: {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(
        m.group(), f"&#x{ord(m.group()):x};"), value)


def hostile_log(xml_log) -> Path:
    events = []
    for i, value in enumerate([*HOSTILE, BIG], 1):
        data = {"CommandLine": xml_text(value), "Other": xml_text(value[::-1]),
                # An unpaired surrogate: no character, dropped by the readers on both stores.
                "Lone": "a&#xD800;b"}
        events.append(xml_log.event(4688, i, f"2024-05-01T10:00:{i:02d}Z", data,
                                    provider=xml_text("Prov " + value[:50])))
    return xml_log("hostile.xml", events)


def stored_events(url: str) -> list[tuple]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(EventRow.id, Host.name, Channel.name, EventRow.provider,
                       EventRow.event_id, EventRow.record_id, EventRow.ts_us,
                       EventRow.ts_key, EventRow.kind, EventRow.data)
                .join(Host, Host.id == EventRow.host_id)
                .join(Channel, Channel.id == EventRow.channel_id)
                .order_by(EventRow.id))]
    finally:
        engine.dispose()


def ingest(url: str, path: Path, **kw) -> tuple[int, int]:
    engine = open_engine(url)
    try:
        report = Ingestor(engine, **kw).run([str(path)])
        assert not report.failed
        return report.total("stored"), report.total("duplicates")
    finally:
        engine.dispose()


def test_hostile_text_is_stored_alike_and_never_twice(pg_url: str, sqlite_url: str,
                                                       xml_log) -> None:
    path = hostile_log(xml_log)
    n = len(HOSTILE) + 1
    for url in (sqlite_url, pg_url):
        assert ingest(url, path, batch_size=5) == (n, 0)
    on_pg, on_sqlite = stored_events(pg_url), stored_events(sqlite_url)
    assert len(on_pg) == n
    assert on_pg == on_sqlite
    providers = [row[3] for row in on_pg]
    assert "Prov nul\x00in\x00side" in providers
    assert "Prov " + PG_ESC + "0" + PG_ESC + PG_ESC in providers
    assert any("x" * (100 << 10) in row[9] for row in on_pg)
    assert all("\\ud800" not in row[9] and "\ud800" not in row[9] for row in on_pg)
    for url in (sqlite_url, pg_url):  # a re-ingest stores nothing, counts every row
        assert ingest(url, path, batch_size=5, force=True) == (0, n)
    assert stored_events(pg_url) == on_pg


def test_duplicates_in_a_batch_and_against_the_table_count_exactly(db_url: str,
                                                                   xml_log) -> None:
    def log(name: str, records: list[int]) -> Path:
        return xml_log(name, [xml_log.event(4688, r, f"2024-05-01T10:00:{r:02d}Z",
                                            {"CommandLine": f"cmd {r}"}) for r in records])

    assert ingest(db_url, log("a.xml", [1, 2, 3, 4, 5, 6]), batch_size=4) == (6, 0)
    # Batches of 4: two already stored and one twice; all new (after a batch that was
    # not); one twice and nothing stored; all new.
    later = [5, 6, 7, 7, 8, 9, 10, 11, 20, 21, 21, 22, 12, 13]
    assert ingest(db_url, log("b.xml", later), batch_size=4) == (10, 4)
    rows = stored_events(db_url)
    # Ids follow the input, whichever way each batch went.
    assert [r[5] for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 12, 13]

    # One batch straight through BulkInsert: the number it stored, exactly.
    engine = open_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = [tuple(r) for r in conn.execute(
                select(*(getattr(EventRow, c) for c in ROW_COLUMNS)).order_by(EventRow.id))]
        insert = BulkInsert(engine, EventRow, ROW_COLUMNS, ignore_existing=True)
        record = ROW_COLUMNS.index("record_id")
        new = [(*row[:record], 100 + i, *row[record + 1:]) for i, row in enumerate(stored)]
        for batch, expected in (([stored[0], new[0], new[0], stored[1]], 1),
                                ([new[1], new[2]], 2),
                                ([new[1], new[2], stored[2]], 0),
                                ([new[3], new[3]], 1)):
            with engine.begin() as conn:
                assert insert.execute(conn, batch) == expected
        with engine.connect() as conn:
            assert len(conn.execute(select(EventRow.id)).all()) == len(stored) + 4
    finally:
        engine.dispose()


@pytest.mark.parametrize("value", ["\ud800", "a\udfffb"])
def test_a_lone_surrogate_is_refused_alike(value: str, db_url: str, xml_log) -> None:
    """The readers drop unpaired surrogates; one that got past them is refused by both
    drivers (no UTF-8 for it), not stored differently."""
    ingest(db_url, xml_log("one.xml", [xml_log.event(4688, 1, "2024-05-01T10:00:00Z",
                                                     {"CommandLine": "x"})]))
    engine = open_engine(db_url)
    try:
        with engine.connect() as conn:
            (row,) = [tuple(r) for r in conn.execute(
                select(*(getattr(EventRow, c) for c in ROW_COLUMNS)))]
        provider = ROW_COLUMNS.index("provider")
        record = ROW_COLUMNS.index("record_id")
        bad = (*row[:provider], value, *row[provider + 1:record], 2, *row[record + 1:])
        insert = BulkInsert(engine, EventRow, ROW_COLUMNS, ignore_existing=True)
        with pytest.raises(UnicodeEncodeError), engine.begin() as conn:
            insert.execute(conn, [bad])
        with engine.connect() as conn:
            assert len(conn.execute(select(EventRow.id)).all()) == 1
    finally:
        engine.dispose()
