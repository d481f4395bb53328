"""The ledger's entries read from an archive, fast: the one reader every export, report and
the library's ``entries()`` share.

Rows come from :meth:`Archive.entry_batches` as driver tuples (no SQLAlchemy row, no result
processor), in ledger order (``ts``, account, record id, stream, seq), each movement once
(the ledger rule, ``archive.queries.ledger_excluded``); each becomes a
:class:`~cexledger.model.LedgerEntry` with exact ``Decimal`` amounts. Memory stays flat: the
rows are streamed a batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from ..archive import Archive
from ..model import KIND_OF_TEXT, Kind, LedgerEntry
from .filters import Filters

__all__ = ["read_entries"]

def read_entries(archive: Archive, filters: Filters = Filters()) -> Iterator[LedgerEntry]:
    """The ledger's entries that ``filters`` select, in ledger order."""
    from ..exchanges import ledger_shadows

    kinds, other, dec = KIND_OF_TEXT, Kind.OTHER, Decimal
    wanted = filters.kind
    for keys, batch in archive.entry_batches(shadows=ledger_shadows(), **filters.archive_args()):
        names = {sid: (key.account, key.exchange, key.stream) for sid, key in keys.items()}
        for ts, sid, record_id, seq, kind, coin, amount, balance, category, symbol, exchange_type in batch:
            kind = kinds.get(kind, other)
            if wanted is not None and kind is not wanted:
                continue
            account, exchange, stream = names[sid]
            yield LedgerEntry(account, exchange, stream, record_id, seq, ts, kind, coin, dec(amount),
                              None if balance is None else dec(balance), category, symbol, exchange_type)
