"""The sandbox exchange: a real HTTP server speaking Bitget's and CoinW's history APIs.

It is the demo backend and the backbone of the end-to-end tests: deterministic from a seed
(and the start time ``t0``), honest about ground truth, fast enough for benchmarks.

    with SandboxServer(SandboxConfig(records=2000)) as srv:
        srv.url                                    # http://127.0.0.1:<port>
        srv.state.accounts                         # names, keys, secrets
        srv.state.truth("bitget", "bitget-1")      # the rows a perfect archive holds now

Modules: ``config`` (``SandboxConfig``, runtime ``Settings``), ``accounts``, ``timeline``
(where rows sit in time, ids), ``bitget_data``/``coinw_data`` (stores and row bytes),
``generate`` (the seeded generator), ``state`` (``SandboxState``: mutations and truth),
``faults`` (latency, faults, rate limits, stats), ``bitget``/``coinw`` (API handlers; their
docstrings list every check and error code), ``control`` (``/_sandbox``), ``server``.

``SandboxState`` (thread-safe): ``accounts``, ``account(name)``, ``truth(exchange, account)``,
``versions(exchange, account, id)``, ``append(exchange, account, count, instrument=None)``,
``append_all(count)``, ``mutate("coinw", account, count)``,
``inject(exchange, account, raw, partition=None)``, ``update_settings({...})``,
``stats.snapshot()``, ``stats.reset()``, ``t0`` (the generator's start, Unix ms).

Control endpoints (no auth): ``GET /_sandbox/accounts``, ``GET /_sandbox/truth?exchange=&account=``,
``GET /_sandbox/versions?exchange=&account=&id=``, ``POST /_sandbox/append``
``{"exchange","account","count","instrument"?}``, ``POST /_sandbox/mutate``
``{"exchange":"coinw","account","count"}``, ``POST /_sandbox/inject-row``
``{"exchange","account","raw","partition"?}`` (a row served as exactly the text ``raw``, in
the category or instrument ``partition``; answers its ``id``), ``GET /_sandbox/stats``,
``POST /_sandbox/stats/reset``, ``POST /_sandbox/settings`` ``{faults, latency_ms,
rate_limit, churn, hold, bitget_cursor_loop, coinw_page_cycle, coinw_page_clamp}``,
``POST /_sandbox/keys`` ``{"exchange","account"}`` (a new key for the same user: a key
rotation; answers the credentials), ``POST /_sandbox/inject``
``{"exchange","account","kind","count"?,"retry_after"?,"http_date"?}`` (queue answers for the account's next requests: ``kind``
``rate_limited`` with a ``Retry-After`` in seconds or as an HTTP date, or ``trickle``),
``GET /_sandbox/requests?exchange=&account=`` (the request log: status, what each request
got, arrival and answer times on the server's monotonic clock; cleared with the stats).
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
exchange; only the last 90 days are served; faults, latency and rate limits behave the same.
"""

from __future__ import annotations

from .accounts import Account
from .config import SandboxConfig, Settings
from .faults import FAULT_KINDS
from .server import STATE_KEY, SandboxServer, build_app, serve
from .state import SandboxState, UnknownError

__all__ = [
    "Account",
    "FAULT_KINDS",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "STATE_KEY",
    "Settings",
    "UnknownError",
    "build_app",
    "serve",
]
