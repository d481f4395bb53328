"""The job queue's schema in the archive's PostgreSQL database (``cexledger.worker.schema``):
installed on a new database, upgraded from an older procrastinate's schema by replaying the
migrations procrastinate ships, left alone when current, refused in one line when newer,
and installed once when several processes start at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cexledger.errors import ArchiveError
from cexledger.worker.app import conninfo_of
from cexledger.worker.schema import RUNS_TABLE, VERSION_TABLE, ensure_queue_schema, installed_version

OLD_VERSION = "3.0.2"
OLD_SCHEMA = Path(__file__).parent.parent / "fixtures" / "procrastinate" / f"schema-{OLD_VERSION}.sql"

# What a schema is made of, as PostgreSQL describes it: equal descriptions, equal schemas.
_DESCRIBE = {
    "columns": """SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
                    FROM information_schema.columns WHERE table_schema = 'public'
                     AND table_name LIKE 'procrastinate%' ORDER BY 1, 2""",
    "indexes": """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
                     AND tablename LIKE 'procrastinate%' ORDER BY 1""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                        FROM pg_constraint WHERE conrelid::regclass::text LIKE 'procrastinate%'
                       ORDER BY 1, 2""",
    "functions": """SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate%' ORDER BY 1""",
    "triggers": """SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
                    WHERE tgname LIKE 'procrastinate%' ORDER BY 1""",
    "enums": """SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t
                  JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typname LIKE 'procrastinate%'
                 GROUP BY 1 ORDER BY 1""",
}


@pytest.fixture
def databases(postgres_server) -> Iterator:
    """new() -> the SQLAlchemy URL of a fresh empty database; all dropped after the test."""
    made: list[str] = []

    def new() -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_server.admin_conninfo, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return postgres_server.url(name)

    yield new
    with psycopg.connect(postgres_server.admin_conninfo, autocommit=True) as admin:
        for name in made:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def describe(conninfo: str) -> dict[str, list[tuple]]:
    with psycopg.connect(conninfo) as conn:
        return {what: conn.execute(sql).fetchall() for what, sql in _DESCRIBE.items()}


def recorded(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchall()


def install_old(conninfo: str) -> None:
    """The database as a cexledger with procrastinate 3.0.2 left it (before the job runs
    table had its error columns)."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(OLD_SCHEMA.read_text(encoding="utf-8"))
        conn.execute(f"CREATE TABLE {VERSION_TABLE} (version text NOT NULL)")
        conn.execute(f"INSERT INTO {VERSION_TABLE} VALUES (%s)", (OLD_VERSION,))
        conn.execute(f"CREATE TABLE {RUNS_TABLE} (job_id bigint PRIMARY KEY, account text NOT NULL, "
                     "host text NOT NULL, pid integer NOT NULL, started timestamptz NOT NULL DEFAULT now())")
        conn.execute(f"INSERT INTO {RUNS_TABLE} (job_id, account, host, pid) VALUES (1, 'a', 'h', 7)")
        conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status) "
                     "VALUES ('cexledger', 'cexledger.sync_account', 'l', '{\"account\": \"a\"}', 'todo')")


def test_an_older_schema_is_upgraded_to_the_installed_one(databases) -> None:
    fresh, old = conninfo_of(databases()), conninfo_of(databases())
    ensure_queue_schema(fresh)
    install_old(old)
    before = describe(old)
    assert before != describe(fresh)            # the old schema really is older
    assert "procrastinate_workers" not in {t for t, *_ in before["columns"]}

    ensure_queue_schema(old)

    assert describe(old) == describe(fresh)
    assert recorded(old) == [(installed_version(),)]
    with psycopg.connect(old) as conn:         # the data survives the upgrade
        assert conn.execute("SELECT args->>'account', status::text FROM procrastinate_jobs").fetchall() \
            == [("a", "todo")]
        assert conn.execute(f"SELECT job_id, account, error FROM {RUNS_TABLE}").fetchall() == [(1, "a", None)]


def test_a_current_schema_is_left_alone(databases) -> None:
    conninfo = conninfo_of(databases())
    ensure_queue_schema(conninfo)
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status) "
                     "VALUES ('cexledger', 't', '{}', 'todo')")
    first = describe(conninfo)
    ensure_queue_schema(conninfo)
    assert describe(conninfo) == first
    assert recorded(conninfo) == [(installed_version(),)]
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone() == (1,)


def test_a_newer_schema_is_refused_in_one_line_and_not_changed(databases) -> None:
    conninfo = conninfo_of(databases())
    ensure_queue_schema(conninfo)
    with psycopg.connect(conninfo) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = '99.1.0'")
    before = describe(conninfo)
    with pytest.raises(ArchiveError) as caught:
        ensure_queue_schema(conninfo)
    message = str(caught.value)
    assert "\n" not in message
    assert f"made by procrastinate 99.1.0, newer than this machine's {installed_version()}" in message
    assert "pip install -U 'cexledger[workers]'" in message
    assert describe(conninfo) == before and recorded(conninfo) == [("99.1.0",)]


def test_foreign_procrastinate_tables_are_refused(databases) -> None:
    conninfo = conninfo_of(databases())
    with psycopg.connect(conninfo) as conn:
        conn.execute(OLD_SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(ArchiveError, match="procrastinate tables cexledger did not install"):
        ensure_queue_schema(conninfo)


def test_processes_starting_at_once_install_it_once(databases) -> None:
    conninfo = conninfo_of(databases())
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def install() -> None:
        start.wait()
        try:
            ensure_queue_schema(conninfo)
        except BaseException as exc:  # noqa: BLE001 - collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert recorded(conninfo) == [(installed_version(),)]
