"""The two statements ``verify`` reads, for ``Archive.arrow_batches``: every entry and every
record of the chosen streams, each in primary-key order (stream, record id; no sort).

Every entry and record is read, not the ledger's (the ledger rule leaves out rows of a
stream another stream covers; a chain is one stream's own rows, all of them). Money is
selected as text and cast exactly in Arrow. CoinW's ``netProfit`` is read from the raw JSON
as the JSON text of the value: SQLite's ``->`` returns a number's text as the exchange wrote
it (``1E-8`` included) and a string's with its quotes; PostgreSQL's ``jsonb -> ... #>> '{}'``
gives a number as ``numeric`` text, exact too, and a string without quotes.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from ..archive.prepared import Prepared
from ..archive.schema import entries, records, streams

__all__ = ["ENTRY_ROWS", "RECORD_ROWS", "entry_rows", "record_rows"]

_s, _r, _e = streams.c, records.c, entries.c
_TEXT = sa.Text()


def _field(name: str, kind: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, kind, nullable=nullable)


ENTRY_ROWS = pa.schema([
    _field("stream_id", pa.int64()), _field("record_id", pa.string()), _field("ts", pa.int64()),
    _field("category", pa.string(), True), _field("coin", pa.string(), True),
    _field("kind", pa.string()), _field("amount", pa.string()), _field("balance", pa.string(), True),
])
"""Entry rows by stream, record id, ``seq``."""

RECORD_ROWS = pa.schema([
    _field("stream_id", pa.int64()), _field("record_id", pa.string()), _field("ts", pa.int64()),
    _field("net", pa.string(), True),
])
"""Record rows by stream and id; ``net`` the JSON text of a CoinW row's ``netProfit``."""


def _chosen(account: str | None, exchange: str | None) -> tuple[Any, list[str], list[Any]]:
    """The condition on ``stream_id`` of the streams of ``account`` and ``exchange``."""
    wanted = [(name, value) for name, value in (("account", account), ("exchange", exchange))
              if value is not None]
    chosen = sa.select(_s.id).where(*(getattr(_s, name) == sa.bindparam(name) for name, _ in wanted))
    return chosen.scalar_subquery(), [name for name, _ in wanted], [value for _, value in wanted]


def entry_rows(account: str | None, exchange: str | None) -> tuple[Prepared, list[Any]]:
    """Every entry of the chosen streams (:data:`ENTRY_ROWS`)."""
    chosen, names, values = _chosen(account, exchange)

    def build(_module: Any) -> sa.Select[Any]:
        return (sa.select(_e.stream_id, _e.record_id, _e.ts, _e.category, _e.coin, _e.kind,
                          sa.cast(_e.amount, _TEXT).label("amount"),
                          sa.cast(_e.balance, _TEXT).label("balance"))
                .where(_e.stream_id.in_(chosen))
                .order_by(_e.stream_id, _e.record_id, _e.seq))
    return Prepared(build, names), values


def _net(module: Any) -> Any:
    if module.__name__.endswith("postgresql"):
        value = "(convert_from(records.raw, 'UTF8')::jsonb -> 'netProfit') #>> '{}'"
    else:
        value = "CAST(records.raw AS TEXT) -> '$.netProfit'"
    coinw = sa.select(_s.id).where(_s.exchange == sa.literal_column("'coinw'", _TEXT))
    return sa.case((_r.stream_id.in_(coinw.scalar_subquery()), sa.literal_column(value, _TEXT)),
                   else_=sa.null())


def record_rows(account: str | None, exchange: str | None) -> tuple[Prepared, list[Any]]:
    """Every record of the chosen streams (:data:`RECORD_ROWS`)."""
    chosen, names, values = _chosen(account, exchange)

    def build(module: Any) -> sa.Select[Any]:
        return (sa.select(_r.stream_id, _r.record_id, _r.ts, _net(module).label("net"))
                .where(_r.stream_id.in_(chosen))
                .order_by(_r.stream_id, _r.record_id))
    return Prepared(build, names), values
