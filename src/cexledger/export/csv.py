"""CSV of the normalized ledger entries of every exchange, side by side.

Columns: ``time`` (ISO 8601 UTC, millisecond precision), ``ts_ms``, ``account``,
``exchange``, ``stream``, ``category``, ``symbol``, ``coin``, ``kind``, ``amount``,
``balance``, ``exchange_type``, ``record_id``, ``seq``: one row per ledger entry, one signed
amount each (the convention: ``cexledger.model``; a fee is a row of kind ``fee``). Amounts
are exact decimal text (no exponent); empty cells mean "not given by the exchange". RFC 4180 with ``\\r\\n``
line ends; a cell is quoted only when it holds a comma, a quote or a line break.

Each batch is written by Arrow's CSV writer; the rare batch with a cell that needs quotes
is written by Python's ``csv`` module instead, so the text is the same either way.
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..archive import Archive
from ..ledger.columns import entry_columns
from ..ledger.filters import Filters
from ._pipeline import Pipeline, WholeWrites

__all__ = ["write_csv", "CSV_COLUMNS", "iso_ms", "UNIT"]

UNIT = "rows"
"""What :func:`write_csv` counts."""

CSV_COLUMNS = (
    "time", "ts_ms", "account", "exchange", "stream", "category", "symbol", "coin", "kind",
    "amount", "balance", "exchange_type", "record_id", "seq",
)
_EOL = "\r\n"
_UNQUOTED = pacsv.WriteOptions(include_header=False, quoting_style="none", eol=_EOL)


def iso_ms(ts: pa.Array) -> pa.Array:
    """Unix milliseconds as ISO 8601 UTC text with milliseconds: ``2026-11-22T07:23:00.123Z``."""
    text = pc.replace_substring(ts.cast(pa.timestamp("ms")).cast(pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, "Z", "")


def _table(columns: dict[str, pa.Array]) -> pa.Table:
    cells = dict(columns, time=iso_ms(columns["ts"]), ts_ms=columns["ts"])
    return pa.table([cells[name] for name in CSV_COLUMNS], names=list(CSV_COLUMNS))


def _text(table: pa.Table) -> bytes:
    """The batch as CSV text: Arrow's writer when no cell needs quotes, else ``csv``'s."""
    sink = pa.BufferOutputStream()
    try:
        pacsv.write_csv(table, sink, _UNQUOTED)
        return sink.getvalue().to_pybytes()
    except pa.ArrowInvalid:
        text = io.StringIO(newline="")
        csv.writer(text, lineterminator=_EOL).writerows(zip(*(column.to_pylist() for column in table.columns)))
        return text.getvalue().encode()


def write_csv(archive: Archive, out: BinaryIO, *, account: str | None = None,
              exchange: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int:
    out = WholeWrites(out)
    out.write((",".join(CSV_COLUMNS) + _EOL).encode())
    count = 0
    with Pipeline() as pipe:
        for columns in entry_columns(archive, Filters(account, exchange, None, since_ms, until_ms)):
            pipe.submit(lambda c: out.write(_text(_table(c))), columns)
            count += len(columns["ts"])
    return count
