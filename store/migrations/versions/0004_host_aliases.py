"""hosts.alias_of: a host name that is another spelling of a machine (``WS02`` beside
``WS02.corp.example``) points at the hosts row that is the machine (the schema of the
build after 19f563f).

Revision ID: 0004
Revises: 0003

A nullable INTEGER without a foreign key: ``ALTER TABLE ... ADD COLUMN`` on SQLite and
PostgreSQL alike, no table rebuilt, every row kept with ``alias_of`` NULL (each name its
own machine, as before); correlation fills it in (``proctrail.store.hosts``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hosts", sa.Column("alias_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    # In place on SQLite too (3.35 and later): nothing indexes or references the column.
    op.drop_column("hosts", "alias_of")
