"""source_damage: the chunks of an input whose checksums or record framing fail (EVTX
header and data CRC32, record size copies, record ids), found at ingest and kept with
their source and what was read in their record range (host, channel, times), so that
every correlation makes them ``checksum_mismatch`` anomalies.

Revision ID: 0006
Revises: 0005

A new table, nothing else changed. Stores from before it have no record of damage: their
inputs were never checked (ingest them again with ``--force`` to check them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A create_all of these models over an older store made it already.
    if sa.inspect(op.get_bind()).has_table("source_damage"):
        return
    op.create_table(
        "source_damage",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("file_offset", sa.BigInteger(), nullable=False),
        sa.Column("checks", sa.String(128), nullable=False),
        sa.Column("first_record", sa.BigInteger(), nullable=True),
        sa.Column("last_record", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("source_id", "chunk", name="uq_source_damage_chunk"),
    )


def downgrade() -> None:
    op.drop_table("source_damage")
