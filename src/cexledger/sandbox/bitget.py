"""Bitget ``GET /api/v3/account/financial-records``, as documented.

Checks, in this order (first failure answers):

1. headers: ``ACCESS-KEY`` absent/empty ``40001``; ``ACCESS-SIGN`` absent ``40002``, empty
   ``40003``; ``ACCESS-TIMESTAMP`` absent or not digits ``40005``; ``ACCESS-PASSPHRASE``
   absent/empty ``40011``; ``|now - timestamp| > 30 s`` ``40008`` (``now``: the server's
   clock, ``clock_offset_ms`` off this machine's); unknown key ``40006``;
   wrong passphrase ``40012``; signature ``40009``. The signature is
   ``base64(HMAC_SHA256(secret, timestamp + METHOD + raw path and query as received))``
   (GET: empty body). ``paptrading: 1`` is accepted and ignored.
2. parameters: ``category`` one of the six enum values (case-sensitive), ``limit``,
   ``startTime``, ``endTime`` and ``cursor`` digit strings, else ``40017``; ``endTime <
   startTime`` ``40017``; a window over 30 days ``00001`` (exactly 30 days is fine); a
   ``startTime`` before ``now - 90 d`` ``40705``; a cursor that is not the id of a row of
   this account and category ``40017``. An empty ``cursor`` is the same as none.

Defaults (the doc is silent): no ``endTime``: ``startTime + 30 d`` if ``startTime`` was given,
else now. No ``startTime``: ``endTime - 30 d``, clamped to the retention start ``now - 90 d``
(never ``40705``). ``coin`` is matched upper-cased, ``type`` exactly.

Paging: rows newest first by (ts, id) (variant: oldest first); the next page continues
strictly after the last row of the previous one. As live: the cursor is opaque, a digit
string that is not a row id (the last row's id XOR ``CURSOR_KEY``), and every non-empty
page carries one, the last page too; following it answers ``list: null, cursor: null``,
like any page with no rows. Variant: the cursor is the last row's id, the last page has no
cursor and a page with no rows is ``list: []``. A row id is accepted as a cursor in both
dialects (ccxt pages the live API that way); a cursor that points at no row of this account
and category is ``40017``. Rows older than 90 days are never served.

Paging fault ``bitget_cursor_loop`` (a runtime setting naming a category): a request with
any cursor answers the window's first page again, with a cursor never sent before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web

from .._json import dumps
from .bitget_data import CATEGORIES
from .config import RETENTION_MS, WINDOW_MS
from .faults import Handler, guard
from .state import SandboxState

__all__ = ["PATH", "routes"]

PATH = "/api/v3/account/financial-records"
RATE_LIMIT = 20  # requests per second per API key
CURSOR_KEY = 0x2C5A_93E1_7B04_D6F9  # standard cursors are row id XOR this: digits, never an id
_TOLERANCE_MS = 30_000


class _Refusal(Exception):
    """An error answer: Bitget code and message."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(code)
        self.code, self.msg = code, msg


def _envelope(code: str, msg: str, data: bytes, status: int, now: int) -> web.Response:
    """An answer; ``requestTime`` is ``now``, the server's clock."""
    body = b'{"code":%s,"msg":%s,"requestTime":%d,"data":%s}' % (
        dumps(code), dumps(msg), now, data)
    return web.Response(status=status, body=body, content_type="application/json")


def _rate_limited(state: SandboxState) -> web.Response:
    return _envelope("429", "Too Many Requests", b"null", 429, state.now_ms())


def _sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _authenticate(request: web.Request, state: SandboxState, now: int) -> str:
    """The name of the account the request authenticates as."""
    headers = request.headers
    key = headers.get("ACCESS-KEY", "")
    sign = headers.get("ACCESS-SIGN")
    stamp = headers.get("ACCESS-TIMESTAMP", "")
    passphrase = headers.get("ACCESS-PASSPHRASE", "")
    if not key:
        raise _Refusal("40001", "ACCESS_KEY cannot be empty")
    if sign is None:
        raise _Refusal("40002", "ACCESS_SIGN cannot be empty")
    if not sign:
        raise _Refusal("40003", "Signature cannot be empty")
    if not (stamp.isascii() and stamp.isdigit()):
        raise _Refusal("40005", "Invalid ACCESS_TIMESTAMP")
    if not passphrase:
        raise _Refusal("40011", "ACCESS_PASSPHRASE cannot be empty")
    if abs(now - int(stamp)) > _TOLERANCE_MS:
        raise _Refusal("40008", "Request timestamp expired")
    account = state.by_api_key("bitget", key)
    if account is None:
        raise _Refusal("40006", "Invalid ACCESS_KEY")
    if not hmac.compare_digest(passphrase, account.passphrase or ""):
        raise _Refusal("40012", "apikey/password is incorrect")
    expected = _sign(account.api_secret, stamp + request.method + request.raw_path)
    if not hmac.compare_digest(sign, expected):
        raise _Refusal("40009", "sign signature error")
    return account.name


def _digits(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or (name == "cursor" and value == ""):
        return None
    if not (value.isascii() and value.isdigit()):
        raise _Refusal("40017", "parameter verification failed")
    return int(value)


def _page(request: web.Request, state: SandboxState, account: str, now: int) -> bytes:
    """The ``data`` object for an authenticated request, as JSON bytes."""
    variant = state.variant
    query = request.query
    category = query.get("category")
    if category not in CATEGORIES:
        raise _Refusal("40017", "parameter verification failed")
    limit = _digits(request, "limit")
    if limit is None:
        limit = 100
    elif limit < 1 or (limit > 100 and not variant):
        raise _Refusal("40017", "parameter verification failed")
    if variant:
        limit = min(limit, 50)
    start, end, cursor = _digits(request, "startTime"), _digits(request, "endTime"), _digits(request, "cursor")
    retention_start = now - RETENTION_MS
    if start is not None and end is not None and end < start:
        raise _Refusal("40017", "parameter verification failed")
    if end is None:
        end = now if start is None else start + WINDOW_MS
    if start is None:
        start = max(end - WINDOW_MS, retention_start)
    if end - start > WINDOW_MS:
        raise _Refusal("00001", "startTime and endTime interval cannot be greater than 30 days")
    if start < retention_start:
        raise _Refusal("40705", "The start time cannot be earlier than 90 days")
    coin, type_ = query.get("coin"), query.get("type")
    ledger = state.bitget[account].ledgers[category]
    lo, hi = ledger.window(start, end, inclusive=not variant)
    looping = cursor is not None and state.settings.bitget_cursor_loop == category
    if looping:
        cursor = None
    if cursor is not None:
        position = None if variant else ledger.position(cursor ^ CURSOR_KEY)
        if position is None:    # a row id works as a cursor too (ccxt pages that way, live)
            position = ledger.position(cursor)
        if position is None:
            raise _Refusal("40017", "parameter verification failed")
        if variant:
            lo = max(lo, position + 1)
        else:
            hi = min(hi, position)
    found, more = ledger.scan(lo, hi, newest_first=not variant, limit=limit,
                              coin=coin.upper() if coin else None, type_=type_ or None)
    if not found:
        return b'{"list":[]}' if variant else b'{"list":null,"cursor":null}'
    rows = b",".join(ledger.render(i, variant) for i in found)
    if looping:
        return b'{"list":[%s],"cursor":"%d"}' % (rows, state.fresh_cursor())
    if variant:
        if more:
            return b'{"list":[%s],"cursor":"%d"}' % (rows, ledger.ids[found[-1]])
        return b'{"list":[%s]}' % rows
    return b'{"list":[%s],"cursor":"%d"}' % (rows, ledger.ids[found[-1]] ^ CURSOR_KEY)


def _handler(state: SandboxState) -> Handler:
    def financial_records(request: web.Request, live: bool) -> web.Response:
        now = state.now_ms()
        try:
            account = _authenticate(request, state, now)
            with state.lock:
                data = _page(request, state, account, now)
        except _Refusal as refusal:
            return _envelope(refusal.code, refusal.msg, b"null", 200 if state.variant else 400, now)
        return _envelope("00000", "success", data, 200, now)

    return financial_records


def routes(state: SandboxState) -> list[web.RouteDef]:
    """The Bitget route, wrapped with latency, faults and the 20/s per-key rate limit."""
    handler = guard(state, PATH, "ACCESS-KEY", RATE_LIMIT, _handler(state),
                    lambda: _rate_limited(state))
    return [web.get(PATH, handler)]
