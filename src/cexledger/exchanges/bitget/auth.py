"""Bitget API-key signing (HMAC-SHA256), as an ``httpx.Auth`` flow.

``ACCESS-SIGN = base64(HMAC_SHA256(secret, timestamp + METHOD + path + ("?" + query) + body))``
(docs/exchanges.md, Bitget "Signing and clock"). The prehash is built from the request's raw URL bytes
(``request.url.raw_path``: path and query exactly as they go on the wire) and its raw body, so
what is signed is exactly what is sent. The caller sorts the query keys (newer Bitget docs
ask for it); this flow signs whatever order it is given. ``ACCESS-TIMESTAMP`` is the
server's time when a :class:`~cexledger.exchanges._server_clock.ServerClock` is given (this
machine's clock plus the offset learned from Bitget's answers), else this machine's.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import httpx

from .._server_clock import ServerClock
from .._signing import mask_key, sign

__all__ = ["BitgetCredentials", "BitgetAuth", "sign"]


@dataclass(frozen=True)
class BitgetCredentials:
    """A Bitget API key. ``demo`` selects demo trading (header ``paptrading: 1``)."""

    api_key: str
    api_secret: str
    passphrase: str
    demo: bool = False

    def __repr__(self) -> str:
        return (
            f"BitgetCredentials(api_key={mask_key(self.api_key)!r}, api_secret='***', "
            f"passphrase='***', demo={self.demo!r})"
        )


class BitgetAuth(httpx.Auth):
    """Signs every request with the headers Bitget expects."""

    requires_request_body = True

    def __init__(self, credentials: BitgetCredentials, clock: ServerClock | None = None) -> None:
        self._credentials = credentials
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = self._credentials
        clock = self._clock
        timestamp = str(clock.now_ms() if clock is not None else time.time_ns() // 1_000_000)
        prehash = (
            timestamp
            + request.method.upper()
            + request.url.raw_path.decode("ascii")
            + request.content.decode("utf-8")
        )
        request.headers["ACCESS-KEY"] = credentials.api_key
        request.headers["ACCESS-SIGN"] = sign(credentials.api_secret, prehash)
        request.headers["ACCESS-TIMESTAMP"] = timestamp
        request.headers["ACCESS-PASSPHRASE"] = credentials.passphrase
        request.headers["Content-Type"] = "application/json"
        request.headers["locale"] = "en-US"
        if credentials.demo:
            request.headers["paptrading"] = "1"
        yield request
