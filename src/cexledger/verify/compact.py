"""Entry rows reduced a batch at a time to one compact row per record: what ``verify`` holds
of a stream, so its memory is about 70 bytes a record, not its entries' text.

Entries come in primary-key order (stream, record id, ``seq``), so a record's entries are
adjacent; a batch's last record may continue in the next batch and waits for it (a few rows
held back). Each record becomes one row of :data:`COMPACT`: its id and ``ts``, the exact sum
of its entries and the balance on its last entry (``decimal(38, 18)``), whether it has a
CoinW result entry, and its *chain code*: the category and coin of its last entry as one
small integer (:class:`ChainCodes`, the same code in every batch). Every other text column is
dropped as the batch is reduced. A record's entries are summed with a few shifted adds (a
record has two or three entries; Arrow's query engine, whose import alone costs about 60 MB,
is not used).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Kind
from .arrays import bools, from_numpy, strings, view
from .chains import MONEY

__all__ = ["AMOUNT", "COMPACT", "ChainCodes", "compact_records", "exact"]

AMOUNT = pa.decimal128(38, 18)
"""Money as held: what the archive's columns hold, exactly."""

COMPACT = pa.schema([
    pa.field("record_id", pa.string(), nullable=False), pa.field("ts", pa.int64(), nullable=False),
    pa.field("chain", pa.int32(), nullable=False), pa.field("sum", AMOUNT, nullable=False),
    pa.field("balance", AMOUNT), pa.field("result", pa.int8(), nullable=False),
])
"""One row per record, in the entries' order (by record id)."""

_RESULT_KINDS = strings([Kind.REALIZED_PNL.value, Kind.LIQUIDATION.value])


def exact(column: pa.Array | pa.ChunkedArray, kind: pa.DataType, what: str) -> pa.Array:
    """``column`` cast to the decimal ``kind``, or the one-line error when a value does not
    fit it exactly (Arrow refuses to round)."""
    try:
        return column.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        from ..ledger.columns import AmountRangeError       # on failure only: it imports pandas
        raise AmountRangeError(f"{what} does not fit decimal(38, 18) exactly ({exc})") from None


class ChainCodes:
    """``(category, coin)`` -> a small integer, numbered as first seen; :attr:`category` and
    :attr:`coin` hold each code's pair (``take`` them by code)."""

    def __init__(self) -> None:
        self._code: dict[tuple[str | None, str | None], int] = {}
        self.category = pa.nulls(0, pa.string())
        self.coin = pa.nulls(0, pa.string())

    def encode(self, category: pa.Array, coin: pa.Array) -> pa.Array:
        """The codes (``int32``) of the pairs ``category[j], coin[j]``."""
        cats = pc.dictionary_encode(category, null_encoding="encode")
        coins = pc.dictionary_encode(coin, null_encoding="encode")
        width = len(coins.dictionary)
        pairs = view(cats.indices).astype(np.int64) * width + view(coins.indices)
        unique, inverse = np.unique(pairs, return_inverse=True)
        codes = np.empty(len(unique), np.int32)
        for j, pair in enumerate(unique.tolist()):
            c, k = divmod(pair, width)
            key = (cats.dictionary[c].as_py(), coins.dictionary[k].as_py())
            code = self._code.get(key)
            if code is None:
                code = self._code[key] = len(self._code)
                self.category = pa.concat_arrays([self.category, cats.dictionary.slice(c, 1)])
                self.coin = pa.concat_arrays([self.coin, coins.dictionary.slice(k, 1)])
            codes[j] = code
        return from_numpy(codes[inverse.reshape(-1)], pa.int32())


def _records(rows: pa.RecordBatch, codes: ChainCodes) -> pa.RecordBatch:
    """The entry rows of whole records of one stream as :data:`COMPACT` rows."""
    n = rows.num_rows
    ids = rows.column("record_id")
    changes = view(pc.indices_nonzero(pc.not_equal(ids[1:], ids[:-1]))).astype(np.int64) + 1
    first = np.concatenate([np.zeros(1, np.int64), changes])
    last = np.concatenate([changes - 1, np.full(1, n - 1, np.int64)])
    counts = last - first + 1
    amount = exact(rows.column("amount"), AMOUNT, "an amount").cast(MONEY)
    at_last = from_numpy(last, pa.int64())
    total = amount.take(at_last)
    for back in range(1, int(counts.max())):              # a record's other entries, adjacent
        earlier = amount.take(from_numpy(np.maximum(last - back, 0), pa.int64()))
        total = pc.if_else(bools(counts > back), pc.add(total, earlier), total).cast(MONEY)
    result = view(pc.is_in(rows.column("kind"), value_set=_RESULT_KINDS).cast(pa.int8()))
    ends = rows.select(["record_id", "ts", "category", "coin", "balance"]).take(at_last)
    return pa.RecordBatch.from_arrays([
        ends.column("record_id"), ends.column("ts"),
        codes.encode(ends.column("category"), ends.column("coin")),
        exact(total, AMOUNT, "a record's entries' sum"),
        exact(ends.column("balance"), AMOUNT, "a balance"),
        from_numpy(np.maximum.reduceat(result, first), pa.int8()),
    ], schema=COMPACT)


def _by_stream(rows: pa.RecordBatch) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``rows`` (sorted by ``stream_id``) cut where the stream changes."""
    sids = view(rows.column("stream_id"))
    bounds = [0, *(np.flatnonzero(np.diff(sids)) + 1).tolist(), len(sids)]
    for a, b in zip(bounds, bounds[1:]):
        yield int(sids[a]), rows.slice(a, b - a)


def stream_pieces(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Batches (sorted by ``stream_id``) as ``(stream id, rows)``, one stream each."""
    for batch in batches:
        yield from _by_stream(batch)


def _last_record(rows: pa.RecordBatch) -> int:
    """How many rows at the end of ``rows`` are of its last record."""
    n = rows.num_rows
    sid, rid = rows.column("stream_id"), rows.column("record_id")
    return pc.sum(pc.and_(pc.equal(sid, sid[n - 1]), pc.equal(rid, rid[n - 1]))).as_py()


def _continuing(batch: pa.RecordBatch, held: pa.RecordBatch) -> int:
    """How many rows at the start of ``batch`` continue the record ``held`` ends with."""
    sid, rid = batch.column("stream_id"), batch.column("record_id")
    same = pc.and_(pc.equal(sid, held.column("stream_id")[0]), pc.equal(rid, held.column("record_id")[0]))
    return pc.sum(same).as_py() if same[0].as_py() else 0


def compact_records(batches: Iterator[pa.RecordBatch], codes: ChainCodes) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Entry rows (by stream, record id, ``seq``) as ``(stream id, COMPACT rows)``, a batch at a
    time: a batch's last record waits for the next batch, where its entries may continue (only
    its rows and their continuation are copied together, never a whole batch)."""
    held: pa.RecordBatch | None = None
    for batch in batches:
        if held is not None:
            more = _continuing(batch, held)
            if more < batch.num_rows:            # the held record ends in this batch
                yield int(held.column("stream_id")[0].as_py()), _records(
                    pa.concat_batches([held, batch.slice(0, more)]), codes)
                held = None
            else:
                held = pa.concat_batches([held, batch])
                continue
            batch = batch.slice(more)
        n = batch.num_rows
        tail = _last_record(batch)
        held = batch.slice(n - tail)
        if n > tail:
            for stream, part in _by_stream(batch.slice(0, n - tail)):
                yield stream, _records(part, codes)
    if held is not None:
        yield int(held.column("stream_id")[0].as_py()), _records(held, codes)
