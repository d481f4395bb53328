"""cexledger: archive Bitget and CoinW account history exactly, before the exchange forgets it.

Importing the package is cheap (the command's entry point runs right after it, see
``_entry``): the model types are imported on first use.
"""

from __future__ import annotations

from .errors import (
    ArchiveError,
    ArchiveLockedError,
    CexledgerError,
    ConfigError,
    ExchangeError,
    FatalAccountError,
    FatalStreamError,
    RetriableError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ArchiveError",
    "ArchiveLockedError",
    "CexledgerError",
    "ConfigError",
    "ExchangeError",
    "FatalAccountError",
    "FatalStreamError",
    "RetriableError",
    "Kind",
    "LedgerEntry",
    "Record",
    "StreamKey",
]


_LAZY = {"Kind", "LedgerEntry", "Record", "StreamKey"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'cexledger' has no attribute {name!r}")
