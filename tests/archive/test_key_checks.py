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
from cexledger.archive.schema import entries, exact_decimal, records

from .support import KEY, make_record


#: a refusal as SQLAlchemy raises it, or as the driver does under the write path's own cursor
REFUSED = (sa.exc.IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)


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


def _counts(archive: Archive) -> tuple[int, ...]:
    with archive._engine.connect() as conn:
        return tuple(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("streams", "records", "entries"))


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


BROKEN = {
    "an entry without its record, among good ones": _bulk(entries, lambda sid: [_entry(sid, "0", 9), _entry(sid, "nope")]),
    "a record of a stream that does not exist": _bulk(records, lambda sid: [_record(sid, "new"), _record(sid + 1, "x")]),
    "an entry moved to a record that does not exist": _sql("UPDATE entries SET record_id = 'nope' WHERE record_id = '1'"),
    "a record deleted under its entries": _sql("DELETE FROM records WHERE record_id = '2'"),
    "a record re-keyed under its entries": _sql("UPDATE records SET record_id = 'other' WHERE record_id = '2'"),
    "a record moved to a stream that does not exist": _sql("UPDATE records SET stream_id = {sid} + 1"),
    "a stream deleted under its records": _sql("DELETE FROM streams"),
    "a stream re-keyed under its records": _sql("UPDATE streams SET id = {sid} + 1"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_write_that_orphans_a_row_is_refused(written: tuple[Archive, int], case: str) -> None:
    archive, sid = written
    before = _counts(archive)
    with pytest.raises(REFUSED), archive._engine.connect() as conn, conn.begin():
        BROKEN[case](conn, sid)
    assert _counts(archive) == before


def test_writes_that_keep_every_row_owned_pass(written: tuple[Archive, int]) -> None:
    archive, sid = written
    streams, records_, entries_ = _counts(archive)
    with archive._engine.connect() as conn, conn.begin():
        _bulk(records, lambda s: [_record(s, "new")])(conn, sid)
        _bulk(entries, lambda s: [_entry(s, "new"), _entry(s, "0", 9)])(conn, sid)
        conn.execute(sa.text("UPDATE records SET mutable = NOT mutable, raw = :raw"), {"raw": b"[]"})
        conn.execute(sa.text("UPDATE streams SET last_write_ms = 5"))
        conn.execute(sa.text("UPDATE entries SET kind = 'fee' WHERE record_id = 'new'"))
        conn.execute(sa.text("DELETE FROM entries WHERE record_id = 'new'"))
        conn.execute(sa.text("DELETE FROM records WHERE record_id = 'new'"))
    assert _counts(archive) == (streams, records_, entries_ + 1) == (1, 3, entries_ + 1)
