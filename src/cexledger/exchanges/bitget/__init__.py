"""Bitget Unified Trading Account (API v3) connector: signing, client, normalization."""

from __future__ import annotations

from .auth import BitgetAuth, BitgetCredentials, sign
from .client import BITGET_CATEGORIES, BITGET_CODES, BITGET_FUTURES_CATEGORIES, BitgetClient
from .normalize import BITGET_KINDS, bitget_kind, bitget_record

__all__ = [
    "BITGET_CATEGORIES",
    "BITGET_CODES",
    "BITGET_FUTURES_CATEGORIES",
    "BITGET_KINDS",
    "BitgetAuth",
    "BitgetClient",
    "BitgetCredentials",
    "bitget_kind",
    "bitget_record",
    "sign",
]
