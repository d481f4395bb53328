"""Entries built by an older (or a newer) cexledger are not read as if they were today's.

When a normalizer's rules change (its version goes up), the entries an older version
derived follow the old rules — before Bitget's version 3, a row's fee sat inside its one
entry instead of being an entry of its own — and summing them with today's would give wrong
totals. Until they are re-derived from the archived raw bytes (``cexledger reparse``, or the
next ``sync`` of the account), every read of entries (the CSV, Parquet and tax exports, the
library's tables) refuses them with :class:`OutdatedEntriesError`; so are entries a newer
cexledger's normalizer derived (rules this version does not know). Raw reads (the JSONL
export, ``records``) are unaffected: raw bytes never change.
"""

from __future__ import annotations

from ..archive import Archive
from ..errors import CexledgerError

__all__ = ["CLI_FIX", "LIBRARY_FIX", "OutdatedEntriesError", "require_current"]

CLI_FIX = ("run `cexledger reparse` to re-derive them from the archived raw records "
           "(the next `cexledger sync` also does, for the accounts it syncs)")
LIBRARY_FIX = ("re-derive them from the archived raw records with cexledger.reparse(db) "
               "(a sync of the account also does)")


class OutdatedEntriesError(CexledgerError):
    """Entries an older (or newer) normalizer built would be read (see the module docstring)."""


def require_current(archive: Archive, account: str | None = None, exchange: str | None = None,
                    *, fix: str = CLI_FIX) -> None:
    """Raise :class:`OutdatedEntriesError` when a stream of ``account``/``exchange`` (default
    all) holds entries an older normalizer built; ``fix`` says what to do about it."""
    from ..reparse import newer, outdated

    accounts = None if account is None else [account]
    ahead = [key for key in newer(archive, accounts) if exchange is None or key.exchange == exchange]
    if ahead:
        names = sorted({key.account for key in ahead})
        raise OutdatedEntriesError(
            f"the entries of {len(ahead)} archived stream(s) (account "
            f"{', '.join(repr(a) for a in names)}) were derived by a newer cexledger, by rules "
            "this version does not know: upgrade cexledger to read them"
        )
    stale = [key for key in outdated(archive, accounts)
             if exchange is None or key.exchange == exchange]
    if stale:
        streams = "stream" if len(stale) == 1 else "streams"
        accounts = sorted({key.account for key in stale})
        raise OutdatedEntriesError(
            f"the entries of {len(stale)} archived {streams} (account "
            f"{', '.join(repr(a) for a in accounts)}) were derived by an older cexledger, "
            f"before the ledger convention changed: {fix}"
        )
