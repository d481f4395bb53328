"""Bring a database's schema to the head revision with Alembic, programmatically.

First, reading only, the database is checked to be ours: one with tables (or views) but no
:data:`VERSION_TABLE` belongs to something else and is refused with :class:`NotAnArchiveError`
before anything in it changes; an empty one becomes an archive. The fast path then returns
when the version table already holds :data:`HEAD` — Alembic is not even imported. A revision
this version does not know (a newer cexledger's) is refused, like a foreign database, before
anything changes. Otherwise the upgrade runs in one transaction holding the database's write lock (``BEGIN IMMEDIATE`` on
SQLite, an advisory lock on PostgreSQL), so concurrent first opens migrate once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import write_connection

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "HEAD",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "NotAnArchiveError",
    "SchemaError",
    "alembic_config",
    "current_revision",
    "ensure_head",
    "owned_revision",
]

HEAD = "0004"
"""The newest revision in ``migrations/versions`` (a test keeps the two in step)."""

#: Older revisions a read-only open (``status``, ``export``) reads as they are, without the
#: upgrade it may not write: every migration after them only adds what no read path uses
#: (0002: the account identities, read by ``sync`` alone) or removes what none reads any
#: more (0003: the entries' ``fee`` column; the entries such an archive holds are then out of
#: date, and the reads of entries refuse them by the normalizer versions, see
#: ``cexledger.ledger.require_current``) or changes only how writes are checked (0004: on
#: PostgreSQL, two foreign keys checked once per statement). A migration that changes what reads see must drop
#: the revisions before it from this set.
READABLE_REVISIONS = frozenset({"0001", "0002", "0003"})

VERSION_TABLE = "cexledger_alembic_version"
"""Alembic's version table, named for this tool so a shared PostgreSQL database stays tidy."""

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

_PG_MIGRATION_LOCK = 0x63786C67  # "cxlg": serializes concurrent migrations on PostgreSQL


class SchemaError(Exception):
    """The database's schema cannot be brought to :data:`HEAD` (e.g. it is newer)."""


class NotAnArchiveError(SchemaError):
    """The database holds tables of something else: it is not, and must not become, ours."""


def current_revision(conn: sa.Connection) -> str | None:
    """The revision stamped in the database, ``None`` for a database without one."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    revisions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return revisions[0] if len(revisions) == 1 else None


def owned_revision(conn: sa.Connection) -> str | None:
    """:func:`current_revision` of a database that is ours or empty; reads only.

    Raises :class:`NotAnArchiveError` for a database with tables or views but no
    :data:`VERSION_TABLE`: adopting it would mix our schema into another application's data.
    """
    inspector = sa.inspect(conn)
    # one listing, not a look for the version table and then a listing: between two
    # statements another process may commit a new archive (workers starting at once on an
    # empty database), which the listing would show without its version table
    tables = inspector.get_table_names()
    if VERSION_TABLE in tables:
        return current_revision(conn)
    foreign = tables + inspector.get_view_names()
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (", …" if len(foreign) > 3 else "")
        raise NotAnArchiveError(
            f"it is not a cexledger archive (it holds other tables: {shown}); "
            "give a new or empty database"
        )
    return None


def ensure_head(
    engine: Engine,
    *,
    empty: Callable[[], None] | None = None,
    prepare: Callable[[Engine], None] | None = None,
    upgrade: bool = True,
) -> None:
    """Create or upgrade the schema to :data:`HEAD`; cheap when it is already there.

    The database is checked first by :func:`owned_revision` on a read-only transaction;
    ``empty`` is then called when it is not an archive yet (it may raise to refuse creating
    one), a revision newer than this version knows is refused, and only then ``prepare``
    runs, before anything is written (the integrity check, SQLite's switch to WAL mode).
    ``upgrade=False`` (a read-only open) reads a database at :data:`HEAD` or at one of
    :data:`READABLE_REVISIONS` as it is, and refuses an older one.
    """
    with engine.connect() as conn:
        revision = owned_revision(conn)
    if revision is None and empty is not None:
        empty()
    if revision not in (None, HEAD) and revision not in _known_revisions():
        raise SchemaError(
            f"it was made by a newer cexledger (schema revision {revision}; this version knows "
            f"up to {HEAD}): upgrade cexledger to use it"
        )
    if revision != HEAD and not upgrade:
        if revision in READABLE_REVISIONS:
            return          # read as it is: reads use nothing the later migrations added
        raise SchemaError(
            "its schema is older than this cexledger's: run `cexledger sync` once (on a "
            "writable copy) to upgrade it"
        )
    if prepare is not None:
        prepare(engine)
    if revision == HEAD:
        return
    _upgrade(engine)


def alembic_config(conn: sa.Connection | None = None) -> Config:
    """Alembic's configuration for cexledger's migrations, run on ``conn`` when given (the
    migrations' ``env.py`` uses that connection instead of a URL)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.util import CommandError

    with write_connection(engine) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        config = alembic_config(conn)
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise SchemaError(f"schema cannot be migrated (made by a newer cexledger?): {exc}") from exc
