"""cexledger: archive Bitget and CoinW account history exactly, before the exchange forgets it.

Importing the package runs no other module: the command's entry point (``_entry``) must be
in control, handling Ctrl-C, before anything slow is imported. The public names below are
imported on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False   # not ``typing``'s: importing typing alone costs tens of milliseconds

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
    "IdentityError",
    "RetriableError",
    "Kind",
    "LedgerEntry",
    "Record",
    "StreamKey",
]

#: Where each public name is defined.
_HOME = {
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


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'cexledger' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
