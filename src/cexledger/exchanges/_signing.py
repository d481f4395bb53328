"""What both exchanges' signing shares: HMAC-SHA256 in base64, and masking keys for display."""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["sign", "mask_key"]


def sign(secret: str, prehash: str) -> str:
    """``base64(HMAC_SHA256(secret, prehash))`` as text (Bitget and CoinW futures alike)."""
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def mask_key(api_key: str) -> str:
    """An API key shortened for display: enough to tell keys apart, not to use one."""
    return api_key[:4] + "…" if len(api_key) > 8 else "***"
