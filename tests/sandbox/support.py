"""Test-side helpers: request signing written independently of the sandbox's code.

Both exchanges sign ``base64(HMAC_SHA256(secret, timestamp + METHOD + path + "?" + query))``
(Bitget adds the passphrase header). These helpers build exactly the bytes they sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import msgspec

from cexledger import _json

BITGET_PATH = "/api/v3/account/financial-records"
FUNDING_PATH = "/api/v3/account/funding-financial-records"
TAX_PATH = "/api/v3/tax/records"
COINW_PATH = "/v1/perpum/orders/deals/history"
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def sign(secret: str, prehash: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), prehash.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def rows_of(body: bytes, key: str = "rows") -> list[bytes]:
    """The raw bytes of each element of ``body[key]`` (a control-endpoint answer)."""
    decoded = msgspec.json.decode(body, type=dict[str, list[msgspec.Raw]])
    return [bytes(raw) for raw in decoded[key]]


class Sandbox:
    """A signed HTTP client for one running sandbox."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.accounts = {a["name"]: a for a in self.http.get("/_sandbox/accounts").json()["accounts"]}

    def close(self) -> None:
        self.http.close()

    # -- signed requests ---------------------------------------------------------------------

    def bitget_headers(self, query: str, account: str = "bitget-1", *, ts: int | None = None,
                       secret: str | None = None, path: str = BITGET_PATH,
                       tax: bool = False) -> dict[str, str]:
        """Headers signing a GET of ``path?query``; ``tax``: with the account's tax key."""
        acc = self.accounts[account]
        prefix = "tax_" if tax else ""
        stamp = str(now_ms() if ts is None else ts)
        target = path + ("?" + query if query else "")
        return {"ACCESS-KEY": acc[prefix + "api_key"], "ACCESS-PASSPHRASE": acc[prefix + "passphrase"],
                "ACCESS-TIMESTAMP": stamp,
                "ACCESS-SIGN": sign(secret or acc[prefix + "api_secret"], stamp + "GET" + target),
                "Content-Type": "application/json", "locale": "en-US"}

    def bitget(self, query: str, account: str = "bitget-1", *, path: str = BITGET_PATH,
               tax: bool = False, **headers: Any) -> httpx.Response:
        """GET a Bitget endpoint (default financial-records) with ``query`` sent exactly as
        given and signed as sent (``tax``: with the tax key)."""
        h = self.bitget_headers(query, account, path=path, tax=tax)
        h.update(headers)
        return self.http.get(path + ("?" + query if query else ""), headers=h)

    def funding(self, query: str, account: str = "bitget-1", *, tax: bool = False) -> httpx.Response:
        """GET the funding wallet, signed with the normal key (``tax``: the tax key)."""
        return self.bitget(query, account, path=FUNDING_PATH, tax=tax)

    def tax(self, query: str, account: str = "bitget-1", *, tax: bool = True) -> httpx.Response:
        """GET tax records, signed with the tax key (``tax=False``: the normal key)."""
        return self.bitget(query, account, path=TAX_PATH, tax=tax)

    def coinw_headers(self, query: str, account: str = "coinw-1", *, ts: int | None = None,
                      secret: str | None = None) -> dict[str, str]:
        acc = self.accounts[account]
        stamp = str(now_ms() if ts is None else ts)
        return {"api_key": acc["api_key"], "timestamp": stamp,
                "sign": sign(secret or acc["api_secret"], stamp + "GET" + COINW_PATH + "?" + query)}

    def coinw(self, query: str, account: str = "coinw-1") -> httpx.Response:
        return self.http.get(COINW_PATH + "?" + query, headers=self.coinw_headers(query, account))

    # -- ground truth ------------------------------------------------------------------------

    def truth_raw(self, exchange: str, account: str, stream: str | None = None,
                  partition: str | None = None) -> list[bytes]:
        params = {"exchange": exchange, "account": account}
        if stream is not None:
            params["stream"] = stream
        if partition is not None:
            params["partition"] = partition
        return rows_of(self.http.get("/_sandbox/truth", params=params).content)

    def truth(self, exchange: str, account: str, stream: str | None = None,
              partition: str | None = None) -> list[dict[str, Any]]:
        return [_json.loads(r) for r in self.truth_raw(exchange, account, stream, partition)]

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        response = self.http.post(path, json=payload)
        response.raise_for_status()
        return _json.loads(response.content)


def data_of(response: httpx.Response) -> Any:
    """The exact-decoded ``data`` of an exchange answer."""
    return _json.loads(response.content)["data"]


class _BitgetData(msgspec.Struct):
    items: list[msgspec.Raw] | None = msgspec.field(name="list", default=None)


class _CoinwData(msgspec.Struct):
    rows: list[msgspec.Raw] | None = None


class _Bitget(msgspec.Struct):
    data: _BitgetData | None = None


class _Tax(msgspec.Struct):
    data: list[msgspec.Raw] | None = None


class _Coinw(msgspec.Struct):
    data: _CoinwData | None = None


def page_rows(response: httpx.Response) -> list[bytes]:
    """Raw bytes of each row of an exchange page, exactly as sent (``[]`` for null/empty)."""
    if response.url.path == TAX_PATH:
        raws = msgspec.json.decode(response.content, type=_Tax).data
    elif response.url.path in (BITGET_PATH, FUNDING_PATH):
        data = msgspec.json.decode(response.content, type=_Bitget).data
        raws = data.items if data else None
    else:
        cdata = msgspec.json.decode(response.content, type=_Coinw).data
        raws = cdata.rows if cdata else None
    return [bytes(r) for r in raws or []]
