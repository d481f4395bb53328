"""Bitget generated history: exact balance chains, grid rows, extremes, old rows never served."""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal, localcontext

from cexledger import _json

from .support import DAY_MS, now_ms, page_rows

FUTURES = {"USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES"}


def test_balance_chain_is_exact(either):
    chains: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in either.truth("bitget", "bitget-1"):  # id ascending == (ts, id) ascending
        chains[(row["category"], row["coin"])].append(row)
    assert len(chains) >= 10
    with localcontext() as ctx:
        ctx.prec = 200
        for rows in chains.values():
            for prev, row in zip(rows, rows[1:]):
                assert Decimal(row["balance"]) == Decimal(prev["balance"]) + Decimal(row["amount"]) + Decimal(row["fee"]), row


def test_rows_on_the_30_day_grid(standard):
    t0 = standard.state.t0
    first = now_ms() - 90 * DAY_MS
    grid = {t0 - 30 * DAY_MS, t0 - 60 * DAY_MS}
    grid |= {k * 30 * DAY_MS for k in range(first // (30 * DAY_MS), t0 // (30 * DAY_MS) + 1)
             if first + 3_600_000 <= k * 30 * DAY_MS <= t0}
    assert len(grid) >= 4
    present = defaultdict(set)
    for row in standard.truth("bitget", "bitget-1"):
        present[int(row["ts"])].add(row["category"])
    for point in grid:
        assert present[point] == {"SPOT", "Margin", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER"}


def test_old_rows_exist_but_are_never_served(standard):
    cutoff = now_ms() - 90 * DAY_MS
    stored_old = [ts for ledger in standard.state.bitget["bitget-1"].ledgers.values()
                  for ts in ledger.ts if ts < cutoff]
    assert stored_old and max(stored_old) <= cutoff - DAY_MS + 60_000
    truth = standard.truth("bitget", "bitget-1")
    assert min(int(r["ts"]) for r in truth) >= cutoff + 3_000_000
    # nothing within an hour of the moving retention edge: tests do not flake as time passes
    assert not [ts for ts in stored_old if ts > cutoff - 3_600_000]
    for category in ("SPOT", "USDT-FUTURES", "OTHER"):  # the default window never reaches them
        rows = page_rows(standard.bitget(f"category={category}&endTime={cutoff + 10 * DAY_MS}&limit=100"))
        assert all(int(_json.loads(r)["ts"]) >= cutoff for r in rows)


def test_row_shapes_and_extremes(standard):
    raw = standard.truth_raw("bitget", "bitget-1")
    rows = [_json.loads(r) for r in raw]
    for row in rows:
        assert list(row)[:9] == ["category", "id", "symbol", "coin", "type", "amount", "fee", "balance", "ts"]
        assert all(isinstance(v, str) for v in row.values())
        assert re.fullmatch(r"\d{17,19}", row["id"])
        position_fields = {"positionType", "positionAmount", "positionBalance"} & set(row)
        # as live: a futures position's rows carry all three (crossed/isolated), transfers
        # and funding rows none; other categories never
        assert position_fields in (set(), {"positionType", "positionAmount", "positionBalance"})
        assert not position_fields or row["category"] in FUTURES
        if position_fields:
            assert row["positionType"] in ("crossed", "isolated")
    futures = [r for r in rows if r["category"] in FUTURES]
    assert {r.get("positionType") for r in futures} == {"crossed", "isolated", None}
    ids = [int(r["id"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    ts = [int(r["ts"]) for r in rows]
    assert ts == sorted(ts), "ids increase with ts"
    amounts = {r["amount"] for r in rows}
    assert "0.000000000000000001" in amounts
    assert any(len(a.partition(".")[2]) == 18 and Decimal(a) > 10**7 for a in amounts)
    assert any(Decimal(r["fee"]) < 0 for r in rows)
    types = {r["type"] for r in rows}
    assert {"SOME_NEW_TYPE_2026", "ORDER_DEALT_IN", "CONTRACT_MAIN_SETTLE_FEE_USER_OUT", "OPEN_LONG"} <= types
    assert {r["category"] for r in rows} == {"SPOT", "Margin", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER"}
    assert any(r["symbol"] == "" and r["type"] == "TRANSFER_IN" for r in rows)


def test_variant_row_spelling(variant):
    rows = [_json.loads(r) for r in variant.truth_raw("bitget", "bitget-1")]
    transfers = [r for r in rows if r["type"] == "TRANSFER_OUT"]
    assert transfers and all("symbol" not in r for r in transfers)
    assert all(len(r["amount"].partition(".")[2]) >= 8 for r in rows)
    assert any(r["fee"] == "0.00000000" for r in rows)
