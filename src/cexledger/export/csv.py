"""CSV of the normalized ledger entries of every exchange, side by side.

Columns: ``time`` (ISO 8601 UTC, millisecond precision), ``ts_ms``, ``account``,
``exchange``, ``stream``, ``category``, ``symbol``, ``coin``, ``kind``, ``amount``, ``fee``,
``balance``, ``exchange_type``, ``record_id``, ``seq``. Amounts are exact decimal text
(no exponent); empty cells mean "not given by the exchange".
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

from .._json import canonical_decimal
from ..archive import Archive

__all__ = ["write_csv", "CSV_COLUMNS"]

CSV_COLUMNS = (
    "time", "ts_ms", "account", "exchange", "stream", "category", "symbol", "coin", "kind",
    "amount", "fee", "balance", "exchange_type", "record_id", "seq",
)


def write_csv(archive: Archive, out: BinaryIO, *, account: str | None = None,
              exchange: str | None = None) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        count = 0
        for e in archive.iter_entries(account=account, exchange=exchange):
            writer.writerow((
                e.time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                e.ts, e.account, e.exchange, e.stream, e.category or "", e.symbol or "",
                e.coin or "", e.kind.value, canonical_decimal(e.amount), canonical_decimal(e.fee),
                "" if e.balance is None else canonical_decimal(e.balance),
                e.exchange_type or "", e.record_id, e.seq,
            ))
            count += 1
        text.flush()
        return count
    finally:
        text.detach()
