"""sessions.remote: how a session came in (issue 18): Terminal Services 1149/21-25/39/40 and
Security 4778/4779 joined to it, and the 4648s that led to it, as JSON; and the kinds of
those records in stores ingested before they were known.

Revision ID: 0009
Revises: 0008

Filled by the next ``proctrail correlate``. Stored 4648s were ``logon`` (which sessions
ignored): they become ``explicit_credentials``; stored 4778/4779 and Terminal Services
events get ``remote_session``. An index on sessions (host, start) finds the session a 4648
led to.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS_CHANNELS = {
    "microsoft-windows-terminalservices-remoteconnectionmanager/operational": (1149,),
    "microsoft-windows-terminalservices-localsessionmanager/operational":
        (21, 22, 23, 24, 25, 39, 40),
    "microsoft-windows-terminalservices-gateway/operational": (200, 300, 302, 303),
}
SECURITY = ("(lower(provider) = 'microsoft-windows-security-auditing' OR "
            "channel_id IN (SELECT id FROM channels WHERE lower(key) = 'security'))")


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "remote" not in {c["name"] for c in inspector.get_columns("sessions")}:
        op.add_column("sessions", sa.Column("remote", sa.Text(), nullable=False,
                                            server_default=""))
        if bind.dialect.name == "sqlite":  # the default filled the rows: the table again
            with op.batch_alter_table("sessions") as batch:
                batch.alter_column("remote", server_default=None, existing_type=sa.Text(),
                                   existing_nullable=False)
        else:
            op.alter_column("sessions", "remote", server_default=None,
                            existing_type=sa.Text(), existing_nullable=False)
    if "ix_sessions_host_start" not in {i["name"] for i in inspector.get_indexes("sessions")}:
        op.create_index("ix_sessions_host_start", "sessions", ["host_id", "start_us"])
    bind.execute(sa.text(f"UPDATE events SET kind = 'explicit_credentials' WHERE event_id = "
                         f"4648 AND (kind = 'logon' OR kind IS NULL) AND {SECURITY}"))
    bind.execute(sa.text(f"UPDATE events SET kind = 'remote_session' WHERE kind IS NULL AND "
                         f"event_id IN (4778, 4779) AND {SECURITY}"))
    for channel, ids in TS_CHANNELS.items():
        bind.execute(sa.text("UPDATE events SET kind = 'remote_session' WHERE kind IS NULL "
                             "AND event_id IN :ids AND channel_id IN (SELECT id FROM channels "
                             "WHERE lower(key) = :channel)")
                     .bindparams(sa.bindparam("ids", expanding=True)),
                     {"ids": list(ids), "channel": channel})


def downgrade() -> None:
    op.drop_index("ix_sessions_host_start", "sessions")
    op.drop_column("sessions", "remote")
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE events SET kind = 'logon' WHERE kind = 'explicit_credentials'"))
    bind.execute(sa.text("UPDATE events SET kind = NULL WHERE kind = 'remote_session'"))
