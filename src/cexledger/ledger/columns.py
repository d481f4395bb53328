"""The ledger's entries as Arrow columns, a batch at a time: what the CSV and Parquet exports
and the library's ``to_arrow()`` share.

The rows are the ledger's: no movement counted twice (the rule:
:func:`cexledger.archive.queries.ledger_excluded`, applied in the query). They come from
:meth:`Archive.arrow_batches` as Arrow columns (read in C on SQLite, see
:mod:`cexledger.archive.arrow`), and the stream id becomes account, exchange and stream with
one ``take`` per column: no Python object per value on SQLite, which is what lets a million
rows export in seconds.

:data:`ENTRY_SCHEMA` is the typed table (Parquet's, ``to_arrow()``'s): amounts
``decimal128(38, 18)``, exact for every value with at most 18 decimals and 20 integer digits
(any exchange amount); a value that does not fit raises :class:`AmountRangeError` rather
than being rounded (Arrow's cast from the archived text refuses to lose a digit). Time is
``timestamp[ms, UTC]``, ids are strings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..archive import Archive
from ..archive import bulk
from ..archive.bulk import ENTRY_COLUMNS
from ..errors import CexledgerError
from ..model import Kind, StreamKey
from .filters import Filters

__all__ = ["AmountRangeError", "ENTRY_SCHEMA", "entry_columns", "entry_table"]

_STRING = pa.string()
_KINDS = pa.array([kind.value for kind in Kind], _STRING)
_TYPES = {"ts": pa.int64(), "stream_id": pa.int64(), "seq": pa.int32()}
_ROWS = pa.schema([  # the rows as read (amounts as text); nullable columns may be NULL
    pa.field(name, _TYPES.get(name, _STRING),
             name in ("coin", "balance", "category", "symbol", "exchange_type"))
    for name in ENTRY_COLUMNS])
_AMOUNT = pa.decimal128(38, 18)
_TIME = pa.timestamp("ms", tz="UTC")

ENTRY_SCHEMA = pa.schema([
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


class AmountRangeError(CexledgerError):
    """An amount does not fit ``decimal128(38, 18)`` exactly (see the module docstring)."""


class _Streams:
    """stream id -> account / exchange / stream, as Arrow arrays to ``take`` from."""

    def __init__(self, keys: dict[int, StreamKey]) -> None:
        self.ids = pa.array(list(keys), pa.int64())
        self.columns = {
            name: pa.array([getattr(key, name) for key in keys.values()], _STRING)
            for name in ("account", "exchange", "stream")
        }

    def expand(self, stream_ids: pa.Array) -> dict[str, pa.Array]:
        where = pc.index_in(stream_ids, value_set=self.ids)
        if where.null_count:
            raise RuntimeError("an entry names a stream missing from the stream map")
        return {name: values.take(where) for name, values in self.columns.items()}


def entry_columns(archive: Archive, filters: Filters = Filters()) -> Iterator[dict[str, pa.Array]]:
    """Batches of the entries ``filters`` select, in ledger order, as ``{column:
    pyarrow.Array}``: the columns of :data:`~cexledger.archive.bulk.ENTRY_COLUMNS` (amounts
    as exact text) plus ``account``, ``exchange`` and ``stream``. The ledger's entries only: a
    movement two streams both archived (Bitget's financial and tax records) is in once. A
    batch the kind filter empties is not yielded."""
    from ..exchanges import ledger_shadows

    statement, params = bulk.entry_columns(filters.account, filters.exchange, ledger_shadows(),
                                           filters.since_ms, filters.until_ms)
    streams: _Streams | None = None
    for batch in archive.arrow_batches(statement, params, _ROWS, bulk.BATCH):  # memory stays flat
        if streams is None:          # after the rows' query started: it knows their streams
            streams = _Streams(archive.stream_keys())
        columns = {name: batch.column(name) for name in ENTRY_COLUMNS}
        columns.update(streams.expand(columns["stream_id"]))
        kind = columns["kind"]       # as read_entries reads it: unknown text is "other"
        columns["kind"] = pc.if_else(pc.is_in(kind, value_set=_KINDS), kind, Kind.OTHER.value)
        if filters.kind is not None:
            wanted = pc.equal(columns["kind"], filters.kind.value)
            columns = {name: values.filter(wanted) for name, values in columns.items()}
            if not len(columns["ts"]):
                continue
        yield columns


def entry_table(columns: dict[str, pa.Array], fix: str) -> pa.Table:
    """One batch of :func:`entry_columns` as a table of :data:`ENTRY_SCHEMA`; an amount that
    does not fit raises :class:`AmountRangeError` ending with ``fix`` (what to do instead)."""
    cells = dict(columns, time=columns["ts"].cast(_TIME))
    try:
        for name in ("amount", "balance"):
            cells[name] = cells[name].cast(_AMOUNT)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise AmountRangeError(
            f"an amount does not fit decimal(38, 18) exactly ({exc}); {fix}"
        ) from None
    return pa.Table.from_arrays([cells[field.name] for field in ENTRY_SCHEMA], schema=ENTRY_SCHEMA)
