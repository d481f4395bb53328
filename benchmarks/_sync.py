"""Items measured with the real ``cexledger sync`` subprocess against the sandbox.

* ``ceiling``: rows/s of a backfill under the exchange's rate limit, ÷ the limit's rows/s,
  with the request count beside the minimum the data needs and the sandbox's 429 count;
* ``incremental``: a re-sync with nothing new, counted in requests per stream;
* ``memory``: the sync process's peak RSS (``ru_maxrss`` via ``os.wait4``).

Rows are the sandbox's ground truth; every run checks that the archive holds exactly those ids.
A Bitget sync also reads the funding wallet (its own endpoint and 10/s budget, alongside):
the ceiling counts rows, requests and 429s of the financial records only (their endpoint's
own counters), and reports the funding wallet's beside them.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from _sandbox import Sandbox, StatsPoller, archive_counts, archive_ids, archive_streams, sync, write_config

from cexledger.exchanges import _windows
from cexledger.exchanges.bitget.streams import FINANCIAL, FUNDING
from cexledger.exchanges.coinw.streams import DEALS
from cexledger.sandbox.bitget import FUNDING_PATH, PATH as BITGET_PATH
from cexledger.sandbox.coinw import PATH as COINW_PATH
from cexledger.sync import now_ms

#: The endpoint each exchange's ceiling measures (CoinW has one: all requests count).
CEILING_PATH = {"bitget": BITGET_PATH, "coinw": None}
#: (stream, endpoint) of each exchange's streams a sync without a tax key reads.
STREAM_PATHS = {"bitget": ((FINANCIAL.name, BITGET_PATH), (FUNDING.name, FUNDING_PATH)),
                "coinw": ((DEALS.name, COINW_PATH),)}

#: The documented budgets: requests/s per key × rows per page.
BITGET_RATE, COINW_RATE, PAGE = 20, 5, 100
#: The client's pace in runs that measure something else than pacing (the sandbox's limit off).
UNPACED_RATE = 1000


def client_pace(exchange: str, override: float | None = None) -> float | None:
    """The request rate cexledger's client paces itself at (config ``rate_limit`` or its
    default: the documented budget times the client's safety margin, read from the code)."""
    if override is not None:
        return float(override)
    from cexledger.exchanges._limits import RATE_SAFETY

    return (FINANCIAL if exchange == "bitget" else DEALS).budget.rate * RATE_SAFETY


def bitget_min_requests(rows: list[Any], now: int) -> int:
    """Requests an ideal client needs for these rows with cexledger's own window plan.

    Per category, per ≤30-day grid window of the retention range: ``max(1, ceil(n / 100))``
    (an empty window still costs its one request).
    """
    start, end = _windows.wanted_range(now, FINANCIAL.retention_ms)
    windows = _windows.plan_windows(start, end, FINANCIAL.window_ms - 1)
    by_category: dict[str, list[int]] = {}
    for r in rows:
        by_category.setdefault(str(r.category).upper(), []).append(int(r.ts))
    total = 0
    for category in ("SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER"):
        ts = by_category.get(category, [])
        for s, e in windows:
            n = sum(1 for t in ts if s <= t < e)
            total += max(1, math.ceil(n / PAGE))
    return total


def coinw_min_requests(per_instrument: Counter[str]) -> int:
    """Page-number paging ends on a short page: ``floor(n / 100) + 1`` requests per instrument."""
    return sum(n // PAGE + 1 for n in per_instrument.values())


def ceiling(sandbox: Sandbox, exchange: str, workdir: Path, **settings: Any) -> dict[str, Any]:
    """One backfill sync at the rate limit: rows/s ÷ the documented ceiling, and why."""
    account = sandbox.accounts(exchange)[0]["name"]
    truth = sandbox.truth(exchange, account)
    truth_ids = {str(r.id) for r in truth}
    config = write_config(workdir / f"{exchange}.toml", sandbox, exchange, **settings)
    db = workdir / f"{exchange}.db"
    path = CEILING_PATH[exchange]
    sandbox.reset_stats()
    poller = StatsPoller(sandbox, path=path).start()
    try:
        run = sync(config, db, workdir).check()
    finally:
        poller.stop()
    stats = sandbox.stats()
    measured = stats if path is None else sandbox.path_stats(path)
    archived = archive_ids(db)
    rows = len(truth_ids)
    rate = BITGET_RATE if exchange == "bitget" else COINW_RATE
    if exchange == "bitget":
        min_requests = bitget_min_requests(truth, now_ms())
    else:
        min_requests = coinw_min_requests(Counter(str(r.instrument).upper() for r in truth))
    requests = measured["requests"]
    timeline = poller.timeline(run.wall_s)
    pace = client_pace(exchange, settings.get("rate_limit"))
    rows_per_s = rows / run.wall_s
    return {
        "rows": rows,
        "wall_s": round(run.wall_s, 2),
        "rows_per_s": round(rows_per_s, 1),
        "ceiling_rows_per_s": rate * PAGE,
        "ratio": round(rows_per_s / (rate * PAGE), 4),
        "complete": set(archived) == truth_ids and len(archived) == rows,
        "requests": requests,
        "requests_min": min_requests,
        "rate_limited": measured["rate_limited"],
        "rate_limited_share": round(measured["rate_limited"] / max(1, requests), 5),
        "by_status": stats["by_status"],
        "by_path": stats["by_path"],
        "timeline": timeline,
        "client_pace_req_per_s": pace,
        # where the ratio goes: the product of these factors is the ratio (up to the 0.1 s
        # sampling of the sandbox's counters)
        "factors": {
            "page_fill": round(rows / (min_requests * PAGE), 4),
            "request_efficiency": round(min_requests / max(1, requests), 4),
            "pace_share": round(pace / rate, 4) if pace else None,
            "pace_utilisation": round(timeline["active_req_per_s"] / pace, 4)
            if pace and timeline["active_req_per_s"] else None,
            "active_share_of_wall": round(timeline["active_s"] / run.wall_s, 4) if timeline["active_s"] else None,
        },
        "cpu_s": round(run.user_s + run.sys_s, 2),
        "maxrss_mb": round(run.maxrss_mb, 1),
        "db": str(db),
        "config": str(config),
        **(_funding_beside(sandbox, account, db) if exchange == "bitget" else {}),
    }


def _funding_beside(sandbox: Sandbox, account: str, db: Path) -> dict[str, Any]:
    """The funding wallet the same Bitget sync read alongside: its rows, requests, 429s."""
    truth = sandbox.truth_ids("bitget", account, FUNDING.name)
    archived = archive_ids(db, (FUNDING.name,))
    return {"funding": {"rows": len(truth), "complete": set(archived) == truth and len(archived) == len(truth),
                        **sandbox.path_stats(FUNDING_PATH)}}


def incremental(sandbox: Sandbox, config: Path, db: Path, workdir: Path) -> dict[str, Any]:
    """Re-sync an up-to-date archive: requests made (in all and per endpoint), beside the
    streams that hold data (one per partition: a Bitget category, its funding wallet)."""
    records_before, streams = archive_counts(db)
    sandbox.reset_stats()
    run = sync(config, db, workdir).check()
    stats = sandbox.stats()
    records_after, _ = archive_counts(db)
    return {
        "requests": stats["requests"],
        "streams": streams,
        "requests_per_stream": round(stats["requests"] / max(1, streams), 3),
        "by_path": stats["by_path"],
        "streams_by_name": archive_streams(db),
        "rate_limited": stats["rate_limited"],
        "new_records": records_after - records_before,
        "wall_s": round(run.wall_s, 2),
    }


def coinw_incremental_floor(sandbox: Sandbox) -> dict[str, int]:
    """Per instrument, the pages a recheck of open positions must read to see them all again.

    An incremental pass stops at the first full unchanged page, except when its hourly
    recheck is due (or ``--recheck-open``): then only once every archived open (mutable)
    position has been seen; rows are served newest first by (createdDate, id). The figure
    measures a re-sync right after the backfill, when no recheck is due.
    """
    account = sandbox.accounts("coinw")[0]["name"]
    body = sandbox.http.get("/_sandbox/truth", params={"exchange": "coinw", "account": account}).content
    rows = msgspec.json.decode(body, type=dict[str, list[dict[str, Any]]])["rows"]
    by_instrument: dict[str, list[tuple[int, int, bool]]] = {}
    for r in rows:
        by_instrument.setdefault(str(r["instrument"]).upper(), []).append(
            (int(r["createdDate"]), int(r["id"]), str(r.get("status")).lower() == "open"))
    floor = {}
    for instrument, items in by_instrument.items():
        items.sort(reverse=True)
        deepest = max((i for i, (_, _, is_open) in enumerate(items) if is_open), default=0)
        floor[instrument] = deepest // PAGE + 1
    return floor


def memory(sandbox: Sandbox, workdir: Path, name: str) -> dict[str, Any]:
    """Peak RSS of one backfill sync with the limits out of the way (latency 0, no 429).
    ``rows`` counts every record the sync archived (financial records and funding wallet)."""
    account = sandbox.accounts("bitget")[0]["name"]
    financial = len(sandbox.truth_ids("bitget", account))
    # 1000 requests/s is above Bitget's documented limit: the launcher raises that limit
    config = write_config(workdir / f"{name}.toml", sandbox, "bitget", rate_limit=UNPACED_RATE)
    db = workdir / f"{name}.db"
    sandbox.reset_stats()
    run = sync(config, db, workdir, rate_scale=UNPACED_RATE / FINANCIAL.budget.rate).check()
    records, _ = archive_counts(db)
    rows = records
    return {
        "rows": rows,
        "financial_rows": financial,
        "funding_rows": len(archive_ids(db, (FUNDING.name,))),
        "archived": records,
        "maxrss_mb": round(run.maxrss_mb, 1),
        "wall_s": round(run.wall_s, 2),
        "rows_per_s": round(rows / run.wall_s, 1),
        "cpu_s": round(run.user_s + run.sys_s, 2),
        "requests": sandbox.stats()["requests"],
        "db": str(db),
    }
