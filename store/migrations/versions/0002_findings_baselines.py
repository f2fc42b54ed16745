"""Findings and baselines; token changes on process lifetimes; processes.session_id
deferrable (correlation writes a session once it has ended, after its first processes);
process_sources indexed by event (the schema of the build at 945a11d).

Revision ID: 0002
Revises: 0001

Builds between 0001 and 0002 created some of these tables (and processes.token_changes)
already, and a later build opening an older store creates its missing tables: what is
there already is kept, the rest added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The columns of processes, in order, as both revisions have them (0002 adds token_changes).
PROCESS_COLUMNS = (
    "id", "host_id", "pid", "process_guid", "image", "command_line", "cwd", "hashes",
    "integrity", "user", "creator_user", "end_user", "logon_id", "session_id", "start_us",
    "end_us", "exit_status", "parent_id", "parent_pid", "parent_image", "flags",
)
PROCESS_INDEXES = (
    ("ix_processes_host_pid", ["host_id", "pid"]),
    ("ix_processes_parent", ["parent_id"]),
    ("ix_processes_session", ["session_id"]),
)


def _inspector() -> sa.Inspector:
    return sa.inspect(op.get_bind())


def _processes_table(name: str, metadata: sa.MetaData, at_0002: bool) -> sa.Table:
    """processes as revision 0002 (or, ``at_0002`` false, 0001) has it, named ``name``."""
    session_fk = (sa.ForeignKey("sessions.id", deferrable=True, initially="DEFERRED")
                  if at_0002 else sa.ForeignKey("sessions.id"))
    columns = [
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
        sa.Column("session_id", sa.Integer(), session_fk, nullable=True),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("exit_status", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.Integer(),
                  sa.ForeignKey("processes.id", deferrable=True, initially="DEFERRED"),
                  nullable=True),
        sa.Column("parent_pid", sa.BigInteger(), nullable=True),
        sa.Column("parent_image", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
    ]
    if at_0002:
        columns.append(sa.Column("token_changes", sa.Text(), nullable=False))
    return sa.Table(name, metadata, *columns)


def _rebuild_sqlite_processes(at_0002: bool) -> None:
    """SQLite cannot change a foreign key in place: processes is built anew as ``at_0002``
    says and every row copied (token_changes, when it is added, empty as the build that
    added it wrote it). ``store/db.py`` runs this with foreign keys off, in a transaction."""
    bind = op.get_bind()
    metadata = sa.MetaData()
    for referred in ("hosts", "sessions", "processes"):
        sa.Table(referred, metadata, sa.Column("id", sa.Integer(), primary_key=True))
    new = _processes_table("_processes_new", metadata, at_0002)
    new.create(bind)
    had_tokens = "token_changes" in {c["name"] for c in _inspector().get_columns("processes")}
    names = [*PROCESS_COLUMNS, *(["token_changes"] if at_0002 else [])]
    values = [*PROCESS_COLUMNS, *(["token_changes" if had_tokens else "''"] if at_0002 else [])]
    quoted = ", ".join(f'"{n}"' for n in names)
    selected = ", ".join(v if v == "''" else f'"{v}"' for v in values)
    op.execute(f"INSERT INTO _processes_new ({quoted}) SELECT {selected} FROM processes")
    op.execute("DROP TABLE processes")
    op.execute("ALTER TABLE _processes_new RENAME TO processes")
    for name, columns in PROCESS_INDEXES:
        op.create_index(name, "processes", columns)


def _session_fk_postgresql(deferrable: bool) -> None:
    for fk in _inspector().get_foreign_keys("processes"):
        if fk["constrained_columns"] == ["session_id"]:
            op.drop_constraint(fk["name"], "processes", type_="foreignkey")
    op.create_foreign_key("processes_session_id_fkey", "processes", "sessions",
                          ["session_id"], ["id"],
                          **({"deferrable": True, "initially": "DEFERRED"} if deferrable
                             else {}))


def upgrade() -> None:
    inspector = _inspector()
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_processes(at_0002=True)
    else:
        if "token_changes" not in {c["name"] for c in inspector.get_columns("processes")}:
            # The default fills the rows there are; the build wrote it on every insert.
            op.add_column("processes", sa.Column("token_changes", sa.Text(), nullable=False,
                                                 server_default=""))
            op.alter_column("processes", "token_changes", server_default=None,
                            existing_type=sa.Text(), existing_nullable=False)
        _session_fk_postgresql(deferrable=True)

    if "ix_process_sources_event" not in {
            i["name"] for i in inspector.get_indexes("process_sources")}:
        op.create_index("ix_process_sources_event", "process_sources", ["event_pk"])

    if not inspector.has_table("findings"):
        op.create_table(
            "findings",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("target", sa.String(16), nullable=False),
            sa.Column("host_id", sa.Integer(), sa.ForeignKey("hosts.id"), nullable=False),
            sa.Column("anchor_event", sa.BigInteger(), nullable=True),
            sa.Column("pid", sa.BigInteger(), nullable=True),
            sa.Column("logon_id", sa.String(64), nullable=False),
            sa.Column("image", sa.Text(), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("source", sa.String(64), nullable=False),
            sa.Column("author", sa.String(128), nullable=False),
            sa.Column("created_us", sa.BigInteger(), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("rule_id", sa.String(64), nullable=False),
            sa.Column("tags", sa.Text(), nullable=False),
            sa.Column("time_us", sa.BigInteger(), nullable=True),
        )
        op.create_index("ix_findings_kind", "findings", ["kind"])
    if not inspector.has_table("baselines"):
        op.create_table(
            "baselines",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(128), nullable=False),
            sa.Column("description", sa.Text(), nullable=False),
            sa.Column("created_us", sa.BigInteger(), nullable=False),
            sa.UniqueConstraint("name"),
        )
    if not inspector.has_table("baseline_entries"):
        op.create_table(
            "baseline_entries",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("baseline_id", sa.Integer(),
                      sa.ForeignKey("baselines.id", ondelete="CASCADE"), nullable=False),
            sa.Column("host", sa.String(255), nullable=False),
            sa.Column("image", sa.Text(), nullable=False),
            sa.UniqueConstraint("baseline_id", "host", "image", name="uq_baseline_entry"),
        )


def downgrade() -> None:
    op.drop_table("baseline_entries")
    op.drop_table("baselines")
    op.drop_index("ix_findings_kind", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_process_sources_event", table_name="process_sources")
    if op.get_context().dialect.name == "sqlite":
        _rebuild_sqlite_processes(at_0002=False)
    else:
        _session_fk_postgresql(deferrable=False)
        op.drop_column("processes", "token_changes")
