"""Parquet of the normalized ledger entries (the same rows and order as the CSV export).

The columns are the ledger table's (:mod:`cexledger.ledger.columns`): amounts
``decimal128(38, 18)``, exact; a value that does not fit stops the export with a one-line
error rather than being rounded. Time is ``timestamp[ms, UTC]``, ids are strings. Row groups of at least
``ROW_GROUP`` rows (the last one may be shorter); memory stays flat however large the
archive.
"""

from __future__ import annotations

from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from ..archive import Archive
from ..ledger.columns import ENTRY_SCHEMA, entry_columns, entry_table
from ..ledger.filters import Filters
from ._pipeline import Pipeline, WholeWrites

__all__ = ["write_parquet", "PARQUET_SCHEMA", "UNIT"]

UNIT = "rows"
"""What :func:`write_parquet` counts."""

ROW_GROUP = 65_536
PARQUET_SCHEMA = ENTRY_SCHEMA
"""The file's columns: the ledger table's (:data:`cexledger.ledger.columns.ENTRY_SCHEMA`)."""
_FIX = "use --format csv"


def write_parquet(archive: Archive, out: BinaryIO, *, account: str | None = None,
                  exchange: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int:
    out = WholeWrites(out)
    count = 0
    pending: list[pa.Table] = []
    with pq.ParquetWriter(out, PARQUET_SCHEMA, compression="zstd") as writer, Pipeline() as pipe:
        for columns in entry_columns(archive, Filters(account, exchange, None, since_ms, until_ms)):
            pending.append(entry_table(columns, _FIX))
            count += pending[-1].num_rows
            if sum(t.num_rows for t in pending) >= ROW_GROUP:
                pipe.submit(writer.write_table, pa.concat_tables(pending))
                pending = []
        if pending or count == 0:
            pipe.submit(writer.write_table, pa.concat_tables(pending) if pending else PARQUET_SCHEMA.empty_table())
    return count
