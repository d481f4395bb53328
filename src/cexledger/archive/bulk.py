"""Bulk reads for exports: rows straight from the driver, a batch at a time.

An export of a million rows spends its time per row, so these reads skip everything that
costs per row on top of the driver: SQLAlchemy ``Row`` objects, result processors, the
join with ``streams`` (the stream id is returned; :func:`stream_keys` maps it once) and
``Decimal`` (amounts are selected as their canonical text, which SQLite stores and
PostgreSQL's ``numeric::text`` gives for the canonical values the archive writes).

Batches are plain lists of driver tuples, streamed: SQLite steps its cursor as batches are
taken, PostgreSQL uses a server-side (named) cursor, so memory stays flat however large
the archive is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from ..model import StreamKey
from .prepared import Prepared
from .queries import ENTRY_ORDER, RECORD_ORDER, Shadow, ledger_kept
from .schema import entries, records, streams

__all__ = ["ENTRY_COLUMNS", "REPORT_COLUMNS", "batches", "entry_columns", "record_lines", "report_columns",
           "stream_keys"]

BATCH = 5_000

_s = streams.c
_r = records.c
_e = entries.c

#: What :func:`entry_columns` selects, in order.
ENTRY_COLUMNS = ("ts", "stream_id", "record_id", "seq", "kind", "coin", "amount", "balance",
                 "category", "symbol", "exchange_type")


def _prepared(select: Any, stream_id: sa.Column[int], account: str | None, exchange: str | None,
              first: Sequence[tuple[str, Any]] = ()) -> tuple[Prepared, list[Any]]:
    """``select(dialect_name)`` limited to the streams of ``account`` and ``exchange`` (when
    given); ``first`` names the (name, value) of the bind parameters ``select`` itself
    binds, which come before those in the statement."""
    wanted = [(name, value) for name, value in (("account", account), ("exchange", exchange)) if value is not None]

    def build(module: Any) -> sa.Select[Any]:
        stmt = select(module.__name__.rpartition(".")[2])       # "sqlite" or "postgresql"
        if wanted:
            chosen = sa.select(_s.id).where(*(getattr(_s, name) == sa.bindparam(name) for name, _ in wanted))
            stmt = stmt.where(stream_id.in_(chosen.scalar_subquery()))
        return stmt

    binds = [*first, *wanted]
    return Prepared(build, [name for name, _ in binds]), [value for _, value in binds]


def _time_bounds(since_ms: int | None, until_ms: int | None) -> list[tuple[str, int]]:
    return [(name, value) for name, value in (("since_ms", since_ms), ("until_ms", until_ms))
            if value is not None]


def _within(stmt: sa.Select[Any], ts: sa.Column[int], bounds: list[tuple[str, int]]) -> sa.Select[Any]:
    """``stmt`` limited to ``since_ms <= ts < until_ms`` (the bounds given)."""
    for name, _ in bounds:
        stmt = stmt.where(ts >= sa.bindparam(name) if name == "since_ms" else ts < sa.bindparam(name))
    return stmt


def record_lines(account: str | None, exchange: str | None, since_ms: int | None = None,
                 until_ms: int | None = None) -> tuple[Prepared, list[Any]]:
    """(stream_id, record_id, raw) of latest versions with ``since_ms <= ts < until_ms``, in
    ``RECORD_ORDER`` (by stream key, ts, record_id, as ``Archive.iter_records``)."""
    bounds = _time_bounds(since_ms, until_ms)
    return _prepared(
        lambda _dialect: _within(sa.select(_r.stream_id, _r.record_id, _r.raw)
                                 .join(streams, _s.id == _r.stream_id)
                                 .order_by(*RECORD_ORDER), _r.ts, bounds),
        _r.stream_id, account, exchange, bounds)


def entry_columns(account: str | None, exchange: str | None,
                  shadows: Sequence[Shadow] = (), since_ms: int | None = None,
                  until_ms: int | None = None) -> tuple[Prepared, list[Any]]:
    """:data:`ENTRY_COLUMNS` of every entry with ``since_ms <= ts < until_ms``, in
    ``ENTRY_ORDER`` (that of ``Archive.iter_entries``); amounts as canonical text. With
    ``shadows``, the ledger's entries only (:func:`.queries.ledger_excluded`)."""
    text = sa.Text()
    bounds = _time_bounds(since_ms, until_ms)

    def select(dialect: str) -> sa.Select[Any]:
        stmt = (sa.select(_e.ts, _e.stream_id, _e.record_id, _e.seq, _e.kind, _e.coin,
                          sa.cast(_e.amount, text), sa.cast(_e.balance, text),
                          _e.category, _e.symbol, _e.exchange_type)
                .order_by(*ENTRY_ORDER))
        stmt = _within(stmt, _e.ts, bounds)
        kept = ledger_kept(shadows, _e.stream_id, _e.ts, dialect)
        return stmt if kept is None else stmt.where(kept)

    return _prepared(select, _e.stream_id, account, exchange, bounds)


#: What :func:`report_columns` selects, in order.
REPORT_COLUMNS = ("ts", "stream_id", "kind", "coin", "amount", "symbol")


def report_columns(account: str | None, exchange: str | None, shadows: Sequence[Shadow] = (),
                   since_ms: int | None = None, until_ms: int | None = None,
                   left_out: Sequence[str] = ()) -> tuple[Prepared, list[Any]]:
    """:data:`REPORT_COLUMNS` of the ledger's entries (the rule of :func:`entry_columns`) with
    ``since_ms <= ts < until_ms``, in no order (the report aggregates them), amounts as
    canonical text; entries whose kind is one of ``left_out`` (constants, written into the
    SQL) are not read."""
    text = sa.Text()
    bounds = _time_bounds(since_ms, until_ms)
    skipped = [sa.literal_column("'" + kind.replace("'", "''") + "'") for kind in left_out]

    def select(dialect: str) -> sa.Select[Any]:
        stmt = sa.select(_e.ts, _e.stream_id, _e.kind, _e.coin, sa.cast(_e.amount, text).label("amount"),
                         _e.symbol)
        stmt = _within(stmt, _e.ts, bounds)
        if skipped:
            stmt = stmt.where(_e.kind.not_in(skipped))
        kept = ledger_kept(shadows, _e.stream_id, _e.ts, dialect)
        return stmt if kept is None else stmt.where(kept)

    return _prepared(select, _e.stream_id, account, exchange, bounds)


def stream_keys(conn: sa.Connection) -> dict[int, StreamKey]:
    """Every stream id with its key."""
    rows = conn.execute(sa.select(_s.id, _s.account, _s.exchange, _s.stream, _s.partition))
    return {row.id: StreamKey(row.account, row.exchange, row.stream, row.partition) for row in rows}


def batches(conn: sa.Connection, statement: Prepared, params: list[Any]) -> Iterator[tuple[dict[int, StreamKey], list[tuple[Any, ...]]]]:
    """The statement's rows as driver tuples, :data:`BATCH` at a time, streamed, each batch
    with the stream id -> key map.

    The map is read *after* the rows' query has started, so it knows every stream the rows
    can name: on PostgreSQL each statement has its own snapshot (READ COMMITTED), and a
    stream a sync commits in between would otherwise have rows but no key. Streams are never
    deleted, so a later map is a superset.
    """
    if not conn.in_transaction():
        conn.begin()          # the rows and the map in one transaction (a snapshot on SQLite)
    dialect = conn.dialect.name
    if dialect == "postgresql":
        cursor = conn.connection.cursor(name="cexledger_export")
    else:
        cursor = conn.connection.cursor()
    try:
        cursor.execute(statement.sql(dialect), params)
        keys = stream_keys(conn)
        while batch := cursor.fetchmany(BATCH):
            yield keys, batch
    finally:
        cursor.close()
