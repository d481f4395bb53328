"""Bitget's reach streams, measured with the real ``cexledger sync`` against the sandbox.

* ``tax_ceiling``: the tax records of a first sync with a tax key, rows/s ÷ their ceiling
  (1 request/s × 500 rows), beside the requests the data needs at least;
* ``all_streams``: a first sync of an account with every Bitget stream (financial records
  20/s, funding wallet 10/s, tax records 1/s, each on its own budget), its wall time ÷ the
  slowest stream's ideal time at its own limit.

A year of tax records is at least 6 categories × ~40 seven-day windows, one request each at
1/s: minutes. So both run with every limit multiplied by ``scale`` (the sandbox's
``--rate-limit-scale`` and ``_scaled_cli.py``, which scales every connector ``Budget``), and
every ceiling and ideal time is taken at the scaled rate: the ratios are those of the real
limits, only the clock runs ``scale`` times faster.

"Minimum requests" are an ideal client's with cexledger's own window plan: per partition
and planned window, ``max(1, ceil(rows / page))`` — an empty window still costs its one
request. ``rule_requests`` is what cexledger's stop rule needs for the same windows unsplit
(a short *first* page is never taken as the end, and a full last page is followed once
more; see ``exchanges/_paging.py``), so a shortfall shows whether it is the data (page
fill), the stop rule, or the pace.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from pathlib import Path
from typing import Any, Sequence

from _sandbox import Sandbox, StatsPoller, archive_ids, sync, write_config

from cexledger.exchanges import _windows
from cexledger.exchanges._limits import RATE_SAFETY
from cexledger.exchanges.base import StreamSpec
from cexledger.exchanges.bitget.client import BITGET_CATEGORIES
from cexledger.exchanges.bitget.streams import FINANCIAL, FUNDING, FUNDING_PARTITION, TAX, TAX_PAGE_LIMIT
from cexledger.sandbox.bitget import FUNDING_PATH, PATH as FINANCIAL_PATH, TAX_PATH
from cexledger.sync import now_ms

#: Rows per page of each stream (the most each endpoint serves).
PAGE = {FINANCIAL.name: 100, FUNDING.name: 100, TAX.name: TAX_PAGE_LIMIT}
PATHS = {FINANCIAL.name: FINANCIAL_PATH, FUNDING.name: FUNDING_PATH, TAX.name: TAX_PATH}


def planned_windows(spec: StreamSpec, now: int) -> list[tuple[int, int]]:
    """The windows a first sync plans for ``spec``: its reach on its grid; tax records minus
    what financial records fetch themselves (their 90 days), as the Bitget connector plans."""
    assert spec.window_ms is not None
    elsewhere = [_windows.wanted_range(now, FINANCIAL.retention_ms)] if spec is TAX else []
    return _windows.plan_gaps(now, [], [], retention_ms=spec.retention_ms, grid_ms=spec.window_ms - 1,
                              elsewhere=elsewhere)


def window_requests(ts: Sequence[int], windows: Sequence[tuple[int, int]], page: int) -> dict[str, int]:
    """For sorted timestamps ``ts``: the rows inside ``windows``, the ideal client's requests
    and those of cexledger's stop rule (unsplit windows)."""
    rows = minimum = rule = 0
    for s, e in windows:
        n = bisect_left(ts, e) - bisect_left(ts, s)
        rows += n
        minimum += max(1, math.ceil(n / page))
        rule += 1 if n == 0 else 2 if n < page else n // page + 1
    return {"rows": rows, "requests_min": minimum, "rule_requests": rule}


def _stream_truth(sandbox: Sandbox, account: str, spec: StreamSpec, partitions: Sequence[str], now: int
                  ) -> dict[str, Any]:
    """Per stream: the ids a first sync must archive, rows, minimum and rule requests."""
    windows = planned_windows(spec, now)
    out = {"ids": set(), "rows": 0, "requests_min": 0, "rule_requests": 0, "windows": len(windows),
           "partitions": len(partitions)}
    lo, hi = windows[0][0], windows[-1][1]        # a first sync's windows are contiguous
    for partition in partitions:
        rows = sandbox.truth("bitget", account, spec.name, None if spec is FUNDING else partition)
        inside = [(int(r.ts), str(r.id)) for r in rows if lo <= int(r.ts) < hi]
        out["ids"] |= {i for _, i in inside}
        counted = window_requests(sorted(t for t, _ in inside), windows, PAGE[spec.name])
        for k in ("rows", "requests_min", "rule_requests"):
            out[k] += counted[k]
    return out


def _first_sync(sandbox: Sandbox, workdir: Path, name: str, scale: float, specs: Sequence[StreamSpec],
                categories: Sequence[str] | None) -> dict[str, Any]:
    """One first sync with the tax key at ``scale``: per stream truth, archive and requests."""
    account = sandbox.accounts("bitget")[0]["name"]
    settings = {"categories": list(categories)} if categories else {}
    config = write_config(workdir / f"{name}.toml", sandbox, "bitget", tax=True, **settings)
    db = workdir / f"{name}.db"
    now = now_ms()
    partitions = list(categories or BITGET_CATEGORIES)
    truth = {s.name: _stream_truth(sandbox, account, s, [FUNDING_PARTITION] if s is FUNDING else partitions, now)
             for s in specs}
    sandbox.reset_stats()
    poller = StatsPoller(sandbox, path=TAX_PATH).start()
    try:
        run = sync(config, db, workdir, rate_scale=scale).check()
    finally:
        poller.stop()
    streams: dict[str, Any] = {}
    for spec in specs:
        t = truth[spec.name]
        archived = archive_ids(db, (spec.name,))
        rate = spec.budget.rate * scale
        streams[spec.name] = {
            "rows": t["rows"], "archived": len(archived),
            "complete": set(archived) == t["ids"] and len(archived) == len(t["ids"]),
            "windows": t["windows"], "partitions": t["partitions"],
            "requests_min": t["requests_min"], "rule_requests": t["rule_requests"],
            **sandbox.path_stats(PATHS[spec.name]),
            "limit_req_per_s": rate,
            "ideal_s": round(t["requests_min"] / rate, 2),
            "page_fill": round(t["rows"] / (t["requests_min"] * PAGE[spec.name]), 4),
        }
    # when each stream's last answer came, seconds after the sync's first request: streams
    # that run side by side each end near their own ideal time
    start = min(s["first_arrived"] for s in streams.values() if s["first_arrived"] is not None)
    for s in streams.values():
        arrived, answered = s.pop("first_arrived"), s.pop("last_answered")
        s["started_s"] = None if arrived is None else round(arrived - start, 2)
        s["done_s"] = None if answered is None else round(answered - start, 2)
        s["rule_s"] = round(s["rule_requests"] / s["limit_req_per_s"], 2)
    return {"scale": scale, "wall_s": round(run.wall_s, 2), "cpu_s": round(run.user_s + run.sys_s, 2),
            "maxrss_mb": round(run.maxrss_mb, 1), "streams": streams,
            "tax_timeline": poller.timeline(run.wall_s), "db": str(db)}


def tax_ceiling(sandbox: Sandbox, workdir: Path, scale: float) -> dict[str, Any]:
    """The tax records of a first sync with a tax key: rows/s ÷ (500 × ``scale``)."""
    r = _first_sync(sandbox, workdir, "tax", scale, (FINANCIAL, FUNDING, TAX), None)
    tax = r["streams"][TAX.name]
    ceiling = TAX.budget.rate * scale * TAX_PAGE_LIMIT
    rows_per_s = tax["archived"] / r["wall_s"]
    r.update({
        "rows": tax["archived"], "rows_per_s": round(rows_per_s, 1), "ceiling_rows_per_s": ceiling,
        "ratio": round(rows_per_s / ceiling, 4),
        # the best the data allows: every request the minimum, full pace of the real limit
        "ideal_ratio": tax["page_fill"],
        "client_ratio_of_ideal": round(rows_per_s / ceiling / tax["page_fill"], 4) if tax["page_fill"] else None,
        "pace_share": RATE_SAFETY,
    })
    return r


def all_streams(sandbox: Sandbox, workdir: Path, scale: float, categories: Sequence[str]) -> dict[str, Any]:
    """A first sync of every Bitget stream: wall time ÷ the slowest stream's ideal time."""
    r = _first_sync(sandbox, workdir, "all-streams", scale, (FINANCIAL, FUNDING, TAX), categories)
    ideals = {name: s["ideal_s"] for name, s in r["streams"].items()}
    slowest = max(ideals, key=ideals.__getitem__)
    r.update({
        "ideal_s": ideals, "slowest": slowest,
        "ratio": round(r["wall_s"] / ideals[slowest], 4),
        # the same against each stream's time under cexledger's stop rule: side by side
        # means the wall is the slowest of these, not their sum
        "rule_slowest": (rule := max(r["streams"], key=lambda n: r["streams"][n]["rule_s"])),
        "rule_ratio": round(r["wall_s"] / r["streams"][rule]["rule_s"], 4),
        # what the ratio would be if the streams ran one after another
        "sequential_ratio": round(sum(ideals.values()) / ideals[slowest], 3),
        "categories": list(categories),
    })
    return r
