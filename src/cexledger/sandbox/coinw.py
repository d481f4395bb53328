"""CoinW ``GET /v1/perpum/orders/deals/history`` and the public instrument list.

Checks, in this order: headers ``api_key``, ``timestamp``, ``sign`` all present, the
timestamp digits and within 30 s of now, else ``6000``; unknown key or a signature other than
``base64(HMAC_SHA256(secret, timestamp + METHOD + path + "?" + raw query as received))``
``6001``; ``instrument`` absent/empty ``402`` "param required"; ``page``, ``pageSize`` not
digits or ``positionModel`` not ``0``/``1`` ``402`` "param error: <name>". Errors are
``{"code":<int>,"msg":...,"data":null}`` with HTTP 200.

Paging: rows of the last 90 days, newest first by (createdDate, id); ``page`` from 1
(``0`` counts as 1); ``pageSize`` default 20, above 100 clamped to 100, ``0`` means the
default (variant: default 10, clamp 50). ``instrument`` is case-insensitive; one the account
never traded answers ``code 0`` with no rows. ``positionModel`` filters exactly;
``originType`` only filters rows whose order was not filled: ``finish``/``part`` rows come
back whatever it says (the doc's caveat), while ``total`` counts the literal filter, before
churn, so it is deliberately unreliable.

Paging faults (runtime settings naming an instrument): ``coinw_page_cycle`` answers page
``n > 2`` with page ``(n - 1) % 2 + 1``; ``coinw_page_clamp`` answers a page past the last
with the last page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from typing import Awaitable, Callable

from aiohttp import web

from .._json import dumps
from .coinw_data import PUBLIC_EXTRA, instrument_spec
from .faults import Handler, guard
from .state import SandboxState

__all__ = ["PATH", "INSTRUMENTS_PATH", "routes"]

PATH = "/v1/perpum/orders/deals/history"
INSTRUMENTS_PATH = "/v1/perpumPublic/instruments"
RATE_LIMIT = 5  # requests per second per API key
_TOLERANCE_MS = 30_000


class _Refusal(Exception):
    """An error answer: CoinW code and message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(code)
        self.code, self.msg = code, msg


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/json")


def _rate_limited(variant: bool) -> web.Response:
    if variant:
        return _json(b'{"code":29001,"msg":"API access frequently","data":null}', 429)
    return _json(b'{"code":29001,"message":"API access frequently","retry":true,"success":false}')


def _authenticate(request: web.Request, state: SandboxState, now: int) -> str:
    """The name of the account the request authenticates as."""
    headers = request.headers
    key, stamp, sign = headers.get("api_key"), headers.get("timestamp"), headers.get("sign")
    if not key or not stamp or not sign:
        raise _Refusal(6000, "authentication failed: api_key, timestamp and sign are required")
    if not (stamp.isascii() and stamp.isdigit()) or abs(now - int(stamp)) > _TOLERANCE_MS:
        raise _Refusal(6000, "authentication failed: timestamp invalid or expired")
    account = state.by_api_key("coinw", key)
    prehash = stamp + request.method + request.raw_path
    expected = "" if account is None else base64.b64encode(
        hmac.new(account.api_secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()
    if account is None or not hmac.compare_digest(sign, expected):
        raise _Refusal(6001, "invalid api_key or signature")
    return account.name


def _number(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()):
        raise _Refusal(402, f"param error: {name}")
    return int(value)


def _page(request: web.Request, state: SandboxState, account: str, live: bool) -> bytes:
    """The whole success body for an authenticated request."""
    variant = state.variant
    instrument = request.query.get("instrument", "").strip().upper()
    if not instrument:
        raise _Refusal(402, "param required")
    page = max(_number(request, "page") or 1, 1)
    default, cap = (10, 50) if variant else (20, 100)
    size = min(_number(request, "pageSize") or default, cap)
    model = _number(request, "positionModel")
    if model not in (None, 0, 1):
        raise _Refusal(402, "param error: positionModel")
    origin = request.query.get("originType") or None
    deals = state.coinw[account].get(instrument)
    rows: list[bytes] = []
    total = 0
    first_id = last_id = 0
    if deals is not None:
        cutoff = state.cutoff()
        total = deals.total(cutoff, model, origin)
        settings = state.settings
        if settings.coinw_page_cycle == instrument and page > 2:
            page = (page - 1) % 2 + 1
        if settings.coinw_page_clamp == instrument:
            page = min(page, max(1, -(-total // size)))
        if live and state.settings.churn:
            state.churn(account, instrument)
        found = deals.page(cutoff, model, origin, (page - 1) * size, size)
        rows = [deals.render(i, deals.current(i), variant) for i in found]
        if found:
            first_id, last_id = deals.ids[found[0]], deals.ids[found[-1]]
    joined = b",".join(rows)
    if variant:
        data = b'{"nextId":%d,"prevId":%d,"rows":[%s]}' % (last_id, first_id, joined)
    else:
        data = b'{"nextId":0,"prevId":0,"rows":[%s],"total":%d}' % (joined, total)
    return b'{"code":0,"data":%s,"msg":""}' % data


def _handler(state: SandboxState) -> Handler:
    def deals_history(request: web.Request, live: bool) -> web.Response:
        try:
            account = _authenticate(request, state, state.now_ms())
            with state.lock:
                return _json(_page(request, state, account, live))
        except _Refusal as refusal:
            return _json(b'{"code":%d,"msg":%s,"data":null}' % (refusal.code, dumps(refusal.msg)))

    return deals_history


def _instruments(state: SandboxState) -> Callable[[web.Request], Awaitable[web.Response]]:
    names = list(dict.fromkeys((*state.config.instruments, *PUBLIC_EXTRA)))
    data = []
    for k, name in enumerate(names, start=1):
        _, places, size, size_places = instrument_spec(name)
        data.append({"id": k, "name": name, "base": name.lower(), "quote": "usdt",
                     "oneLotSize": Decimal(size).scaleb(-size_places), "pricePrecision": places, "minLeverage": 1,
                     "maxLeverage": 100, "status": "online"})
    body = dumps({"code": 0, "data": data, "msg": ""})

    async def instruments(request: web.Request) -> web.Response:
        return _json(body)

    return instruments


def routes(state: SandboxState) -> list[web.RouteDef]:
    """The deals-history route (latency, faults, 5/s per-key limit) and the public list."""
    handler = guard(state, PATH, "api_key", RATE_LIMIT, _handler(state),
                    lambda: _rate_limited(state.variant))
    return [web.get(PATH, handler), web.get(INSTRUMENTS_PATH, _instruments(state))]
