"""Bitget generated history: exact balance chains, grid rows, extremes, old rows never served,
spot fills and conversions as their two legs."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from decimal import Decimal, localcontext

from cexledger import _json
from cexledger.sandbox.generate import bitget_rows

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
    assert any(Decimal(r["fee"]) > 0 for r in rows if r["category"] in FUTURES)   # maker rebates
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


FILL_TYPES = ("ORDER_DEALT_IN", "ORDER_DEALT_FROZEN_OUT")          # (coin received, coin paid)
CONVERT_TYPES = ("EXCHANGE_TARGET_TOKEN_USER_IN", "EXCHANGE_SOURCE_TOKEN_USER_OUT")
# plausible prices in USDT of one coin: wide bounds a generator bug (a unit off) would leave
PRICES = {"BTC": (10_000, 500_000), "ETH": (500, 20_000), "SOL": (10, 2_000), "BGB": (Decimal("0.1"), 50)}


def _all_rows(sandbox, account: str) -> list[dict]:
    """Every stored financial record of ``account``, old ones too, in (ts, id) order."""
    book = sandbox.state.bitget[account]
    rows = [_json.loads(ledger.render(i, sandbox.state.variant))
            for ledger in book.ledgers.values() for i in range(len(ledger))]
    return sorted(rows, key=lambda r: (int(r["ts"]), int(r["id"])))


def test_spot_fills_and_conversions_are_booked_as_paired_legs(either):
    accounts = [a.name for a in either.state.accounts if a.exchange == "bitget"]
    assert accounts
    for account in accounts:
        rows = _all_rows(either, account)
        assert len(rows) == bitget_rows(either.state.config.records)   # pairs count as two rows
        by_id = {int(r["id"]): r for r in rows}
        ids = sorted(by_id)
        legs = [r for r in rows if r["type"] in FILL_TYPES + CONVERT_TYPES]
        pairs, alone, ways = [], [], {}
        for leg in legs:
            if leg["type"] not in (FILL_TYPES[0], CONVERT_TYPES[0]):
                continue
            following = ids.index(int(leg["id"])) + 1
            partner = by_id[ids[following]] if following < len(ids) else None
            types = FILL_TYPES if leg["type"] == FILL_TYPES[0] else CONVERT_TYPES
            if partner is None or partner["type"] != types[1]:
                alone.append(leg)
                continue
            pairs.append((leg, partner))
            # the next id, the same time, the same symbol (none for a conversion), two coins
            assert (partner["ts"], partner["category"]) == (leg["ts"], leg["category"])
            assert partner.get("symbol", "") == leg.get("symbol", "")
            assert leg["coin"] != partner["coin"]
            assert Decimal(leg["amount"]) > 0 > Decimal(partner["amount"]) and Decimal(partner["fee"]) == 0
            fee = Decimal(leg["fee"])
            if types is FILL_TYPES:
                symbol = leg["symbol"]
                assert symbol in (leg["coin"] + "USDT", partner["coin"] + "USDT") and "USDT" in (leg["coin"], partner["coin"])
                assert -Decimal(leg["amount"]) < fee <= 0               # paid in the coin received
                base, usdt = (leg, partner) if partner["coin"] == "USDT" else (partner, leg)
                price = abs(Decimal(usdt["amount"]) / Decimal(base["amount"]))
                low, high = PRICES[base["coin"]]
                assert low <= price <= high, (leg, partner)
                # every fill of one (category, symbol, ts) goes the same way: one trade
                assert ways.setdefault((leg["category"], symbol, leg["ts"]), leg["coin"]) == leg["coin"]
            else:
                assert leg.get("symbol", "") == "" and fee == 0
        paired = {id(r) for pair in pairs for r in pair}
        assert len(paired) + len(alone) == len(legs)                 # no leg outside a pair but one
        (lone,) = alone                                              # the one unpaired leg
        assert lone["type"] == FILL_TYPES[0] and lone["category"] == "SPOT"
        assert sum(1 for r in rows if r["ts"] == lone["ts"]) == 1    # nothing shares its time
        kinds = Counter((p[0]["type"], p[0]["category"]) for p in pairs)
        assert kinds[(FILL_TYPES[0], "SPOT")] > 50 and kinds[(FILL_TYPES[0], "Margin")] > 10
        assert kinds[(CONVERT_TYPES[0], "SPOT")] > 3
        assert {p[0]["coin"] for p in pairs if p[0]["type"] == FILL_TYPES[0]} >= {"USDT", "BTC"}  # sells, buys
        assert max(Counter((l["category"], l.get("symbol"), l["ts"]) for l, _ in pairs).values()) > 1


def test_appended_fills_come_in_pairs(make_sandbox):
    sandbox = make_sandbox(records=300, rate_limit=False)
    ids = sandbox.post("/_sandbox/append", {"exchange": "bitget", "account": "bitget-1", "count": 201,
                                             "instrument": "SPOT"})["ids"]
    assert len(ids) == 201
    rows = {r["id"]: r for r in _all_rows(sandbox, "bitget-1")}
    new = [rows[i] for i in ids]
    ins = [r for r in new if r["type"] in (FILL_TYPES[0], CONVERT_TYPES[0])]
    assert len(ins) > 20
    for leg in ins:
        partner = new[new.index(leg) + 1]
        assert partner["type"] in (FILL_TYPES[1], CONVERT_TYPES[1]) and partner["ts"] == leg["ts"]
    assert sum(r["type"] in (FILL_TYPES[1], CONVERT_TYPES[1]) for r in new) == len(ins)
