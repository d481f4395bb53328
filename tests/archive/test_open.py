"""Opening: URLs, one-line errors, nothing left behind, locks, migrations, defaults."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from cexledger.archive import Archive, default_url, migrate
from cexledger.errors import ArchiveError, ArchiveLockedError

from .support import KEY, make_record


def open_error(url: str, **kwargs: Any) -> str:
    with pytest.raises(ArchiveError) as caught:
        Archive.open(url, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("url", ["not a url", "sqlite//no-colon.db", "://nothing", "postgresql+psycopg://u:pw@host:notaport/db"])
def test_bad_url_syntax(url: str) -> None:
    message = open_error(url)
    assert "not a valid database URL" in message
    assert ":pw@" not in message


@pytest.mark.parametrize("url", ["nosuchdb://u:hunter2@host/db", "postgresql+asyncpg://u:hunter2@host/db", "mysql://u:hunter2@host/db", "sqlite+aiosqlite:///x.db"])
def test_unknown_or_unsupported_driver(url: str) -> None:
    message = open_error(url)
    assert "unsupported database driver" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    assert "in-memory" in open_error(url)


def test_unreachable_server_error_masks_the_password() -> None:
    with pytest.raises(ArchiveError) as caught:
        Archive.open("postgresql+psycopg://cex:s3cr3t-pw@127.0.0.1:1/archive?connect_timeout=2")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("cannot open archive postgresql+psycopg://cex:***@127.0.0.1:1/archive")
    assert "s3cr3t-pw" not in message
    assert not isinstance(caught.value, ArchiveLockedError)


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    assert "is a directory" in open_error(f"sqlite:///{tmp_path}")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    message = open_error(f"sqlite:///{blocker}/sub/archive.db")
    assert "cannot create directory" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_file_that_is_not_a_database_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    message = open_error(f"sqlite:///{path}")
    assert "file is not a database" in message
    assert str(path) in message
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_a_failed_first_open_leaves_no_half_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_upgrade(engine: sa.Engine) -> None:
        with engine.begin() as conn:  # touch the file the way a real migration would
            conn.exec_driver_sql("CREATE TABLE half (x)")
        raise migrate.SchemaError("simulated migration failure")

    monkeypatch.setattr(migrate, "_upgrade", broken_upgrade)
    message = open_error(f"sqlite:///{tmp_path}/new/dir/archive.db")
    assert "simulated migration failure" in message
    assert list(tmp_path.iterdir()) == []


def test_a_write_waits_for_another_writer_then_reports_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    Archive.open(url).close()
    holder = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO sync_runs (account, exchange, started_ms, finished_ms, stats) VALUES ('x', 'y', 1, 2, '{}')")
    try:
        with Archive.open(url, busy_timeout=0.3) as archive:  # opening only reads: no wait
            assert archive.count_records() == 0
            started = time.monotonic()
            with pytest.raises(ArchiveLockedError) as caught:
                archive.write_page(KEY, [make_record(1)], slot="w", state={}, cover=(0, 1))
            waited = time.monotonic() - started
            assert "locked" in str(caught.value) and "\n" not in str(caught.value)
            assert waited < 5
            holder.execute("ROLLBACK")
            archive.write_page(KEY, [make_record(1)])  # free again
            assert archive.count_records() == 1
    finally:
        holder.close()


def test_opening_a_database_another_process_holds_exclusively(tmp_path: Path) -> None:
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA user_version = 7")  # a database file, still without tables
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ArchiveLockedError):
            Archive.open(f"sqlite:///{path}", busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert path.exists()  # not ours to delete
    with Archive.open(f"sqlite:///{path}") as archive:  # once free, the empty database is adopted
        assert archive.count_records() == 0


def _foreign_sqlite(path: Path) -> bytes:
    """Another application's database (rollback journal, as SQLite makes by default)."""
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total TEXT)")
    other.execute("INSERT INTO invoices (total) VALUES ('12.50')")
    other.commit()
    other.close()
    return path.read_bytes()


def test_a_foreign_sqlite_database_is_refused_and_left_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    content = _foreign_sqlite(path)
    for _ in range(2):  # refused every time, never half-adopted
        message = open_error(f"sqlite:///{path}")
        assert "is not a cexledger archive" in message and "invoices" in message
    assert path.read_bytes() == content  # no WAL switch, no migration
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_a_foreign_view_alone_also_makes_a_database_foreign(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE VIEW answer AS SELECT 42 AS x")
    content = path.read_bytes()
    assert "is not a cexledger archive" in open_error(f"sqlite:///{path}")
    assert path.read_bytes() == content


def test_a_foreign_postgresql_database_is_refused_and_left_alone(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id serial PRIMARY KEY, total numeric)")
        conn.exec_driver_sql("INSERT INTO invoices (total) VALUES (12.50)")
    try:
        message = open_error(postgres_url)
        assert "is not a cexledger archive" in message and "invoices" in message
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == ["invoices"]
            assert conn.exec_driver_sql("SELECT total FROM invoices").scalar() == Decimal("12.50")
    finally:
        engine.dispose()


def test_an_existing_archive_and_an_empty_database_are_adopted(archive_url: str) -> None:
    with Archive.open(archive_url) as archive:  # empty: becomes an archive
        archive.write_page(KEY, [make_record(1)])
    with Archive.open(archive_url) as archive:  # ours: opened as before
        assert archive.count_records() == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    with Archive.open(f"sqlite:///{tmp_path / 'a.db'}") as archive:
        with archive._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_reopening_a_current_database_does_no_migration_work(archive_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Archive.open(archive_url) as archive:
        archive.write_page(KEY, [make_record(1)])

    def must_not_run(engine: sa.Engine) -> None:
        raise AssertionError("migration attempted on a current database")

    monkeypatch.setattr(migrate, "_upgrade", must_not_run)
    with Archive.open(archive_url) as archive:
        assert archive.count_records() == 1
        with archive._engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD


def test_a_schema_from_a_newer_version_is_refused(archive_url: str) -> None:
    Archive.open(archive_url).close()
    engine = sa.create_engine(archive_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999'")
    engine.dispose()
    assert "newer cexledger" in open_error(archive_url)


def test_head_constant_matches_the_migration_scripts() -> None:
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_heads() == [migrate.HEAD]


def test_migrated_schema_matches_the_table_definitions(archive: Archive) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cexledger.archive.schema import metadata

    with archive._engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE, "compare_type": True})
        differences = compare_metadata(context, metadata)
    # PostgreSQL checks these two foreign keys by triggers instead (migration 0004)
    replaced = {("entries", ("stream_id", "record_id"), "records"), ("records", ("stream_id",), "streams")}
    expected = replaced if archive._engine.dialect.name == "postgresql" else set()
    assert all(d[0] == "add_fk" for d in differences), differences
    assert {(d[1].parent.name, tuple(d[1].column_keys), d[1].referred_table.name) for d in differences} == expected


def test_urls_and_display(archive_url: str) -> None:
    with Archive.open(archive_url) as archive:
        assert archive.url == archive_url
        assert archive.display_url in repr(archive)


def test_plain_postgresql_scheme_means_psycopg(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with Archive.open(plain) as archive:
        assert archive.url == plain
        assert archive.display_url.startswith("postgresql+psycopg://")
        archive.write_page(KEY, [make_record(1)])
        assert archive.count_records() == 1


def test_display_url_masks_the_password(postgres_url: str) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:pa55word@")  # trust auth ignores it
    with Archive.open(with_password) as archive:
        assert "pa55word" not in archive.display_url and ":***@" in archive.display_url
        assert archive.url == with_password


def test_default_url_is_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data" / "cexledger"
    monkeypatch.setattr("platformdirs.user_data_dir", lambda appname: str(data_dir))
    assert default_url() == f"sqlite:///{data_dir / 'archive.db'}"
    assert not (tmp_path / "data").exists()  # naming the default creates nothing
    with pytest.raises(ArchiveError, match="no archive at"):
        Archive.open(create=False)
    assert not (tmp_path / "data").exists()
    with Archive.open() as archive:  # creating the archive creates its directories
        assert archive.url == default_url()
        archive.write_page(KEY, [make_record(1)])
    assert (data_dir / "archive.db").is_file()


def test_create_false_refuses_a_missing_sqlite_file_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "archive.db"
    message = open_error(f"sqlite:///{path}", create=False)
    assert message == f"no archive at {path} (run `cexledger sync` first)"
    assert list(tmp_path.iterdir()) == []


def test_create_false_refuses_an_empty_database_and_leaves_it_empty(archive_url: str, tmp_path: Path) -> None:
    if archive_url.startswith("sqlite"):
        (tmp_path / "archive.db").touch()  # an existing, empty file
    assert "no archive at" in open_error(archive_url, create=False)
    engine = sa.create_engine(archive_url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
    if archive_url.startswith("sqlite"):
        assert [(p.name, p.stat().st_size) for p in tmp_path.iterdir()] == [("archive.db", 0)]


def test_create_false_opens_an_existing_archive(archive_url: str) -> None:
    with Archive.open(archive_url) as archive:
        archive.write_page(KEY, [make_record(1)])
    with Archive.open(archive_url, create=False) as archive:
        assert archive.count_records() == 1
