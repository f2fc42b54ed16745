"""The first stores: inputs, hosts, channels, events; process lifetimes, logon sessions,
their evidence and the integrity anomalies (the schema of the build at 3f14b9e).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# events.id (and the columns referring to it): 64-bit on PostgreSQL, SQLite's rowid there.
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("parser", sa.String(32), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("finished_us", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("records_read", sa.BigInteger(), nullable=False),
        sa.Column("events_stored", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("skip_reasons", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_sources_sha256", "sources", ["sha256"])
    op.create_table(
        "anomalies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("channel_id", sa.Integer(), sa.ForeignKey("channels.id"), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("event_pk", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", EVENT_ID, primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("channel_id", sa.Integer(), sa.ForeignKey("channels.id"), nullable=False),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=True),
        sa.Column("ts_key", sa.BigInteger(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.UniqueConstraint("host_id", "channel_id", "record_id", "ts_key", "event_id",
                            name="uq_events_natural"),
    )
    op.create_index("ix_events_host_ts", "events", ["host_id", "ts_us"])
    op.create_index("ix_events_kind_host_ts", "events", ["kind", "host_id", "ts_us"])
    op.create_index("ix_events_source_id", "events", ["source_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("logon_id", sa.String(64), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("logon_type", sa.String(64), nullable=False),
        sa.Column("source_ip", sa.String(64), nullable=False),
        sa.Column("workstation", sa.Text(), nullable=False),
        sa.Column("auth_package", sa.String(64), nullable=False),
        sa.Column("elevated", sa.Boolean(), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("logon_event", sa.BigInteger(), nullable=True),
        sa.Column("logoff_event", sa.BigInteger(), nullable=True),
        sa.Column("flags", sa.Text(), nullable=False),
    )
    op.create_index("ix_sessions_host_logon", "sessions", ["host_id", "logon_id"])
    op.create_table(
        "processes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
        sa.Column("pid", sa.BigInteger(), nullable=False),
        sa.Column("process_guid", sa.String(64), nullable=True),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("command_line", sa.Text(), nullable=False),
        sa.Column("cwd", sa.Text(), nullable=False),
        sa.Column("hashes", sa.Text(), nullable=False),
        sa.Column("integrity", sa.String(64), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("creator_user", sa.Text(), nullable=False),
        sa.Column("end_user", sa.Text(), nullable=False),
        sa.Column("logon_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Integer(), sa.ForeignKey("sessions.id"), nullable=True),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("exit_status", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.Integer(),
                  sa.ForeignKey("processes.id", deferrable=True, initially="DEFERRED"),
                  nullable=True),
        sa.Column("parent_pid", sa.BigInteger(), nullable=True),
        sa.Column("parent_image", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
    )
    op.create_index("ix_processes_host_pid", "processes", ["host_id", "pid"])
    op.create_index("ix_processes_parent", "processes", ["parent_id"])
    op.create_index("ix_processes_session", "processes", ["session_id"])
    op.create_table(
        "process_sources",
        sa.Column("process_id", sa.Integer(), sa.ForeignKey("processes.id"),
                  primary_key=True),
        sa.Column("event_pk", EVENT_ID, sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("role", sa.String(8), nullable=False),
    )


def downgrade() -> None:
    for table in ("process_sources", "processes", "sessions", "events", "anomalies",
                  "sources", "hosts", "channels"):
        op.drop_table(table)
