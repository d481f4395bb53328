"""Every entry has its record and every record its stream, on both backends: SQLite by its
foreign keys, PostgreSQL by the statement-level triggers of migration 0004 that replaced
them. Each rule is broken the ways a write could break it and must be refused, leaving
the archive as it was; writes that keep the rules pass."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa

from cexledger.archive import Archive
from cexledger.archive.prepared import Cursor
from cexledger.archive.schema import entries, exact_decimal, metadata, records, streams

from .support import KEY, make_record


ENTRY_KEY, RECORD_KEY = "fk_entries_record", "records_stream_id_fkey"


def _assert_refused(exc: BaseException, dialect: str, constraint: str) -> None:
    """The refusal a foreign key gives: on PostgreSQL its SQLSTATE and the old constraint's name."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if dialect == "sqlite":
        assert isinstance(orig, sqlite3.IntegrityError) and "FOREIGN KEY constraint failed" in str(orig), orig
        return
    assert isinstance(orig, psycopg.errors.ForeignKeyViolation), orig
    assert orig.diag.constraint_name == constraint, orig


def _entry(sid: int, record_id: str, seq: int = 0) -> tuple[object, ...]:
    return (sid, record_id, seq, KEY.account, 1_700_000_000_000, "trade", "USDT", Decimal("1.5"), None, None, None, None)


def _record(sid: int, record_id: str) -> tuple[object, ...]:
    return (sid, record_id, 1_700_000_000_000, b"{}", False, 1, 1)


@pytest.fixture
def written(archive: Archive) -> tuple[Archive, int]:
    archive.write_page(KEY, [make_record(i) for i in range(3)])
    with archive._engine.connect() as conn:
        sid = conn.execute(sa.text("SELECT id FROM streams")).scalar_one()
    return archive, sid


def _rows(archive: Archive) -> tuple[list[tuple[object, ...]], ...]:
    """Every row of the three tables, in key order: what a refused write must leave as it was."""
    with archive._engine.connect() as conn:
        return tuple(conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY {order}")).all()
                     for t, order in (("streams", "id"), ("records", "stream_id, record_id"),
                                      ("entries", "stream_id, record_id, seq")))


def _bulk(table: sa.Table, rows: Callable[[int], list[tuple[object, ...]]]) -> Callable[[sa.Connection, int], None]:
    def write(conn: sa.Connection, sid: int) -> None:
        cur = Cursor(conn)      # the write path's bulk insert: COPY on PostgreSQL
        exact = exact_decimal(cur.dialect)
        try:
            cur.insert(table, [tuple(exact(v) if isinstance(v, Decimal) else v for v in row) for row in rows(sid)])
        finally:
            cur.close()
    return write


def _sql(statement: str) -> Callable[[sa.Connection, int], None]:
    return lambda conn, sid: conn.execute(sa.text(statement.format(sid=sid)))


#: each way of orphaning a row, and the constraint PostgreSQL names when it refuses it
BROKEN = {
    "an entry without its record, among good ones":
        (ENTRY_KEY, _bulk(entries, lambda sid: [_entry(sid, "0", 9), _entry(sid, "nope")])),
    "a record of a stream that does not exist":
        (RECORD_KEY, _bulk(records, lambda sid: [_record(sid, "new"), _record(sid + 1, "x")])),
    "an entry moved to a record that does not exist":
        (ENTRY_KEY, _sql("UPDATE entries SET record_id = 'nope' WHERE record_id = '1'")),
    "an entry moved to a stream that does not have its record":
        (ENTRY_KEY, _sql("UPDATE entries SET stream_id = {sid} + 1 WHERE record_id = '1'")),
    "a record deleted under its entries": (ENTRY_KEY, _sql("DELETE FROM records WHERE record_id = '2'")),
    "a record re-keyed under its entries":
        (ENTRY_KEY, _sql("UPDATE records SET record_id = 'other' WHERE record_id = '2'")),
    "a record moved to a stream that does not exist": (RECORD_KEY, _sql("UPDATE records SET stream_id = {sid} + 1")),
    "a stream deleted under its records": (RECORD_KEY, _sql("DELETE FROM streams")),
    "a stream re-keyed under its records": (RECORD_KEY, _sql("UPDATE streams SET id = {sid} + 1")),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_write_that_orphans_a_row_is_refused(written: tuple[Archive, int], case: str) -> None:
    archive, sid = written
    before = _rows(archive)
    constraint, write = BROKEN[case]
    with pytest.raises((sa.exc.IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)) as refused, \
            archive._engine.connect() as conn, conn.begin():
        write(conn, sid)
    _assert_refused(refused.value, archive._engine.dialect.name, constraint)
    assert _rows(archive) == before


def _tied_to(table: sa.Table, checked_by_trigger: sa.Table) -> str:
    """Every table a foreign key still ties to ``table`` (which a truncate of it must include),
    but the one whose key migration 0004 made a trigger on PostgreSQL."""
    return ", ".join(t.name for t in metadata.sorted_tables
                     if t is not checked_by_trigger and any(fk.column.table is table for fk in t.foreign_keys))


_OF_RECORDS, _OF_STREAMS = _tied_to(records, entries), _tied_to(streams, records)


@pytest.mark.parametrize("archive_url", ["postgresql"], indirect=True)   # SQLite has no TRUNCATE
@pytest.mark.parametrize("tables", [f"records, {_OF_RECORDS}", f"streams, {_OF_STREAMS}"])
def test_a_truncate_that_leaves_rows_orphaned_is_refused(written: tuple[Archive, int], tables: str) -> None:
    archive, _ = written
    before = _rows(archive)
    with pytest.raises(sa.exc.NotSupportedError, match="rows of another table still refer to it"), \
            archive._engine.connect() as conn, conn.begin():
        conn.execute(sa.text(f"TRUNCATE {tables}"))
    assert _rows(archive) == before


def test_writes_that_keep_every_row_owned_pass(written: tuple[Archive, int]) -> None:
    archive, sid = written
    streams_, records_, entries_ = (len(rows) for rows in _rows(archive))
    with archive._engine.connect() as conn, conn.begin():
        _bulk(records, lambda s: [_record(s, "new"), _record(s, "lonely")])(conn, sid)
        _bulk(entries, lambda s: [_entry(s, "new"), _entry(s, "0", 9)])(conn, sid)
        conn.execute(sa.text("UPDATE records SET mutable = NOT mutable, raw = :raw"), {"raw": b"[]"})
        conn.execute(sa.text("UPDATE streams SET last_write_ms = 5"))
        conn.execute(sa.text("UPDATE entries SET kind = 'fee' WHERE record_id = 'new'"))
        conn.execute(sa.text("UPDATE entries SET record_id = 'new', seq = 7 WHERE record_id = '0' AND seq = 9"))
        conn.execute(sa.text("UPDATE records SET record_id = 'moved' WHERE record_id = 'lonely'"))
        conn.execute(sa.text("INSERT INTO streams (account, exchange, stream, partition) "
                             "VALUES ('other', 'bitget', 'financial-records', 'SPOT')"))
        conn.execute(sa.text("UPDATE records SET stream_id = (SELECT max(id) FROM streams) WHERE record_id = 'moved'"))
        conn.execute(sa.text("DELETE FROM entries WHERE record_id = 'new' AND seq = 0"))
    streams_after, records_after, entries_after = _rows(archive)
    assert (len(streams_after), len(records_after), len(entries_after)) == (streams_ + 1, records_ + 2, entries_ + 1)
    assert [(r.stream_id, r.record_id) for r in records_after if r.record_id in ("new", "moved")] == \
        [(sid, "new"), (max(s.id for s in streams_after), "moved")]
    assert [(e.record_id, e.seq) for e in entries_after if e.record_id == "new"] == [("new", 7)]
    with archive._engine.connect() as conn, conn.begin():   # all of them at once leaves no orphan
        conn.execute(sa.text("DELETE FROM entries"))
        conn.execute(sa.text("DELETE FROM records"))
        if archive._engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE entries, records, {_OF_RECORDS}, streams, {_OF_STREAMS}"))
    assert _rows(archive)[1:] == ([], [])


@pytest.mark.parametrize("archive_url", ["postgresql"], indirect=True)
def test_postgresql_checks_an_insert_once_and_an_update_of_bytes_not_at_all(written: tuple[Archive, int]) -> None:
    """What the triggers cost: one check per COPY whatever its size, none for the write path's
    per-record updates (their keys do not change)."""
    archive, sid = written
    ids = [f"n{i}" for i in range(40)]
    with archive._engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SET LOCAL track_functions = 'pl'"))
        _bulk(records, lambda s: [_record(s, i) for i in ids])(conn, sid)
        _bulk(entries, lambda s: [_entry(s, i, seq) for i in ids for seq in (0, 1)])(conn, sid)
        conn.execute(sa.text("UPDATE records SET raw = :raw, mutable = true WHERE stream_id = :sid AND record_id = :rid"),
                     [{"raw": i.encode(), "sid": sid, "rid": i} for i in ids])
        conn.execute(sa.text("UPDATE entries SET kind = 'fee' WHERE stream_id = :sid AND record_id = :rid"),
                     [{"sid": sid, "rid": i} for i in ids])
        calls = dict(conn.execute(sa.text(
            "SELECT proname, coalesce(pg_stat_get_xact_function_calls(oid), 0) FROM pg_proc "
            "WHERE proname LIKE 'cexledger\\_%'")).all())
    assert calls.pop("cexledger_entries_have_records") == 1
    assert calls.pop("cexledger_records_have_streams") == 1
    assert set(calls.values()) == {0}, calls


@pytest.mark.parametrize("archive_url", ["postgresql"], indirect=True)
def test_downgrading_0004_restores_the_foreign_keys(written: tuple[Archive, int]) -> None:
    from alembic import command

    from cexledger.archive.migrate import alembic_config

    archive, _ = written

    def state() -> tuple[set[tuple[str, str]], int]:
        with archive._engine.connect() as conn:
            inspector = sa.inspect(conn)
            keys = {(t, fk["name"]) for t in ("entries", "records") for fk in inspector.get_foreign_keys(t)
                    if fk["referred_table"] in ("records", "streams")}
            triggers = conn.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cexledger\\_%'"))
            return keys, triggers.scalar_one()

    assert state() == (set(), 8)
    with archive._engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert state() == ({("entries", ENTRY_KEY), ("records", RECORD_KEY)}, 0)
    with archive._engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
    assert state() == (set(), 8)
