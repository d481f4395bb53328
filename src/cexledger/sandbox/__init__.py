"""The sandbox exchange: a real HTTP server speaking Bitget's and CoinW's history APIs.

It is the demo backend and the backbone of the end-to-end tests: deterministic from a seed
(and the start time ``t0``), honest about ground truth, fast enough for benchmarks.

    with SandboxServer(SandboxConfig(records=2000)) as srv:
        srv.url                                    # http://127.0.0.1:<port>
        srv.state.accounts                         # names, keys, secrets
        srv.state.truth("bitget", "bitget-1")      # the rows a perfect archive holds now
        srv.state.truth("bitget", "bitget-1", "tax-records", "SPOT")   # of one stream, partition

Modules: ``config`` (``SandboxConfig``, runtime ``Settings``), ``accounts``, ``timeline``
(where rows sit in time, ids), ``bitget_data``/``bitget_funding``/``coinw_data`` (stores
and row bytes),
``generate`` (the seeded generator), ``state`` (``SandboxState``: mutations and truth),
``faults`` (latency, faults, rate limits, stats), ``bitget``/``coinw`` (API handlers; their
docstrings list every check and error code), ``control`` (``/_sandbox``), ``server``.

Streams (``STREAMS``): Bitget ``financial-records`` (partition: category),
``funding-records`` (the funding wallet, one partition ``FUNDING``), ``tax-records``
(partition: ``bizType``, the same six categories: the financial records seen through the tax
API, 366 days); CoinW ``deals-history``. Every ``stream`` argument defaults to the exchange's
first stream, so callers that predate the others keep working.

``SandboxState`` (thread-safe): ``accounts``, ``account(name)``,
``truth(exchange, account, stream=None, partition=None)``,
``versions(exchange, account, id, stream=None)``,
``append(exchange, account, count, instrument=None, stream=None)`` (Bitget: ``instrument``
pins the category), ``append_all(count)``, ``mutate("coinw", account, count)``,
``inject(exchange, account, raw, partition=None, stream=None)``,
``new_key(exchange, account, tax=False)``, ``by_tax_key(key)``, ``is_classic(account)``,
``update_settings({...})``, ``stats.snapshot()``, ``stats.reset()``,
``stats.log(keys=None, path=None)``, ``cutoff()`` / ``tax_cutoff()`` (the oldest servable
ts: 90 / 366 days), ``t0`` (the generator's start, Unix ms).

Each Bitget account also has a tax API key: ``tax_api_key``, ``tax_api_secret``,
``tax_passphrase`` in ``accounts`` and ``/_sandbox/accounts``. Only it is accepted by the tax
records, and it is refused (``40014``) by the other endpoints.

Control endpoints (no auth): ``GET /_sandbox/accounts``,
``GET /_sandbox/truth?exchange=&account=&stream=&partition=`` (the last two optional),
``GET /_sandbox/versions?exchange=&account=&id=&stream=``, ``POST /_sandbox/append``
``{"exchange","account","count","instrument"?,"stream"?}``, ``POST /_sandbox/mutate``
``{"exchange":"coinw","account","count"}``, ``POST /_sandbox/inject-row``
``{"exchange","account","raw","partition"?,"stream"?}`` (a row served as exactly the text
``raw`` by ``stream``, in the category or instrument ``partition``; answers its ``id``),
``GET /_sandbox/stats``, ``POST /_sandbox/stats/reset``, ``POST /_sandbox/settings``
``{faults, latency_ms, rate_limit, churn, hold, bitget_cursor_loop, coinw_page_cycle,
coinw_page_clamp, classic_accounts}`` (``classic_accounts``: a list of Bitget account names
in Classic Account mode: every UTA endpoint answers them ``40084``),
``POST /_sandbox/keys`` ``{"exchange","account","tax"?}`` (a new key -- with ``tax``, a new
tax key -- for the same user: a key rotation; answers the credentials), ``POST /_sandbox/inject``
``{"exchange","account","kind","count"?,"retry_after"?,"http_date"?,"tax"?}`` (queue answers
for the account's next requests -- with ``tax``, those of its tax key: ``kind``
``rate_limited`` with a ``Retry-After`` in seconds or as an HTTP date, or ``trickle``),
``GET /_sandbox/requests?exchange=&account=&path=`` (the request log, of the account's key
and tax key, to one path if given: status, what each request got, arrival and answer times
on the server's monotonic clock; cleared with the stats).
Truth and versions are served in the running dialect's bytes. ``clock_offset_ms`` sets the
server's clock off this machine's (timestamp checks, retention, ``requestTime``).

Dialects: ``standard`` follows the exchanges' docs (``docs/exchanges.md``); ``variant`` makes other choices the
docs leave open, so clients are tested against both.

Bitget ``GET /api/v3/account/financial-records``

=========================  ===================================  ==================================
choice                     standard                             variant
=========================  ===================================  ==================================
no matching rows           ``"list": null, "cursor": null``     ``"list": []``, no ``cursor`` key
last page                  ``"cursor": ""``                     no ``cursor`` key
other pages                ``"cursor": "<last row id>"``        same
order                      newest first (ts desc, id desc)      oldest first (ts asc, id asc)
cursor continues           strictly after the cursor row in the page order (both)
``endTime``                inclusive                            exclusive
``startTime``              inclusive                            exclusive
``limit`` > 100 / > 50     ``40017``                            silently 50 (default 50 too)
``limit`` < 1, not digits  ``40017``                            ``40017``
error HTTP status          400                                  200
rate limited               HTTP 429, code ``"429"``             HTTP 429, code ``"429"``
``symbol`` when none       ``"symbol": ""``                     key absent
numeric strings            canonical (``"1.5"``, ``"0"``)       >= 8 decimals (``"1.50000000"``)
=========================  ===================================  ==================================

Bitget ``GET /api/v3/account/funding-financial-records``: every choice of the table above
(``symbol`` aside: the rows have none), the cursor included: standard an opaque digit
string, variant the last row's id. Ids do not grow with ``ts`` in either.

Bitget ``GET /api/v3/tax/records`` (``data`` a bare list)

=========================  ===================================  ==================================
choice                     standard                             variant
=========================  ===================================  ==================================
row ``id``                 the financial record's id            a different id (``tax_id``)
no matching rows           ``"data": []``                       ``"data": null``
order                      newest first (ts desc, id desc)      oldest first (ts asc, id asc)
``startTime``/``endTime``  inclusive                            exclusive
``limit`` > 500            ``40017``                            silently 500
cursor                     the last row's id (both); the page continues strictly after it
error HTTP status          400                                  200
numeric strings            canonical                            >= 8 decimals
=========================  ===================================  ==================================

CoinW ``GET /v1/perpum/orders/deals/history``

=========================  ===================================  ==================================
choice                     standard                             variant
=========================  ===================================  ==================================
``fee``                    JSON string (``"0.0515"``)           JSON number (``0.0515``)
other BigDecimal fields    plain JSON numbers (``0.00000001``)  Java ``BigDecimal.toString``
                                                                (``1E-8`` below 1E-6)
``nextId`` / ``prevId``    ``0`` / ``0``                        id of the page's last / first row
                                                                (``0`` on an empty page)
``total``                  present, unreliable by design        absent
``pageSize``               default 20, > 100 -> 100             default 10, > 50 -> 50
``thirdOrderId`` unset     key absent                           ``"thirdOrderId": null``
rate limited (29001)       HTTP 200 ``{"code":29001,            HTTP 429 ``{"code":29001,
                           "message":"API access frequently",   "msg":"API access frequently",
                           "retry":true,"success":false}``      "data":null}``
other errors               HTTP 200 ``{"code","msg","data"}``   same
=========================  ===================================  ==================================

Both dialects, both exchanges: ids strictly increase with (ts, insertion) and are unique per
exchange (Bitget's funding wallet aside: its ids do not grow with ``ts``); only the last 90
days are served (Bitget's tax records: 366 days); faults, latency and rate limits behave the
same on every endpoint, each endpoint with its own per-key budget.
"""

from __future__ import annotations

from .accounts import Account
from .config import SandboxConfig, Settings
from .faults import FAULT_KINDS
from .server import STATE_KEY, SandboxServer, build_app, serve
from .state import STREAMS, SandboxState, UnknownError

__all__ = [
    "Account",
    "FAULT_KINDS",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "STATE_KEY",
    "STREAMS",
    "Settings",
    "UnknownError",
    "build_app",
    "serve",
]
