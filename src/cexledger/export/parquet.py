"""Parquet of the normalized ledger entries (the same rows and order as the CSV export).

Amounts are ``decimal128(38, 18)``: exact for every value with at most 18 decimals and 20
integer digits (any exchange amount); a value that does not fit stops the export with a
one-line error rather than being rounded. Time is ``timestamp[ms, UTC]``, ids are strings.
Rows are written in row groups of ``BATCH`` so memory stays flat however large the archive.
"""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..archive import Archive
from ..errors import CexledgerError

__all__ = ["write_parquet", "PARQUET_SCHEMA"]

BATCH = 65_536
_AMOUNT = pa.decimal128(38, 18)
PARQUET_SCHEMA = pa.schema([
    ("time", pa.timestamp("ms", tz="UTC")),
    ("account", pa.string()),
    ("exchange", pa.string()),
    ("stream", pa.string()),
    ("category", pa.string()),
    ("symbol", pa.string()),
    ("coin", pa.string()),
    ("kind", pa.string()),
    ("amount", _AMOUNT),
    ("fee", _AMOUNT),
    ("balance", _AMOUNT),
    ("exchange_type", pa.string()),
    ("record_id", pa.string()),
    ("seq", pa.int32()),
])
_FIELDS = ("ts", "account", "exchange", "stream", "category", "symbol", "coin", "kind",
           "amount", "fee", "balance", "exchange_type", "record_id", "seq")


def _flush(writer: pq.ParquetWriter, columns: list[list]) -> None:
    try:
        arrays = [pa.array(col, type=field.type) for col, field in zip(columns, PARQUET_SCHEMA)]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CexledgerError(
            f"an amount does not fit Parquet decimal(38, 18) exactly ({exc}); use --format csv"
        ) from None
    writer.write_table(pa.Table.from_arrays(arrays, schema=PARQUET_SCHEMA))


def write_parquet(archive: Archive, out: BinaryIO, *, account: str | None = None,
                  exchange: str | None = None) -> int:
    count = 0
    columns: list[list] = [[] for _ in _FIELDS]
    appenders = [c.append for c in columns]
    with pq.ParquetWriter(out, PARQUET_SCHEMA, compression="zstd") as writer:
        for e in archive.iter_entries(account=account, exchange=exchange):
            values = (e.ts, e.account, e.exchange, e.stream, e.category, e.symbol, e.coin,
                      e.kind.value, e.amount, e.fee, e.balance, e.exchange_type, e.record_id, e.seq)
            for append, value in zip(appenders, values):
                append(value)
            count += 1
            if len(columns[0]) >= BATCH:
                _flush(writer, columns)
                for c in columns:
                    c.clear()
        if columns[0] or count == 0:
            _flush(writer, columns)
    return count
