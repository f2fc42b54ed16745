"""The case store: SQLAlchemy 2 typed models.

Times are integers (UTC microseconds since the Unix epoch): exact, zone-free, fast to
write and sort, the same on SQLite and PostgreSQL. Event fields are kept as a JSON
object in text, exactly as logged.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every proctrail table."""


class Source(Base):
    """One input read into the case: a file, or one member of an archive."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    member: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(32))
    parser: Mapped[str] = mapped_column(String(32))
    started_us: Mapped[int] = mapped_column(BigInteger)
    finished_us: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="running")
    records_read: Mapped[int] = mapped_column(BigInteger, default=0)
    events_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    skip_reasons: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str | None] = mapped_column(Text)


class Host(Base):
    """A machine, keyed case-insensitively (Windows names are)."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))


class Channel(Base):
    """A log channel, one canonical spelling per case-insensitive name."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))


class EventRow(Base):
    """One stored log record, linked to its source file and record id.

    The natural key (host, channel, record id, second of time, event id) makes a
    re-ingest, or an overlapping export of the same log, add nothing twice. The time is
    keyed by the second because exports differ in precision (NXLog writes seconds).
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("host_id", "channel_id", "record_id", "ts_key", "event_id",
                         name="uq_events_natural"),
        Index("ix_events_kind_host_ts", "kind", "host_id", "ts_us"),
        Index("ix_events_host_ts", "host_id", "ts_us"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    provider: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[int] = mapped_column(BigInteger)
    ts_us: Mapped[int | None] = mapped_column(BigInteger)
    ts_key: Mapped[int] = mapped_column(BigInteger)
    received_us: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)
