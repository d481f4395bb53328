"""One ledger convention over the archive (``cexledger.model``): selections of entries
(:mod:`.filters`), the fast reader of the ledger's entries (:mod:`.entries`), trades paired
from their legs (:mod:`.pairing`), the guard against entries an older cexledger derived
(:mod:`.current`); imported on use, as they import pyarrow: the entries as Arrow columns and
the typed table (:mod:`.columns`), and the library's read-only view, ``cexledger.open()``
(:mod:`.reader`)."""

from __future__ import annotations

from .current import OutdatedEntriesError, require_current
from .entries import read_entries
from .filters import Filters, kind_of, to_ms
from .pairing import LEG_KINDS, Pairing, Trade

__all__ = ["Filters", "LEG_KINDS", "OutdatedEntriesError", "Pairing", "Trade", "kind_of",
           "read_entries", "require_current", "to_ms"]
