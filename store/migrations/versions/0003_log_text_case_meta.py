"""Log text in TEXT columns (PostgreSQL enforces VARCHAR lengths, and a log's provider,
logon id or GUID can be any length an attacker writes); case_meta, facts about the case as
a whole (the schema of the build at aedf477).

Revision ID: 0003
Revises: 0002

SQLite ignores VARCHAR lengths: there the type changes are skipped (rebuilding the events
table for nothing would take as long as the ingest did).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column, its 0002 type, nullable): each becomes TEXT.
TO_TEXT = (
    ("events", "provider", sa.String(255), False),
    ("sessions", "logon_id", sa.String(64), False),
    ("sessions", "logon_type", sa.String(64), False),
    ("sessions", "source_ip", sa.String(64), False),
    ("sessions", "auth_package", sa.String(64), False),
    ("processes", "process_guid", sa.String(64), True),
    ("processes", "integrity", sa.String(64), False),
    ("processes", "logon_id", sa.String(64), False),
    ("processes", "exit_status", sa.String(32), False),
    ("findings", "logon_id", sa.String(64), False),
    ("findings", "source", sa.String(64), False),
    ("findings", "author", sa.String(128), False),
    ("findings", "rule_id", sa.String(64), False),
    ("baselines", "name", sa.String(128), False),
    ("baseline_entries", "host", sa.String(255), False),
)


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        # VARCHAR to TEXT is binary-coercible on PostgreSQL: no table or index rewrite.
        for table, column, old, nullable in TO_TEXT:
            op.alter_column(table, column, type_=sa.Text(), existing_type=old,
                            existing_nullable=nullable)
    # A build before schema versions, opening an 0002 store, created it already.
    if not sa.inspect(op.get_bind()).has_table("case_meta"):
        op.create_table(
            "case_meta",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("case_meta")
    if op.get_context().dialect.name != "sqlite":
        # Fails, changing nothing, where a value is longer than the old column held.
        for table, column, old, nullable in TO_TEXT:
            op.alter_column(table, column, type_=old, existing_type=sa.Text(),
                            existing_nullable=nullable)
