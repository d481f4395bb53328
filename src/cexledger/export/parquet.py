"""Parquet of the normalized ledger entries (the same rows and order as the CSV export).

Amounts are ``decimal128(38, 18)``: exact for every value with at most 18 decimals and 20
integer digits (any exchange amount); a value that does not fit stops the export with a
one-line error rather than being rounded (Arrow's cast from the archived text refuses to
lose a digit). Time is ``timestamp[ms, UTC]``, ids are strings. Row groups of at least
``ROW_GROUP`` rows (the last one may be shorter); memory stays flat however large the
archive.
"""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..archive import Archive
from ..errors import CexledgerError
from ._columns import entry_columns
from ._pipeline import Pipeline, WholeWrites

__all__ = ["write_parquet", "PARQUET_SCHEMA"]

ROW_GROUP = 65_536
_AMOUNT = pa.decimal128(38, 18)
_TIME = pa.timestamp("ms", tz="UTC")
PARQUET_SCHEMA = pa.schema([
    ("time", _TIME),
    ("account", pa.string()),
    ("exchange", pa.string()),
    ("stream", pa.string()),
    ("category", pa.string()),
    ("symbol", pa.string()),
    ("coin", pa.string()),
    ("kind", pa.string()),
    ("amount", _AMOUNT),
    ("balance", _AMOUNT),
    ("exchange_type", pa.string()),
    ("record_id", pa.string()),
    ("seq", pa.int32()),
])


def _table(columns: dict[str, pa.Array]) -> pa.Table:
    cells = dict(columns, time=columns["ts"].cast(_TIME))
    try:
        for name in ("amount", "balance"):
            cells[name] = cells[name].cast(_AMOUNT)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise CexledgerError(
            f"an amount does not fit Parquet decimal(38, 18) exactly ({exc}); use --format csv"
        ) from None
    return pa.Table.from_arrays([cells[field.name] for field in PARQUET_SCHEMA], schema=PARQUET_SCHEMA)


def write_parquet(archive: Archive, out: BinaryIO, *, account: str | None = None,
                  exchange: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int:
    out = WholeWrites(out)
    count = 0
    pending: list[pa.Table] = []
    with pq.ParquetWriter(out, PARQUET_SCHEMA, compression="zstd") as writer, Pipeline() as pipe:
        for columns in entry_columns(archive, account=account, exchange=exchange,
                                     since_ms=since_ms, until_ms=until_ms):
            pending.append(_table(columns))
            count += pending[-1].num_rows
            if sum(t.num_rows for t in pending) >= ROW_GROUP:
                pipe.submit(writer.write_table, pa.concat_tables(pending))
                pending = []
        if pending or count == 0:
            pipe.submit(writer.write_table, pa.concat_tables(pending) if pending else PARQUET_SCHEMA.empty_table())
    return count
