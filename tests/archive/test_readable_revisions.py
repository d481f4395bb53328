"""An archive one schema revision behind is read as it is by read-only opens (``status`` and
``export`` after an upgrade of cexledger, before any ``sync``), byte for byte unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from cexledger.archive import Archive
from cexledger.archive.migrate import HEAD, READABLE_REVISIONS, alembic_config
from cexledger.errors import ArchiveError


def _archive_at(path: Path, revision: str) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.exec_driver_sql("INSERT INTO streams (id, account, exchange, stream, partition) "
                             "VALUES (1, 'main', 'bitget', 'financial-records', 'SPOT')")
        conn.exec_driver_sql("INSERT INTO records (stream_id, record_id, ts, raw, mutable, version, "
                             "written_ms) VALUES (1, '7', 1700000000000, x'7b7d', 0, 1, 1)")
    engine.dispose()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("revision", sorted(READABLE_REVISIONS))
def test_a_readable_older_revision_is_read_as_it_is(tmp_path: Path, revision: str) -> None:
    assert revision != HEAD
    db = tmp_path / "old.db"
    _archive_at(db, revision)
    before = _digest(db)
    with Archive.open(f"sqlite:///{db}", read_only=True) as archive:
        [summary] = archive.streams()
        assert (summary.key.account, summary.records) == ("main", 1)
        assert archive.count_records() == 1
    assert _digest(db) == before, "a read-only open changed the older archive"
    with Archive.open(f"sqlite:///{db}") as archive:   # a write open upgrades it
        assert archive.count_records() == 1


def test_read_only_open_still_refuses_a_newer_revision(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    _archive_at(db, HEAD)
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cexledger_alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(ArchiveError, match="newer cexledger"):
        Archive.open(f"sqlite:///{db}", read_only=True)


@pytest.mark.parametrize("read_only", [False, True])
def test_a_file_that_is_no_database_is_named_so_without_repair_advice(tmp_path: Path, read_only: bool) -> None:
    """A typo'd ``--db`` naming a text file: it is not a damaged archive, so no ``.recover``
    recipe; and the file is left as it was."""
    text = tmp_path / "config.toml"
    text.write_text("x = 1\n" * 200)
    before = _digest(text)
    with pytest.raises(ArchiveError) as caught:
        Archive.open(f"sqlite:///{text}", read_only=read_only)
    assert "is not a SQLite database" in str(caught.value)
    assert ".recover" not in str(caught.value)
    assert _digest(text) == before
