"""Alembic's environment for proctrail's revisions.

``store/db.py`` hands over a connection already in a transaction
(``config.attributes["connection"]``): the revisions run in it, and it commits or rolls
back the whole upgrade. Without one (alembic's own command line, for developers writing a
revision), the store is ``-x db=URL``, else ``$PROCTRAIL_DB``, else ``./proctrail.db``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from proctrail.store.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # For autogenerate only: the revisions themselves never read the models.
        target_metadata=Base.metadata,
        # SQLite alters most things by rebuilding the table: alembic's batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("proctrail's revisions look at the store as they go: run them online")

_given = config.attributes.get("connection")
if _given is not None:
    _run(_given)
else:
    from proctrail.store.db import ddl_connection, open_engine

    _engine = open_engine(context.get_x_argument(as_dictionary=True).get("db"), create=False,
                          check=False)
    with ddl_connection(_engine) as _conn:
        _run(_conn)
