"""Rate limits, fault injection and latency, counted at arrival, deterministic by seed."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from cexledger import _json

from .support import BITGET_PATH, COINW_PATH, Sandbox

BQ = "category=SPOT&limit=1"
CQ = "instrument=BTC&pageSize=1"


async def burst(sandbox: Sandbox, exchange: str, n: int) -> list[httpx.Response]:
    """``n`` concurrent signed requests (one connection each)."""
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30, limits=limits) as client:
        if exchange == "bitget":
            calls = [client.get(f"{BITGET_PATH}?{BQ}", headers=sandbox.bitget_headers(BQ)) for _ in range(n)]
        else:
            calls = [client.get(f"{COINW_PATH}?{CQ}", headers=sandbox.coinw_headers(CQ)) for _ in range(n)]
        return list(await asyncio.gather(*calls))


async def test_bitget_rate_limit_20_per_second(make_sandbox):
    below = await burst(make_sandbox(records=100), "bitget", 20)
    assert [r.status_code for r in below] == [200] * 20
    sandbox = make_sandbox(records=100)  # a fresh window
    over = await burst(sandbox, "bitget", 25)
    statuses = Counter(r.status_code for r in over)
    assert statuses[429] >= 1 and statuses[200] >= 20 and statuses[200] + statuses[429] == 25
    rejected = next(r for r in over if r.status_code == 429)
    body = _json.loads(rejected.content)
    assert body["code"] == "429" and body["msg"] == "Too Many Requests" and body["data"] is None
    stats = sandbox.http.get("/_sandbox/stats").json()
    assert stats["rate_limited"] == statuses[429] and stats["requests"] == 25


async def test_coinw_rate_limit_5_per_second_both_shapes(make_sandbox):
    below = await burst(make_sandbox(records=100), "coinw", 5)
    assert all(_json.loads(r.content)["code"] == 0 for r in below)
    over = await burst(make_sandbox(records=100), "coinw", 9)
    limited = [r for r in over if _json.loads(r.content)["code"] == 29001]
    assert limited and all(r.status_code == 200 for r in limited)
    assert _json.loads(limited[0].content) == {"code": 29001, "message": "API access frequently",
                                               "retry": True, "success": False}
    variant = make_sandbox(records=100, dialect="variant")
    limited = [r for r in await burst(variant, "coinw", 9) if r.status_code == 429]
    assert limited
    assert _json.loads(limited[0].content) == {"code": 29001, "msg": "API access frequently", "data": None}


async def test_rate_limit_scale_and_switch(make_sandbox):
    scaled = make_sandbox(records=100, rate_limit_scale=2.0)
    assert all(r.status_code == 200 for r in await burst(scaled, "bitget", 40))
    scaled.post("/_sandbox/settings", {"rate_limit": False})
    assert all(_json.loads(r.content)["code"] == 0 for r in await burst(scaled, "coinw", 30))


def classify(sandbox: Sandbox, slow_s: float) -> str:
    started = time.monotonic()
    try:
        response = sandbox.bitget(BQ)
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return "drop"
    elapsed = time.monotonic() - started
    if response.status_code == 500:
        return "http500"
    if response.status_code == 502:
        assert response.headers["content-type"].startswith("text/html") and b"<html>" in response.content
        return "http502"
    try:
        body = _json.loads(response.content)
    except Exception:
        assert response.status_code == 200
        return "truncated"
    assert body["code"] == "00000"
    return "slow" if elapsed >= slow_s else "ok"


def test_every_fault_kind_at_a_fixed_seed_and_no_rate_limit_count(make_sandbox):
    sandbox = make_sandbox(records=100, faults=1.0, slow_fault_s=0.15, seed=3)
    kinds = [classify(sandbox, 0.15) for _ in range(30)]
    assert set(kinds) == {"http500", "http502", "truncated", "slow", "drop"}
    stats = sandbox.http.get("/_sandbox/stats").json()
    assert stats["faults"] == 30 and stats["rate_limited"] == 0
    assert stats["by_status"]["dropped"] == kinds.count("drop")
    # 30 faulted requests in well under a second did not use up the 20/s budget
    sandbox.post("/_sandbox/settings", {"faults": 0})
    assert sandbox.bitget(BQ).status_code == 200
    # the same seed injects the same sequence
    again = make_sandbox(records=100, faults=1.0, slow_fault_s=0.15, seed=3)
    assert [classify(again, 0.15) for _ in range(30)] == kinds


def test_latency_is_applied_and_changeable(make_sandbox):
    sandbox = make_sandbox(records=100, latency_ms=300)
    started = time.monotonic()
    assert sandbox.coinw(CQ).status_code == 200
    assert time.monotonic() - started >= 0.3
    sandbox.post("/_sandbox/settings", {"latency_ms": 0})
    started = time.monotonic()
    sandbox.bitget(BQ)
    assert time.monotonic() - started < 0.3


async def test_2000_rows_per_second_at_300ms_latency(make_sandbox):
    sandbox = make_sandbox(records=4000, latency_ms=300)
    query = "category=USDT-FUTURES&limit=100"
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30) as client:
        started = time.monotonic()
        calls = [client.get(f"{BITGET_PATH}?{query}", headers=sandbox.bitget_headers(query)) for _ in range(20)]
        responses = await asyncio.gather(*calls)
        elapsed = time.monotonic() - started
    rows = sum(len(_json.loads(r.content)["data"]["list"]) for r in responses)
    assert rows == 2000 and elapsed < 1.0


def test_fault_schedule_is_spread_evenly():
    import random

    from cexledger.sandbox.faults import FAULT_KINDS, FaultSchedule

    schedule = FaultSchedule(random.Random(11))
    rolls = [schedule.roll(0.15) for _ in range(2000)]
    hits = [i for i, kind in enumerate(rolls) if kind]
    assert abs(len(hits) - 300) <= 1
    assert hits[0] < 7 and max(b - a for a, b in zip(hits, hits[1:])) < 2 / 0.15
    assert {rolls[i] for i in hits} == set(FAULT_KINDS)
    assert all(schedule.roll(0.0) is None for _ in range(50))
    assert all(schedule.roll(1.0) for _ in range(50))
