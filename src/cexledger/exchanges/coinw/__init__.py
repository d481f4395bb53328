"""CoinW futures (perpetual) connector: signing, client, normalization."""

from __future__ import annotations

from .auth import CoinwAuth, CoinwCredentials, sign
from .client import COINW_CODES, CoinwClient
from .normalize import coinw_record, is_forced_close

__all__ = [
    "COINW_CODES",
    "CoinwAuth",
    "CoinwClient",
    "CoinwCredentials",
    "coinw_record",
    "is_forced_close",
    "sign",
]
