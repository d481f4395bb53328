"""Two processes opening one empty PostgreSQL database at once (workers starting together):
the one whose check sees the other's new archive takes it for ours, never for another
application's tables."""

from __future__ import annotations

import sqlalchemy as sa

from cexledger.archive import Archive
from cexledger.archive.migrate import HEAD, ensure_head, owned_revision


def _create_archive_after_first_catalog_read(engine: sa.Engine, url: str) -> list[str]:
    """Another process's archive, committed right after ``engine``'s first catalog query."""
    fired: list[str] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def create_meanwhile(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if not fired and "pg_class" in statement:
            fired.append(statement)
            Archive.open(url).close()

    return fired


def test_an_archive_committed_between_the_checks_statements_is_ours(postgres_url) -> None:
    engine = sa.create_engine(postgres_url)
    fired = _create_archive_after_first_catalog_read(engine, postgres_url)
    try:
        with engine.connect() as conn:
            assert owned_revision(conn) is None         # it was empty when the check looked
        assert fired
        ensure_head(engine)                              # the other's archive: nothing to do
        with engine.connect() as conn:
            assert owned_revision(conn) == HEAD
    finally:
        engine.dispose()
