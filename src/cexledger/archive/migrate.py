"""Bring a database's schema to the head revision with Alembic, programmatically.

The fast path reads the version table with one query and returns when it already holds
:data:`HEAD` — Alembic is not even imported then. Otherwise the upgrade runs in one
transaction holding the database's write lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
lock on PostgreSQL), so concurrent first opens migrate once.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import write_connection

__all__ = ["HEAD", "MIGRATIONS_DIR", "VERSION_TABLE", "SchemaError", "current_revision", "ensure_head"]

HEAD = "0001"
"""The newest revision in ``migrations/versions`` (a test keeps the two in step)."""

VERSION_TABLE = "cexledger_alembic_version"
"""Alembic's version table, named for this tool so a shared PostgreSQL database stays tidy."""

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_PG_MIGRATION_LOCK = 0x63786C67  # "cxlg": serializes concurrent migrations on PostgreSQL


class SchemaError(Exception):
    """The database's schema cannot be brought to :data:`HEAD` (e.g. it is newer)."""


def current_revision(conn: sa.Connection) -> str | None:
    """The revision stamped in the database, ``None`` for a database without one."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    revisions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return revisions[0] if len(revisions) == 1 else None


def ensure_head(engine: Engine) -> None:
    """Create or upgrade the schema to :data:`HEAD`; cheap when it is already there."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return
    _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_connection(engine) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise SchemaError(f"schema cannot be migrated (made by a newer cexledger?): {exc}") from exc
