"""Bitget's UTA v3 history endpoints: financial records, the funding wallet, tax records.

``GET /api/v3/account/financial-records`` (documented), checks in this order (first
failure answers):

1. headers: ``ACCESS-KEY`` absent/empty ``40001``; ``ACCESS-SIGN`` absent ``40002``, empty
   ``40003``; ``ACCESS-TIMESTAMP`` absent or not digits ``40005``; ``ACCESS-PASSPHRASE``
   absent/empty ``40011``; ``|now - timestamp| > 30 s`` ``40008`` (``now``: the server's
   clock, ``clock_offset_ms`` off this machine's); unknown key ``40006``;
   wrong passphrase ``40012``; signature ``40009``. The signature is
   ``base64(HMAC_SHA256(secret, timestamp + METHOD + raw path and query as received))``
   (GET: empty body). ``paptrading: 1`` is accepted and ignored. The account's tax key
   (see tax records) is a known key: signed right, it is refused ``40014`` (permission).
   An account in Classic Account mode (``classic_accounts``) is then refused ``40084``
   "You are in Classic Account mode, and the UTA API is not supported at this time", on
   every endpoint here.
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

Paging fault ``bitget_cursor_loop`` (a runtime setting naming a category, or ``FUNDING``):
a request with any cursor answers the window's first page again, with a cursor never sent
before.

``GET /api/v3/account/funding-financial-records`` (the funding wallet): the same checks,
defaults, window rules (30 days, 90-day retention, the same codes), dialect choices, cursor
and paging as financial records, minus ``category`` (the account's one funding ledger;
``coin``, ``type`` optional filters). Rows ``id, coin, groupType, type, amount, balance, ts``
(``bitget_funding``); ids do not grow with ``ts``, so the order is by ``ts``, then as the rows
were added. Rate limit 10/s per key, its own budget.

``GET /api/v3/tax/records``: only the account's tax API key (``tax_api_key``, its own secret
and passphrase, signed the same way); the normal key, signed right, is refused ``40014``.
Parameters: ``bizType`` one of the six categories (required), ``startTime`` and ``endTime``
(required), ``limit``, ``cursor`` digit strings, else ``40017``; ``endTime < startTime``
``40017``; more than 7 days apart ``00001``. The reach is 366 days: an older ``startTime`` is
accepted and older rows are simply never served. ``limit`` 1..500, default 500 (variant: over
500 silently 500). ``data`` is a bare list of ``id, coin, type, amount, fee, balance, ts`` --
the category's financial records (``Ledger.render_tax``; variant ids differ from theirs) --
newest first (variant: oldest first), bounds inclusive (variant: exclusive); no rows:
``[]`` (variant: ``null``). ``coin`` filters (upper-cased); ``marginType`` is accepted and
ignored. ``cursor`` is the id of the previous page's last row: the page
continues strictly after it in the serving order; an id that is no tax record of this
account and category is ``40017``. Rate limit 1/s per key, its own budget.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Callable

from aiohttp import web

from .._json import dumps
from .bitget_data import CATEGORIES, Ledger, tax_id
from .bitget_funding import FundingLedger
from .config import RETENTION_MS, TAX_REACH_MS, TAX_WINDOW_MS, WINDOW_MS
from .faults import Handler, guard
from .state import SandboxState

__all__ = ["PATH", "FUNDING_PATH", "TAX_PATH", "routes"]

PATH = "/api/v3/account/financial-records"
FUNDING_PATH = "/api/v3/account/funding-financial-records"
TAX_PATH = "/api/v3/tax/records"
RATE_LIMIT = 20  # requests per second per API key
FUNDING_RATE_LIMIT = 10
TAX_RATE_LIMIT = 1
FUNDING_PARTITION = "FUNDING"  # what ``bitget_cursor_loop`` names to loop the funding wallet
TAX_LIMIT = 500
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


def _authenticate(request: web.Request, state: SandboxState, now: int, tax: bool = False) -> str:
    """The name of the account the request authenticates as; ``tax``: the endpoint takes the
    account's tax key and nothing else (and the other endpoints never take it)."""
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
    is_tax_key = account is None
    if account is None:
        account = state.by_tax_key(key)
    if account is None:
        raise _Refusal("40006", "Invalid ACCESS_KEY")
    if is_tax_key:
        secret, expected_passphrase = account.tax_api_secret or "", account.tax_passphrase or ""
    else:
        secret, expected_passphrase = account.api_secret, account.passphrase or ""
    if not hmac.compare_digest(passphrase, expected_passphrase):
        raise _Refusal("40012", "apikey/password is incorrect")
    expected = _sign(secret, stamp + request.method + request.raw_path)
    if not hmac.compare_digest(sign, expected):
        raise _Refusal("40009", "sign signature error")
    if state.is_classic(account.name):
        raise _Refusal("40084", "You are in Classic Account mode, and the UTA API is not "
                                "supported at this time")
    if is_tax_key != tax:
        raise _Refusal("40014", "Incorrect permissions, need "
                       + ("tax" if tax else "read") + " permissions")
    return account.name


def _digits(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or (name == "cursor" and value == ""):
        return None
    if not (value.isascii() and value.isdigit()):
        raise _Refusal("40017", "parameter verification failed")
    return int(value)


def _financial_page(request: web.Request, state: SandboxState, account: str, now: int) -> bytes:
    """The ``data`` object of a financial-records request, as JSON bytes."""
    category = request.query.get("category")
    if category not in CATEGORIES:
        raise _Refusal("40017", "parameter verification failed")
    return _page(request, state, state.bitget[account].ledgers[category], category, now)


def _funding_page(request: web.Request, state: SandboxState, account: str, now: int) -> bytes:
    """The ``data`` object of a funding-wallet request, as JSON bytes."""
    return _page(request, state, state.bitget[account].funding, FUNDING_PARTITION, now)


def _page(request: web.Request, state: SandboxState, ledger: Ledger | FundingLedger,
          partition: str, now: int) -> bytes:
    """The ``data`` object (``list`` + ``cursor``) of one ledger's page, as JSON bytes."""
    variant = state.variant
    query = request.query
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
    lo, hi = ledger.window(start, end, inclusive=not variant)
    looping = cursor is not None and state.settings.bitget_cursor_loop == partition
    if looping:
        cursor = None
    if cursor is not None:
        position = None if variant else ledger.position(cursor ^ CURSOR_KEY)
        if position is None:    # a row id works as a cursor too (ccxt pages that way, live)
            position = ledger.position(cursor)
        lo, hi = _after(lo, hi, position, variant)
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


def _after(lo: int, hi: int, position: int | None, variant: bool) -> tuple[int, int]:
    """The index range ``[lo, hi)`` left after the cursor's row at ``position``: the rows after it
    in the served order (older when newest first, the standard dialect; newer in the variant).
    A cursor that names no row is a parameter error."""
    if position is None:
        raise _Refusal("40017", "parameter verification failed")
    return (max(lo, position + 1), hi) if variant else (lo, min(hi, position))


def _tax_page(request: web.Request, state: SandboxState, account: str, now: int) -> bytes:
    """The ``data`` list of a tax-records request, as JSON bytes."""
    variant = state.variant
    category = request.query.get("bizType")
    if category not in CATEGORIES:
        raise _Refusal("40017", "parameter verification failed")
    limit = _digits(request, "limit")
    if limit is None:
        limit = TAX_LIMIT
    elif limit < 1 or (limit > TAX_LIMIT and not variant):
        raise _Refusal("40017", "parameter verification failed")
    limit = min(limit, TAX_LIMIT)
    start, end, cursor = _digits(request, "startTime"), _digits(request, "endTime"), _digits(request, "cursor")
    if start is None or end is None or end < start:
        raise _Refusal("40017", "parameter verification failed")
    if end - start > TAX_WINDOW_MS:
        raise _Refusal("00001", "startTime and endTime interval cannot be greater than 7 days")
    ledger = state.bitget[account].ledgers[category]
    lo, hi = ledger.window(start, end, inclusive=not variant)
    lo = max(lo, ledger.window(now - TAX_REACH_MS, now, inclusive=True)[0])  # the reach
    if cursor is not None:
        lo, hi = _after(lo, hi, ledger.position(tax_id(cursor, variant)), variant)
    coin = request.query.get("coin")
    found, _ = ledger.scan(lo, hi, newest_first=not variant, limit=limit,
                           coin=coin.upper() if coin else None, type_=None)
    if not found:
        return b"null" if variant else b"[]"
    return b"[%s]" % b",".join(ledger.render_tax(i, variant) for i in found)


_Page = Callable[[web.Request, SandboxState, str, int], bytes]


def _handler(state: SandboxState, page: _Page, tax: bool = False) -> Handler:
    def answer(request: web.Request, live: bool) -> web.Response:
        now = state.now_ms()
        try:
            account = _authenticate(request, state, now, tax)
            with state.lock:
                data = page(request, state, account, now)
        except _Refusal as refusal:
            return _envelope(refusal.code, refusal.msg, b"null", 200 if state.variant else 400, now)
        return _envelope("00000", "success", data, 200, now)

    return answer


def routes(state: SandboxState) -> list[web.RouteDef]:
    """The Bitget routes, each wrapped with latency, faults and its own per-key rate limit
    (financial records 20/s, funding wallet 10/s, tax records 1/s)."""
    out = []
    for path, limit, page, tax in ((PATH, RATE_LIMIT, _financial_page, False),
                                   (FUNDING_PATH, FUNDING_RATE_LIMIT, _funding_page, False),
                                   (TAX_PATH, TAX_RATE_LIMIT, _tax_page, True)):
        handler = guard(state, path, "ACCESS-KEY", limit, _handler(state, page, tax),
                        lambda: _rate_limited(state))
        out.append(web.get(path, handler))
    return out
