"""Archived entries as Arrow columns, a batch at a time: what the CSV and Parquet exports share.

The rows are the ledger's: no movement counted twice (the rule:
:func:`cexledger.archive.queries.ledger_excluded`, applied in the query). They come from
:meth:`Archive.entry_batches` as plain driver tuples; each batch is
turned into columns in C (``zip``, ``pyarrow.array``), and the stream id becomes account,
exchange and stream with one ``take`` per column. No Python object is built per value
beyond the ones the driver returns, which is what lets a million rows export in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from ..archive import Archive
from ..archive.bulk import ENTRY_COLUMNS
from ..model import Kind, StreamKey

__all__ = ["entry_columns"]

_STRING = pa.string()
_KINDS = pa.array([kind.value for kind in Kind], _STRING)
_TYPES = {"ts": pa.int64(), "stream_id": pa.int64(), "seq": pa.int32()}


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


def entry_columns(archive: Archive, *, account: str | None = None, exchange: str | None = None,
                  since_ms: int | None = None, until_ms: int | None = None) -> Iterator[dict[str, pa.Array]]:
    """Batches of entries in export order as ``{column: pyarrow.Array}``: the columns of
    :data:`~cexledger.archive.bulk.ENTRY_COLUMNS` (amounts as exact text) plus ``account``,
    ``exchange`` and ``stream``. The ledger's entries only: a movement two streams both
    archived (Bitget's financial and tax records) is in once."""
    from ..exchanges import ledger_shadows

    streams: _Streams | None = None
    for keys, batch in archive.entry_batches(account=account, exchange=exchange, shadows=ledger_shadows(),
                                                 since_ms=since_ms, until_ms=until_ms):
        if streams is None:
            streams = _Streams(keys)
        columns = {
            name: pa.array(values, _TYPES.get(name, _STRING))
            for name, values in zip(ENTRY_COLUMNS, zip(*batch))
        }
        columns.update(streams.expand(columns["stream_id"]))
        kind = columns["kind"]       # as Archive.iter_entries reads it: unknown text is "other"
        columns["kind"] = pc.if_else(pc.is_in(kind, value_set=_KINDS), kind, Kind.OTHER.value)
        yield columns
