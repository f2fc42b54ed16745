"""activity: what each lifetime did (issue 18), one row an end, with the typed columns an
analyst searches (addresses, ports, host names, paths, access masks); and the kinds of the
records it is read from, classified in stores ingested before they were known.

Revision ID: 0008
Revises: 0007

A new table, filled by the next ``proctrail correlate`` (correlation rebuilds it, as it
does the processes). Stored events of Sysmon 7/8/10/11/12/13/14/15/23/25/26 and Security
5156/5158/4663 get their kind here, as ingest now gives it, so that correlation reads them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SYSMON_KINDS = {7: "image_load", 8: "remote_thread", 10: "process_access", 11: "file_create",
                12: "registry_key", 13: "registry_set", 14: "registry_rename",
                15: "file_stream", 23: "file_delete", 25: "process_tampering",
                26: "file_delete"}
SECURITY_KINDS = {5156: "wfp_connect", 5158: "wfp_bind", 4663: "object_access"}
INDEXES = (("ix_activity_process_ts", ["process_id", "ts_us"]),
           ("ix_activity_dst_addr", ["dst_addr"]), ("ix_activity_event", ["event_pk"]))


def upgrade() -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table("activity"):  # a create_all made it already
        op.create_table(
            "activity",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                      primary_key=True),
            sa.Column("process_id", sa.BigInteger(), nullable=False),
            sa.Column("host_id", sa.Integer(), nullable=False),
            sa.Column("event_pk", sa.BigInteger(), nullable=False),
            sa.Column("ts_us", sa.BigInteger(), nullable=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("direction", sa.String(8), nullable=False),
            sa.Column("protocol", sa.Text(), nullable=False),
            sa.Column("src_addr", sa.Text(), nullable=False),
            sa.Column("src_port", sa.Integer(), nullable=True),
            sa.Column("dst_addr", sa.Text(), nullable=False),
            sa.Column("dst_port", sa.Integer(), nullable=True),
            sa.Column("hostname", sa.Text(), nullable=False),
            sa.Column("path", sa.Text(), nullable=False),
            sa.Column("target_process_id", sa.BigInteger(), nullable=True),
            sa.Column("access", sa.Text(), nullable=False),
            sa.Column("detail", sa.Text(), nullable=False),
        )
        for name, columns in INDEXES:
            op.create_index(name, "activity", columns)
    sysmon = ("(lower(provider) IN ('microsoft-windows-sysmon', 'linux-sysmon') OR "
              "channel_id IN (SELECT id FROM channels WHERE lower(key) IN "
              "('microsoft-windows-sysmon/operational', 'linux-sysmon/operational')))")
    security = ("(lower(provider) = 'microsoft-windows-security-auditing' OR "
                "channel_id IN (SELECT id FROM channels WHERE lower(key) = 'security'))")
    for where, kinds in ((sysmon, SYSMON_KINDS), (f"NOT {sysmon} AND {security}",
                                                  SECURITY_KINDS)):
        for event_id, kind in kinds.items():
            bind.execute(sa.text(f"UPDATE events SET kind = :kind WHERE kind IS NULL AND "
                                 f"event_id = :event_id AND {where}"),
                         {"kind": kind, "event_id": event_id})


def downgrade() -> None:
    op.drop_table("activity")
    kinds = sorted({*SYSMON_KINDS.values(), *SECURITY_KINDS.values()})
    op.get_bind().execute(sa.text("UPDATE events SET kind = NULL WHERE kind IN :kinds")
                          .bindparams(sa.bindparam("kinds", expanding=True)),
                          {"kinds": kinds})
