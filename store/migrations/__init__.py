"""Schema versions of the case store: alembic revisions, configured in code.

No ``alembic.ini``: :func:`alembic_config` builds the configuration with the script
location set to this installed package folder. ``store/db.py`` runs the revisions
(``proctrail db upgrade``) on a connection it hands over in the configuration's
attributes, inside one transaction.

Revisions (``versions/``), written by hand with explicit types, never importing the
models, so that they stay what they were when ``models.py`` changes:

- ``0001``: the first stores (sources, hosts, channels, events, processes, sessions,
  process_sources, anomalies);
- ``0002``: findings, baselines, processes.token_changes, the deferrable
  processes.session_id foreign key, ix_process_sources_event;
- ``0003``: log text in TEXT columns (PostgreSQL only: SQLite ignores lengths), case_meta;
- ``0004``: hosts.alias_of (one machine logged under several names);
- ``0005``: stable process and session ids (BIGINT on PostgreSQL), processes.pid nullable;
- ``0006``: source_damage (EVTX chunks whose checksums fail, found at ingest).
- ``0007``: indexes on findings' anchors (a screen's rows find their findings).
- ``0008``: activity (what each lifetime did), and the kinds of the records it is read from.

A new schema change is a new revision here, and :data:`HEAD` moves to it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # alembic loads only when a store is created or upgraded (0.1 s)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# The newest revision: a store at it needs nothing. Kept here (not read from the scripts)
# so that opening a store costs one SELECT; tests check it is the scripts' head.
HEAD = "0009"
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009")

FOLDER = Path(__file__).resolve().parent


def alembic_config(connection: object | None = None) -> Config:
    """An alembic configuration for this package's revisions; ``connection`` (a
    SQLAlchemy ``Connection`` in a transaction) is what ``env.py`` migrates."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(FOLDER).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@cache
def script_directory() -> ScriptDirectory:
    """The revisions, as alembic reads them (once)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())
