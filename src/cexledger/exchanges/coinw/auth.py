"""CoinW futures API-key signing (HMAC-SHA256), as an ``httpx.Auth`` flow.

``sign = base64(HMAC_SHA256(secret, timestamp + METHOD + path + ("?" + query for GET |
JSON body otherwise)))`` with headers ``api_key``, ``timestamp`` (ms) and ``sign``
(docs/exchanges.md, CoinW "Signing"). For GET the path and query are taken from the request's raw
URL bytes (``request.url.raw_path``), so the query is signed in exactly the order and
encoding it is sent; a GET without a query signs the bare path. Other methods sign the path
and the raw body. (Spot uses a different, MD5 scheme: not this one.)
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from .._signing import mask_key, sign

__all__ = ["CoinwCredentials", "CoinwAuth", "sign"]


@dataclass(frozen=True)
class CoinwCredentials:
    """A CoinW futures API key."""

    api_key: str
    api_secret: str

    def __repr__(self) -> str:
        return f"CoinwCredentials(api_key={mask_key(self.api_key)!r}, api_secret='***')"


class CoinwAuth(httpx.Auth):
    """Signs every request with the headers CoinW futures expects."""

    requires_request_body = True

    def __init__(self, credentials: CoinwCredentials) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        timestamp = str(time.time_ns() // 1_000_000)
        method = request.method.upper()
        if method == "GET":
            signed = request.url.raw_path.decode("ascii")
        else:
            path = request.url.raw_path.partition(b"?")[0].decode("ascii")
            signed = path + request.content.decode("utf-8")
        request.headers["api_key"] = self._credentials.api_key
        request.headers["timestamp"] = timestamp
        request.headers["sign"] = sign(self._credentials.api_secret, timestamp + method + signed)
        yield request
