"""cexledger: archive Bitget and CoinW account history exactly, before the exchange forgets it."""

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
from .model import Kind, LedgerEntry, Record, StreamKey

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
