"""Stores made before schema versions (no ``alembic_version`` table): which revision their
tables are, judged by what tables, columns and indexes they have.

A build only ever created what was missing (``create_all``), so a store opened by a newer
build than the one that made it can hold that build's new tables beside its old ones: a
store counts as a revision only when it has everything that revision has.
"""

from __future__ import annotations

from sqlalchemy import Connection, String, inspect

# Every revision has these.
CORE = frozenset({"sources", "hosts", "channels", "events", "processes", "sessions",
                  "process_sources", "anomalies"})
KNOWN = CORE | {"findings", "baselines", "baseline_entries", "case_meta", "source_damage",
                 "activity"}
# Columns that 0003 made TEXT (PostgreSQL only; SQLite ignores lengths).
TEXT_AT_0003 = (
    ("events", "provider"), ("sessions", "logon_id"), ("processes", "process_guid"),
    ("processes", "logon_id"), ("processes", "exit_status"), ("findings", "rule_id"),
    ("baselines", "name"), ("baseline_entries", "host"),
)


class UnknownLayout(Exception):
    """Some of proctrail's table names are there, but not a store of any revision."""


def detect_revision(conn: Connection) -> str | None:
    """The revision an unversioned store's schema is (``None``: none of proctrail's
    tables)."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names()) & KNOWN
    if not tables:
        return None
    missing = sorted(CORE - tables)
    if missing:
        raise UnknownLayout(f"it has tables named like proctrail's ({', '.join(sorted(tables))}) "
                            f"but not {', '.join(missing)}")

    def columns(table: str) -> dict[str, object]:
        return {c["name"]: c["type"] for c in inspector.get_columns(table)}

    at_0002 = (
        "token_changes" in columns("processes")
        and {"findings", "baselines", "baseline_entries"} <= tables
        and "kind" in columns("findings")
        and "ix_process_sources_event" in {
            i["name"] for i in inspector.get_indexes("process_sources")}
    )
    if not at_0002:
        return "0001"
    if "case_meta" not in tables:
        return "0002"
    if conn.dialect.name != "sqlite":
        for table, column in TEXT_AT_0003:
            kind = columns(table).get(column)
            if isinstance(kind, String) and kind.length is not None:
                return "0002"
    # No build before schema versions had hosts.alias_of; a create_all of today's models has.
    if "alias_of" not in columns("hosts"):
        return "0003"
    pid = next(c for c in inspector.get_columns("processes") if c["name"] == "pid")
    if not pid["nullable"]:
        return "0004"
    if "source_damage" not in tables:
        return "0005"
    finding_indexes = {i["name"] for i in inspector.get_indexes("findings")}
    if "ix_findings_anchor" not in finding_indexes:
        return "0006"
    if "activity" not in tables:
        return "0007"
    return "0009" if "remote" in columns("sessions") else "0008"
