"""cexledger: archive Bitget and CoinW account history exactly, before the exchange forgets it.

As a library::

    import cexledger

    cexledger.sync(config="cexledger.toml", db="archive.db")     # what `cexledger sync` does
    with cexledger.open("archive.db") as led:                    # read-only, never creates
        df = led.to_pandas(since="2026-01-01", until="2027-01-01")

(:mod:`cexledger.ledger.reader`, :mod:`cexledger.api`.)

``sync`` and ``reparse`` also name modules of the package (``cexledger.sync``, the sync
engine; ``cexledger.reparse``): as attributes of the package they are always the functions
(importing those modules does not rebind them), and the modules are reached as ``from
cexledger.sync import …`` (never ``import cexledger.sync as …``, which gives the function).

Importing the package runs no other module: the command's entry point (``_entry``) must be
in control, handling Ctrl-C, before anything slow is imported. The public names below are
imported on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False   # not ``typing``'s: importing typing alone costs tens of milliseconds

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "open",
    "sync",
    "sync_async",
    "reparse",
    "AccountResult",
    "Ledger",
    "LedgerClosedError",
    "MissingExtraError",
    "NoArchiveError",
    "OutdatedEntriesError",
    "RawRecord",
    "StreamStatus",
    "ArchiveError",
    "ArchiveLockedError",
    "CexledgerError",
    "ConfigError",
    "ExchangeError",
    "FatalAccountError",
    "FatalStreamError",
    "IdentityError",
    "RetriableError",
    "Kind",
    "LedgerEntry",
    "Record",
    "StreamKey",
]

#: Where each public name is defined: ``module`` or ``module:name there``.
_HOME = {
    "open": "ledger.reader:open_ledger",
    "sync": "api",
    "sync_async": "api",
    "reparse": "api",
    "AccountResult": "api",
    "Ledger": "ledger.reader",
    "LedgerClosedError": "ledger.reader",
    "MissingExtraError": "ledger.reader",
    "NoArchiveError": "errors",
    "OutdatedEntriesError": "ledger.current",
    "RawRecord": "ledger.reader",
    "StreamStatus": "ledger.reader",
    "ArchiveError": "errors",
    "ArchiveLockedError": "errors",
    "CexledgerError": "errors",
    "ConfigError": "errors",
    "ExchangeError": "errors",
    "FatalAccountError": "errors",
    "FatalStreamError": "errors",
    "IdentityError": "errors",
    "RetriableError": "errors",
    "Kind": "model",
    "LedgerEntry": "model",
    "Record": "model",
    "StreamKey": "model",
}

if TYPE_CHECKING:
    from .api import AccountResult, reparse, sync, sync_async
    from .errors import NoArchiveError
    from .ledger.current import OutdatedEntriesError
    from .ledger.reader import Ledger, LedgerClosedError, MissingExtraError, RawRecord, StreamStatus
    from .ledger.reader import open_ledger as open
    from .errors import (
        ArchiveError,
        ArchiveLockedError,
        CexledgerError,
        ConfigError,
        ExchangeError,
        FatalAccountError,
        FatalStreamError,
        IdentityError,
        RetriableError,
    )
    from .model import Kind, LedgerEntry, Record, StreamKey


import sys as _sys

_MODULE = type(_sys)
#: Public functions named like one of the package's modules (see the module docstring).
_FUNCTIONS = frozenset({"sync", "reparse"})


class _Package(_MODULE):
    def __setattr__(self, name: str, value: object) -> None:
        if name in _FUNCTIONS and isinstance(value, _MODULE):
            return      # the import system binding the submodule: the function keeps the name
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'cexledger' has no attribute {name!r}")
    from importlib import import_module

    module, _, attr = home.partition(":")
    value = getattr(import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
