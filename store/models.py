"""The case store: SQLAlchemy 2 typed models.

Times are integers (UTC microseconds since the Unix epoch): exact, zone-free, fast to
write and sort, the same on SQLite and PostgreSQL. Event fields are kept as a JSON
object in text, exactly as logged.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    BigInteger,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# PostgreSQL's text cannot hold NUL, which log text can: there NUL is kept as ESC "0" and
# ESC itself as ESC ESC (ESC a private-use character), and read back exactly.
PG_ESC = "\U0010fffd"
_PG_UNESC = re.compile(PG_ESC + "(.)", re.S)


def pg_text(value: str) -> str:
    """``value`` as PostgreSQL can store it (see :data:`PG_ESC`)."""
    if "\x00" in value or PG_ESC in value:
        return value.replace(PG_ESC, PG_ESC + PG_ESC).replace("\x00", PG_ESC + "0")
    return value


def pg_untext(value: str) -> str:
    """The text :func:`pg_text` stored."""
    if PG_ESC in value:
        return _PG_UNESC.sub(lambda m: "\x00" if m.group(1) == "0" else m.group(1), value)
    return value


class LogText(TypeDecorator[str]):
    """Text from a log (or an analyst): stored exactly on SQLite and PostgreSQL alike."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and dialect.name == "postgresql":
            return pg_text(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and dialect.name == "postgresql":
            return pg_untext(value)
        return value


class LogString(LogText):
    """A short name from a log (host, channel): :class:`LogText` within a length."""

    impl = String
    cache_ok = True


# Ids past 2**31 (derived, not counted): BIGINT, and SQLite's 64-bit rowid there.
BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every proctrail table."""


class Source(Base):
    """One input read into the case: a file, or one member of an archive."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(LogText)
    member: Mapped[str] = mapped_column(LogText, default="")
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
    skip_reasons: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    error: Mapped[str | None] = mapped_column(LogText)


class SourceDamage(Base):
    """A chunk of an input whose checksums or record framing fail (EVTX), found at ingest:
    its records are stored as read, and every correlation makes it a ``checksum_mismatch``
    anomaly with the host, channel and times of those records. ``host``, ``channel``,
    ``start_us``, ``end_us`` and ``records`` are what ingest read in its record range
    (stored or not)."""

    __tablename__ = "source_damage"
    __table_args__ = (UniqueConstraint("source_id", "chunk", name="uq_source_damage_chunk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    chunk: Mapped[int] = mapped_column(Integer)  # its number in the file, from 0
    file_offset: Mapped[int] = mapped_column(BigInteger)
    checks: Mapped[str] = mapped_column(String(128))  # comma-separated, store/events Damage
    first_record: Mapped[int | None] = mapped_column(BigInteger)
    last_record: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str | None] = mapped_column(LogText)
    channel: Mapped[str | None] = mapped_column(LogText)
    start_us: Mapped[int | None] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(BigInteger, default=0)


class Host(Base):
    """A host name as logs spell it, keyed case-insensitively (Windows names are).

    One machine can be logged under several names (``WS02`` and ``WS02.corp.example``):
    one row is the machine (``alias_of`` NULL), the others point at it (``alias_of``, the
    id of that row; never a chain). ``proctrail.store.hosts`` decides which."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(LogString(255), unique=True)
    name: Mapped[str] = mapped_column(LogString(255))
    alias_of: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)


class Channel(Base):
    """A log channel, one canonical spelling per case-insensitive name."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(LogString(255), unique=True)
    name: Mapped[str] = mapped_column(LogString(255))


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
    provider: Mapped[str] = mapped_column(LogText)
    event_id: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[int] = mapped_column(BigInteger)
    ts_us: Mapped[int | None] = mapped_column(BigInteger)
    ts_key: Mapped[int] = mapped_column(BigInteger)
    received_us: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)  # JSON: orjson writes NUL as \u0000


class LogonSession(Base):
    """A logon session on one host: from its logon event, or inferred from its processes."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_host_logon", "host_id", "logon_id"),
                      Index("ix_sessions_host_start", "host_id", "start_us"))

    # Stable ids derived from the logon event (:mod:`~proctrail.store.correlate.ids`).
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    logon_id: Mapped[str] = mapped_column(LogText)
    user: Mapped[str] = mapped_column(LogText, default="")
    logon_type: Mapped[str] = mapped_column(LogText, default="")
    source_ip: Mapped[str] = mapped_column(LogText, default="")
    workstation: Mapped[str] = mapped_column(LogText, default="")
    auth_package: Mapped[str] = mapped_column(LogText, default="")
    elevated: Mapped[bool] = mapped_column(default=False)
    start_us: Mapped[int | None] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger)
    logon_event: Mapped[int | None] = mapped_column(BigInteger)
    logoff_event: Mapped[int | None] = mapped_column(BigInteger)
    flags: Mapped[str] = mapped_column(LogText, default="")
    # JSON: how it came in (Terminal Services, 4778/4779; the 4648s that led to it).
    remote: Mapped[str] = mapped_column(LogText, default="")


class Process(Base):
    """One process lifetime, from its start (or the log's start) to its end."""

    __tablename__ = "processes"
    __table_args__ = (
        Index("ix_processes_host_pid", "host_id", "pid"),
        Index("ix_processes_parent", "parent_id"),
        Index("ix_processes_session", "session_id"),
    )

    # Stable ids derived from the start event (:mod:`~proctrail.store.correlate.ids`).
    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    pid: Mapped[int | None] = mapped_column(BigInteger)  # None: the collector dropped it
    process_guid: Mapped[str | None] = mapped_column(LogText)
    image: Mapped[str] = mapped_column(LogText, default="")
    command_line: Mapped[str] = mapped_column(LogText, default="")
    cwd: Mapped[str] = mapped_column(LogText, default="")
    hashes: Mapped[str] = mapped_column(LogText, default="")
    integrity: Mapped[str] = mapped_column(LogText, default="")
    user: Mapped[str] = mapped_column(LogText, default="")
    creator_user: Mapped[str] = mapped_column(LogText, default="")
    end_user: Mapped[str] = mapped_column(LogText, default="")
    logon_id: Mapped[str] = mapped_column(LogText, default="")
    # Deferred: correlation writes a session once it has ended, after its first processes.
    session_id: Mapped[int | None] = mapped_column(
        BIG_ID, ForeignKey("sessions.id", deferrable=True, initially="DEFERRED"))
    start_us: Mapped[int | None] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger)
    exit_status: Mapped[str] = mapped_column(LogText, default="")
    # Deferred: a placeholder parent is numbered after the child that revealed it.
    parent_id: Mapped[int | None] = mapped_column(
        BIG_ID, ForeignKey("processes.id", deferrable=True, initially="DEFERRED"))
    parent_pid: Mapped[int | None] = mapped_column(BigInteger)
    parent_image: Mapped[str] = mapped_column(LogText, default="")
    flags: Mapped[str] = mapped_column(LogText, default="")
    # JSON list of token changes between start and end (600, 4703): time, user, detail.
    token_changes: Mapped[str] = mapped_column(LogText, default="")


class ProcessSource(Base):
    """Which stored event started, ended or was done by which lifetime (role start, end,
    activity: Sysmon network connections and DNS queries, or token): the evidence behind it."""

    __tablename__ = "process_sources"
    # Findings and detections go from an event to its lifetime.
    __table_args__ = (Index("ix_process_sources_event", "event_pk"),)

    process_id: Mapped[int] = mapped_column(BIG_ID, ForeignKey("processes.id"),
                                            primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))


class Activity(Base):
    """What a lifetime did (issue 18), one row an end: a connection, a DNS query, a file
    or registry change, a process it opened or was opened by (Sysmon 8/10: a row on each
    end, ``direction`` ``out`` on the one that did it, ``in`` on the other, each naming
    the other in ``target_process_id``). Rebuilt by every correlation, as the processes
    are; ``event_pk`` is the record it was read from."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_process_ts", "process_id", "ts_us"),
                      Index("ix_activity_dst_addr", "dst_addr"),
                      Index("ix_activity_event", "event_pk"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    process_id: Mapped[int] = mapped_column(BigInteger)
    host_id: Mapped[int] = mapped_column(Integer)
    event_pk: Mapped[int] = mapped_column(BigInteger)
    ts_us: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8), default="")
    protocol: Mapped[str] = mapped_column(LogText, default="")
    src_addr: Mapped[str] = mapped_column(LogText, default="")
    src_port: Mapped[int | None] = mapped_column(Integer)
    dst_addr: Mapped[str] = mapped_column(LogText, default="")
    dst_port: Mapped[int | None] = mapped_column(Integer)
    hostname: Mapped[str] = mapped_column(LogText, default="")
    path: Mapped[str] = mapped_column(LogText, default="")
    target_process_id: Mapped[int | None] = mapped_column(BigInteger)
    access: Mapped[str] = mapped_column(LogText, default="")
    detail: Mapped[str] = mapped_column(LogText, default="")


class Anomaly(Base):
    """An integrity anomaly of the logs themselves: a gap, a cleared log, a clock change."""

    __tablename__ = "anomalies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    kind: Mapped[str] = mapped_column(String(32))
    start_us: Mapped[int | None] = mapped_column(BigInteger)
    end_us: Mapped[int | None] = mapped_column(BigInteger)
    event_pk: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(LogText, default="")


class Finding(Base):
    """Something the analyst (or a detection) marked: a process or a session, with a note.

    Process and session ids change when correlation is rebuilt, so a finding is anchored
    on stored events (the process's start or end record, the session's logon or logoff)
    and on host, PID/logon id and image for what has no event (placeholders).
    """

    __tablename__ = "findings"
    # A shown process's events lead to its findings; a placeholder's by host and PID.
    __table_args__ = (Index("ix_findings_anchor", "anchor_event"),
                      Index("ix_findings_host_pid", "host_id", "pid"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(16))  # process | session
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    anchor_event: Mapped[int | None] = mapped_column(BigInteger)
    pid: Mapped[int | None] = mapped_column(BigInteger)
    logon_id: Mapped[str] = mapped_column(LogText, default="")
    image: Mapped[str] = mapped_column(LogText, default="")
    severity: Mapped[str] = mapped_column(String(16), default="medium")
    note: Mapped[str] = mapped_column(LogText, default="")
    source: Mapped[str] = mapped_column(LogText, default="analyst")  # or a rule's file
    author: Mapped[str] = mapped_column(LogText, default="")
    created_us: Mapped[int] = mapped_column(BigInteger)
    # bookmark (an analyst's) | rule (Sigma) | baseline | ioc | anomaly
    kind: Mapped[str] = mapped_column(String(16), default="bookmark", index=True)
    rule_id: Mapped[str] = mapped_column(LogText, default="")
    tags: Mapped[str] = mapped_column(LogText, default="")  # comma-separated (ATT&CK)
    time_us: Mapped[int | None] = mapped_column(BigInteger)  # when what it marks happened


class Baseline(Base):
    """A named set of known executables: built from a period of the logs, or imported."""

    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(LogText, unique=True)
    description: Mapped[str] = mapped_column(LogText, default="")
    created_us: Mapped[int] = mapped_column(BigInteger)


class BaselineEntry(Base):
    """One known executable (normalised path), for one host or (host ``""``) for all."""

    __tablename__ = "baseline_entries"
    __table_args__ = (UniqueConstraint("baseline_id", "host", "image",
                                       name="uq_baseline_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    baseline_id: Mapped[int] = mapped_column(ForeignKey("baselines.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(LogText, default="")
    image: Mapped[str] = mapped_column(LogText)


# case_meta key: the highest event id the last correlation saw.
CORRELATED_THROUGH = "correlated_through_event"
# case_meta key: how many correlations have replaced the processes and sessions; a reader
# that saw another number is showing rows of an older case.
GENERATION = "correlation_generation"


class CaseMeta(Base):
    """Facts about the case as a whole, by name: what the last correlation saw, so that a
    re-run after an interruption knows the correlation is stale."""

    __tablename__ = "case_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(LogText, default="")
