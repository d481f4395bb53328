"""ccxt beside cexledger: the same Bitget sandbox, the same ledger, fetched the way ccxt documents.

``ccxt.async_support.bitget`` with ``enableRateLimit`` (its own limiter: ``rateLimit`` 50 ms,
cost 1 for ``v3/account/financial-records`` = 20 req/s), one ``fetch_ledger(None, since,
None, {"paginate": True, "uta": True, …category…})`` per category, the six gathered
concurrently. How ccxt 4.5 builds that call (``ccxt/async_support/bitget.py``,
``fetch_ledger``): ``uta`` comes from ``params['uta']`` or ``options['uta']`` (else ccxt
probes ``GET /api/v3/account/settings``, which the sandbox does not serve, and falls back to the
classic v2 endpoints); with ``paginate`` it calls ``fetch_paginated_call_cursor(…, cursorReceived
='id', cursorSent='cursor', maxEntriesPerRequest=100)``: at most ``paginationCalls`` (default 10)
pages, ``limit=100``, the next cursor taken from the ``info.id`` of the *last entry after
``parse_ledger`` sorted the page by timestamp ascending*. The category is the request's
``category``: ``type='spot'`` → SPOT (+ ``marginMode`` → MARGIN), otherwise ``productType``.

Two adaptations, both outside ccxt's request path: ``urls['api']`` points every API host at
the sandbox, and the market table is set empty (``fetch_ledger`` calls ``load_markets`` first,
whose public endpoints the sandbox does not serve; with no symbol and no code the ledger call
never consults markets). A subclass records every row ccxt receives (``parse_ledger`` hook) so a
run cut short by the time bound still counts what arrived.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

CATEGORY_PARAMS: dict[str, dict[str, Any]] = {
    "SPOT": {"type": "spot"},
    "MARGIN": {"type": "spot", "marginMode": "cross"},
    "USDT-FUTURES": {"type": "swap", "productType": "USDT-FUTURES"},
    "COIN-FUTURES": {"type": "swap", "productType": "COIN-FUTURES"},
    "USDC-FUTURES": {"type": "swap", "productType": "USDC-FUTURES"},
    "OTHER": {"type": "swap", "productType": "OTHER"},
}
DEFAULT_PAGINATION_CALLS = 10  # fetch_paginated_call_cursor's maxCalls when no option is set
#: ccxt 4.5's pagination defaults for this call (base ``fetch_paginated_call_cursor`` and
#: bitget ``fetch_ledger``), reported beside the results.
DEFAULTS = {
    "paginationCalls": DEFAULT_PAGINATION_CALLS,   # pages per call, then it stops silently
    "maxRetries": 3,                               # consecutive failed pages before raising
    "maxEntriesPerRequest": 100,                   # sent as limit=100
    "cursor": "info.id of the last entry after parse_ledger sorted the page by timestamp ascending",
    "window": "since only: the server's default window (30 days from since); no splitting into windows",
}


def available() -> str | None:
    """ccxt's version, or None when it is not installed."""
    try:
        import ccxt
    except ImportError:
        return None
    return str(ccxt.__version__)


def _exchange(url: str, account: dict[str, str], seen: dict[str, int], options: dict[str, Any]) -> Any:
    import ccxt.async_support as ccxt_async

    class Recording(ccxt_async.bitget):  # type: ignore[misc, name-defined]
        def parse_ledger(self, data: Any, currency: Any = None, since: Any = None, limit: Any = None,
                         params: Any = {}) -> Any:  # noqa: B006 - ccxt's own signature
            for item in self.to_array(data):
                seen["rows"] += 1
                seen.setdefault(str(item.get("id")), 0)
            return super().parse_ledger(data, currency, since, limit, params)

    exchange = Recording({
        "apiKey": account["api_key"],
        "secret": account["api_secret"],
        "password": account["passphrase"],
        "enableRateLimit": True,
        "options": options,
    })
    exchange.urls["api"] = {name: url for name in exchange.urls["api"]}
    exchange.set_markets({}, {})
    return exchange


async def _fetch_all(url: str, account: dict[str, str], since: int, seen: dict[str, int],
                     options: dict[str, Any], bound_s: float | None) -> dict[str, Any]:
    exchange = _exchange(url, account, seen, options)
    results: dict[str, Any] = {}

    async def one(category: str) -> None:
        params = {"paginate": True, "uta": True, **CATEGORY_PARAMS[category]}
        try:
            entries = await exchange.fetch_ledger(None, since, None, params)
            results[category] = {"entries": len(entries), "ids": {e["id"] for e in entries}}
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            results[category] = {"error": f"{type(exc).__name__}: {exc}"[:300]}

    start = time.perf_counter()
    timed_out = False
    try:
        tasks = [asyncio.ensure_future(one(c)) for c in CATEGORY_PARAMS]
        done, pending = await asyncio.wait(tasks, timeout=bound_s)
        if pending:
            timed_out = True
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await exchange.close()
    return {"wall_s": time.perf_counter() - start, "timed_out": timed_out, "per_category": results}


def run_ccxt(url: str, account: dict[str, str], since: int, truth_ids: set[str], *,
             pagination_calls: int | None = None, bound_s: float | None = None) -> dict[str, Any]:
    """Six concurrent paginated ``fetch_ledger`` calls; rows/s and completeness against truth.

    ``pagination_calls`` None keeps ccxt's default page cap; ``bound_s`` stops the run after
    that many seconds (rows received until then still count).
    """
    seen: dict[str, int] = {"rows": 0}
    options: dict[str, Any] = {"uta": True}
    if pagination_calls is not None:
        options["fetchLedger"] = {"paginationCalls": pagination_calls}
    result = asyncio.run(_fetch_all(url, account, since, seen, options, bound_s))
    received = {k for k in seen if k != "rows"}
    returned: set[str] = set()
    for r in result["per_category"].values():
        returned |= r.get("ids", set())
    got = returned if not result["timed_out"] else received
    per_category = {
        c: ({"entries": r["entries"], "unique": len(r["ids"])} if "ids" in r else r)
        for c, r in result["per_category"].items()
    }
    wall = result["wall_s"]
    import ccxt

    return {
        "defaults": {**DEFAULTS, "rateLimit_ms": ccxt.bitget().rateLimit},
        "pagination_calls": pagination_calls if pagination_calls is not None else DEFAULT_PAGINATION_CALLS,
        "bound_s": bound_s,
        "timed_out": result["timed_out"],
        "wall_s": round(wall, 2),
        "rows_received": seen["rows"],
        "unique_rows": len(got),
        "rows_per_s": round(len(got) / wall, 1),
        "truth_rows": len(truth_ids),
        "missing": len(truth_ids - got),
        "got_every_row": not (truth_ids - got),
        "foreign_ids": len(got - truth_ids),
        "per_category": per_category,
    }


def parse_ledger_rate(pages: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """ccxt's bitget ``parse_ledger`` on already-decoded rows of recorded pages: rows/s."""
    import ccxt

    exchange = ccxt.bitget()
    exchange.set_markets({}, {})
    rows = sum(len(p) for p in pages)
    start = time.perf_counter()
    for page in pages:
        exchange.parse_ledger(page)
    elapsed = time.perf_counter() - start
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed, 1)}
