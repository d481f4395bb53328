"""Spot legs paired into trades (``cexledger.ledger.pairing``): the rule in its docstring."""

from __future__ import annotations

from decimal import Decimal as D

from cexledger.ledger import Pairing, Trade
from cexledger.model import Kind, LedgerEntry


def entry(record_id: str, seq: int, ts: int, kind: Kind, coin: str, amount: str, *,
          symbol: str | None = "BTCUSDT", category: str = "SPOT", account: str = "main",
          exchange_type: str = "ORDER_DEALT_IN") -> LedgerEntry:
    return LedgerEntry(account, "bitget", "financial-records", record_id, seq, ts, kind, coin, D(amount),
                       None, category, symbol, exchange_type)


def fill(ts: int, first_id: int, got: tuple[str, str], paid: tuple[str, str], fee: str | None = None,
         **kw) -> list[LedgerEntry]:
    legs = [entry(str(first_id), 0, ts, Kind.TRADE, got[0], got[1], **kw)]
    if fee is not None:
        legs.append(entry(str(first_id), 1, ts, Kind.FEE, got[0], fee, **kw))
    legs.append(entry(str(first_id + 1), 0, ts, Kind.TRADE, paid[0], paid[1],
                      exchange_type="ORDER_DEALT_FROZEN_OUT", **kw))
    return legs


def events(entries: list[LedgerEntry]) -> tuple[list, Pairing]:
    pairing = Pairing(entries)
    return list(pairing), pairing


def test_a_fill_is_one_trade_with_its_fee():
    legs = fill(1000, 10, ("BTC", "0.00531168"), ("USDT", "-300.5"), fee="-0.00000531")
    (trade,), pairing = events(legs)
    assert isinstance(trade, Trade)
    assert trade.received == ("BTC", D("0.00531168"))
    assert trade.sent == ("USDT", D("-300.5"))
    assert trade.fees == (("BTC", D("-0.00000531")),)
    assert trade.record_ids == ("10", "11")
    assert set(trade.entries) == set(legs)
    assert (pairing.trades, pairing.unpaired) == (1, 0)


def test_a_trade_stands_for_exactly_its_entries_amounts():
    legs = fill(1000, 10, ("USDT", "70000.123456789012345678"), ("BTC", "-1"), fee="-70.000123456789012346")
    (trade,), _ = events(legs)
    sums: dict[str, D] = {}
    for e in trade.entries:
        sums[e.coin] = sums.get(e.coin, D(0)) + e.amount
    assert sums == {"USDT": trade.received[1] + trade.fees[0][1], "BTC": trade.sent[1]}


def test_a_leg_without_partner_is_passed_on_and_counted():
    lone = [entry("5", 0, 1000, Kind.TRADE, "BTC", "0.1"), entry("5", 1, 1000, Kind.FEE, "BTC", "-0.0001")]
    out, pairing = events(lone)
    assert out == lone
    assert (pairing.trades, pairing.unpaired) == (0, 1)


def test_legs_at_other_times_or_symbols_do_not_pair():
    a = entry("1", 0, 1000, Kind.TRADE, "BTC", "0.1")
    b = entry("2", 0, 1001, Kind.TRADE, "USDT", "-10", exchange_type="ORDER_DEALT_FROZEN_OUT")
    c = entry("3", 0, 1001, Kind.TRADE, "ETH", "1", symbol="ETHUSDT")
    out, pairing = events([a, b, c])
    assert out == [a, b, c]
    assert pairing.unpaired == 3


def test_same_direction_legs_and_three_coins_have_no_partner():
    both_in = [entry("1", 0, 7, Kind.TRADE, "BTC", "0.1"), entry("2", 0, 7, Kind.TRADE, "USDT", "5")]
    out, pairing = events(both_in)
    assert out == both_in and pairing.unpaired == 2
    three = [*fill(7, 1, ("BTC", "1"), ("USDT", "-5")), entry("9", 0, 7, Kind.TRADE, "ETH", "-1")]
    out, pairing = events(three)
    assert out == three and pairing.unpaired == 3


def test_several_fills_in_one_millisecond_are_one_trade_of_their_sums():
    legs = fill(5, 1, ("BTC", "0.1"), ("USDT", "-10"), fee="-0.0001") + fill(5, 3, ("BTC", "0.2"), ("USDT", "-20"))
    (trade,), pairing = events(legs)
    assert trade.received == ("BTC", D("0.3")) and trade.sent == ("USDT", D("-30"))
    assert trade.record_ids == ("1", "2", "3", "4")
    assert pairing.trades == 1


def test_other_entries_keep_their_place_and_other_accounts_stay_apart():
    before = entry("0", 0, 5, Kind.REALIZED_PNL, "USDT", "3", category="USDT-FUTURES", symbol="BTCUSDT")
    mine = fill(5, 1, ("BTC", "0.1"), ("USDT", "-10"))
    theirs = [entry("1", 0, 5, Kind.TRADE, "BTC", "0.5", account="other")]
    out, pairing = events([before, *mine, *theirs])
    assert out[0] is before and isinstance(out[1], Trade) and out[2] is theirs[0]
    assert (pairing.trades, pairing.unpaired) == (1, 1)


def test_conversions_pair_without_a_symbol_and_apart_from_trades():
    convert = [entry("1", 0, 9, Kind.CONVERT, "USDT", "-50", symbol=None, exchange_type="EXCHANGE_SOURCE_TOKEN_USER_OUT"),
               entry("2", 0, 9, Kind.CONVERT, "BGB", "40", symbol=None, exchange_type="EXCHANGE_TARGET_TOKEN_USER_IN")]
    (trade,), _ = events(convert)
    assert trade.kind is Kind.CONVERT and trade.received == ("BGB", D("40")) and trade.sent == ("USDT", D("-50"))


def test_zero_legs_are_not_legs():
    zero = entry("1", 0, 3, Kind.TRADE, "BTC", "0")
    out, pairing = events([zero])
    assert out == [zero] and pairing.unpaired == 0


def test_a_buy_and_a_sell_in_one_millisecond_stay_two_trades():
    buy = fill(5, 1, ("BTC", "1"), ("USDT", "-100000"), fee="-0.001")
    sell = fill(5, 3, ("USDT", "50050"), ("BTC", "-0.5"), fee="-50.05")
    out, pairing = events(buy + sell)
    assert (pairing.trades, pairing.unpaired) == (2, 0)
    by_received = {t.received[0]: t for t in out}
    assert by_received["BTC"].sent == ("USDT", D("-100000")) and by_received["BTC"].fees == (("BTC", D("-0.001")),)
    assert by_received["USDT"].sent == ("BTC", D("-0.5")) and by_received["USDT"].fees == (("USDT", D("-50.05")),)
    assert by_received["BTC"].record_ids == ("1", "2") and by_received["USDT"].record_ids == ("3", "4")


def test_a_leg_left_over_by_one_direction_is_unpaired_with_its_fee():
    legs = fill(5, 1, ("BTC", "1"), ("USDT", "-100")) + [
        entry("9", 0, 5, Kind.TRADE, "USDT", "7"), entry("9", 1, 5, Kind.FEE, "USDT", "-0.01")]
    out, pairing = events(legs)
    assert (pairing.trades, pairing.unpaired) == (1, 1)
    assert isinstance(out[0], Trade) and out[1:] == legs[2:]
