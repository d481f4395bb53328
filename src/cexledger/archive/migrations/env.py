"""Alembic environment for the archive.

At runtime :mod:`cexledger.archive.migrate` builds the Alembic ``Config`` in code and hands
over an open connection in ``config.attributes["connection"]`` (already inside the
migration transaction). To author a new revision, point a local ``alembic.ini`` at this
directory (``script_location``) with a ``sqlalchemy.url``; that URL is used instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from cexledger.archive.migrate import VERSION_TABLE
from cexledger.archive.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


_main()
