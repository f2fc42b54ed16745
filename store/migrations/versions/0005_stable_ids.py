"""Stable ids: process and session ids are derived from the events that made them (53-bit
numbers, past INTEGER), and a process's PID may be unknown (a Sysmon record whose
ProcessId the collector dropped) (the schema of the build after 0004).

Revision ID: 0005
Revises: 0004

PostgreSQL: the id columns and those that refer to them become BIGINT, ``processes.pid``
nullable. SQLite's INTEGER already holds 64 bits; there processes is rebuilt (SQLite
cannot drop NOT NULL in place) and every row copied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# (table, column, nullable) that hold a process or session id.
ID_COLUMNS = (
    ("sessions", "id", False),
    ("processes", "id", False),
    ("processes", "session_id", True),
    ("processes", "parent_id", True),
    ("process_sources", "process_id", False),
)
PROCESS_COLUMNS = (
    "id", "host_id", "pid", "process_guid", "image", "command_line", "cwd", "hashes",
    "integrity", "user", "creator_user", "end_user", "logon_id", "session_id", "start_us",
    "end_us", "exit_status", "parent_id", "parent_pid", "parent_image", "flags",
    "token_changes",
)
PROCESS_INDEXES = (
    ("ix_processes_host_pid", ["host_id", "pid"]),
    ("ix_processes_parent", ["parent_id"]),
    ("ix_processes_session", ["session_id"]),
)
TEXT = ("process_guid", "image", "command_line", "cwd", "hashes", "integrity", "user",
        "creator_user", "end_user", "logon_id", "exit_status", "parent_image", "flags",
        "token_changes")


def _processes_table(name: str, metadata: sa.MetaData, pid_nullable: bool) -> sa.Table:
    """processes as revision 0005 (``pid_nullable``) or 0004 has it on SQLite."""
    deferred = {"deferrable": True, "initially": "DEFERRED"}
    columns = [sa.Column("id", sa.Integer(), primary_key=True),
               sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
               sa.Column("pid", sa.BigInteger(), nullable=pid_nullable)]
    for column in PROCESS_COLUMNS[3:]:
        if column in TEXT:
            columns.append(sa.Column(column, sa.Text(),
                                     nullable=column == "process_guid"))
        elif column == "session_id":
            columns.append(sa.Column(column, sa.Integer(),
                                     sa.ForeignKey("sessions.id", **deferred), nullable=True))
        elif column == "parent_id":
            columns.append(sa.Column(column, sa.Integer(),
                                     sa.ForeignKey("processes.id", **deferred), nullable=True))
        else:
            columns.append(sa.Column(column, sa.BigInteger(), nullable=True))
    return sa.Table(name, metadata, *columns)


def _rebuild_sqlite_processes(pid_nullable: bool) -> None:
    """processes built anew and every row copied; ``store/db.py`` runs this with foreign
    keys off, in a transaction."""
    bind = op.get_bind()
    metadata = sa.MetaData()
    for referred in ("hosts", "sessions", "processes"):
        sa.Table(referred, metadata, sa.Column("id", sa.Integer(), primary_key=True))
    _processes_table("_processes_new", metadata, pid_nullable).create(bind)
    quoted = ", ".join(f'"{n}"' for n in PROCESS_COLUMNS)
    op.execute(f"INSERT INTO _processes_new ({quoted}) SELECT {quoted} FROM processes")
    op.execute("DROP TABLE processes")
    op.execute("ALTER TABLE _processes_new RENAME TO processes")
    for name, columns in PROCESS_INDEXES:
        op.create_index(name, "processes", columns)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_processes(pid_nullable=True)
        return
    for table, column, nullable in ID_COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer(),
                        existing_nullable=nullable)
    op.alter_column("processes", "pid", nullable=True, existing_type=sa.BigInteger())


def downgrade() -> None:
    # Fails, changing nothing, where a PID is unknown or an id is past INTEGER: correlate
    # again with the older build after the downgrade.
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_processes(pid_nullable=False)
        return
    op.alter_column("processes", "pid", nullable=False, existing_type=sa.BigInteger())
    for table, column, nullable in reversed(ID_COLUMNS):
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger(),
                        existing_nullable=nullable)
