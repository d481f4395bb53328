"""Normalization tables: Bitget types -> kinds; CoinW rows -> entries summing to netProfit."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cexledger import _json
from cexledger.exchanges.bitget import BITGET_KINDS, bitget_kind, bitget_record
from cexledger.exchanges.coinw import coinw_record, is_forced_close
from cexledger.model import Kind

# Written out independently of the implementation's table (the types listed in docs/exchanges.md and seen in recorded responses).
DOCUMENTED = {
    Kind.TRADE: ["ORDER_DEALT_IN", "ORDER_DEALT_FROZEN_OUT", "BUY_DEAL", "SELL_DEAL", "OPEN_LONG", "OPEN_SHORT"],
    Kind.REALIZED_PNL: ["CLOSE_LONG", "CLOSE_SHORT"],
    Kind.FEE: ["ORDER_PLF_FEE_OUT"],
    Kind.FUNDING: [
        "CONTRACT_MAIN_SETTLE_FEE_USER_IN", "CONTRACT_MAIN_SETTLE_FEE_USER_OUT",
        "MARGIN_SETTLE_FEE_USER_IN", "MARGIN_SETTLE_FEE_USER_OUT",
        "RWA_CONTRACT_MAIN_SETTLE_FEE_USER_IN", "RWA_CONTRACT_MAIN_SETTLE_FEE_USER_OUT",
        "FIXED_SETTLE_FEE_USER_OUT",
    ],
    Kind.TRANSFER: ["TRANSFER_IN", "TRANSFER_OUT", "TRACE_TRANSFER_USER_IN", "TRACE_TRANSFER_USER_OUT",
                    "TRACE_TRANSFER_REFUND_IN"],
    Kind.CONVERT: ["EXCHANGE_SOURCE_TOKEN_USER_OUT", "EXCHANGE_TARGET_TOKEN_USER_IN"],
    Kind.LIQUIDATION: [
        "FORCE_CLOSE_LONG", "FORCE_CLOSE_SHORT", "BURST_CLOSE_LONG", "BURST_CLOSE_SHORT",
        "OFFSET_REDUCE_CLOSE_LONG", "OFFSET_REDUCE_CLOSE_SHORT", "FORCE_BUY_SSM", "FORCE_SELL_SSM",
        "BURST_BUY_SSM", "BURST_SELL_SSM", "RISK_LIQ_USER_IN", "RISK_LIQ_USER_OUT",
        "LIQ_FEE", "FIXED_ADL_CLOSE_LONG", "FIXED_ADL_CLOSE_SHORT",
    ],
    Kind.INTEREST: ["INTEREST_SETTLEMENT_OUT"],
    Kind.BORROW: ["BORROW"],
    Kind.REPAY: ["REPAYMENT", "INTEREST_REPAYMENT"],
}  # fmt: skip
DOCUMENTED_PAIRS = [(t, k) for k, types in DOCUMENTED.items() for t in types]


@pytest.mark.parametrize(("exchange_type", "kind"), DOCUMENTED_PAIRS)
def test_every_documented_bitget_type_maps(exchange_type, kind):
    assert bitget_kind(exchange_type) is kind
    assert bitget_kind(exchange_type.lower()) is kind


def test_table_is_exactly_the_documented_types():
    assert set(BITGET_KINDS) == {t for t, _ in DOCUMENTED_PAIRS}


@pytest.mark.parametrize(
    ("exchange_type", "kind"),
    [
        ("EXCHANGE_SOMETHING_NEW", Kind.CONVERT),
        ("FORCE_REDUCE_LONG", Kind.LIQUIDATION),
        ("BURST_NEW", Kind.LIQUIDATION),
        ("RISK_LIQ_OTHER", Kind.LIQUIDATION),
        ("OFFSET_REDUCE_X", Kind.LIQUIDATION),
        ("INTEREST_DEDUCT", Kind.INTEREST),
        ("SOMETHING_UNKNOWN", Kind.OTHER),
        ("", Kind.OTHER),
        (None, Kind.OTHER),
    ],
)
def test_bitget_families_and_unknowns(exchange_type, kind):
    assert bitget_kind(exchange_type) is kind


def test_bitget_record_keeps_type_verbatim_and_requested_category():
    raw = b'{"id":7,"ts":1745853486185,"type":"mystery_Type","amount":-1.5,"coin":"BGB","symbol":"BGBUSDT"}'
    record = bitget_record("acc", "SPOT", raw, _json.loads(raw))
    entry = record.entries[0]
    assert (record.record_id, record.ts, record.raw) == ("7", 1745853486185, raw)
    assert (entry.kind, entry.exchange_type, entry.category) == (Kind.OTHER, "mystery_Type", "SPOT")
    assert entry.amount == Decimal("-1.5") and entry.balance is None
    assert len(record.entries) == 1       # no fee given: no fee entry


# the ledger convention on one Bitget row (cexledger.model): (amount, fee) -> [(kind, amount)]
CONVENTION = [
    ("-2.5", "-0.15", [(Kind.REALIZED_PNL, "-2.5"), (Kind.FEE, "-0.15")]),      # amount and fee
    ("12.5", "0", [(Kind.REALIZED_PNL, "12.5")]),                              # zero fee: no entry
    ("12.5", "0E-8", [(Kind.REALIZED_PNL, "12.5")]),                           # zero in any spelling
    ("0", "-0.3", [(Kind.FEE, "-0.3")]),                                       # a fee alone
    ("0.00000000", "-0.3", [(Kind.FEE, "-0.3")]),
    ("0", "0", [(Kind.REALIZED_PNL, "0")]),                                    # nothing moved: one entry
    ("-1", "0.004", [(Kind.REALIZED_PNL, "-1"), (Kind.FEE, "0.004")]),          # a rebate, as signed
    ("0", "0.004", [(Kind.FEE, "0.004")]),
    ("3", None, [(Kind.REALIZED_PNL, "3")]),                                    # no fee field: 0
]


@pytest.mark.parametrize(("amount", "fee", "expected"), CONVENTION)
def test_bitget_row_entries_follow_the_ledger_convention(amount, fee, expected):
    row = {"id": "9", "ts": "1745853486185", "type": "CLOSE_LONG", "coin": "USDT", "symbol": "BTCUSDT",
           "amount": amount, "balance": "100.5", **({} if fee is None else {"fee": fee})}
    raw = _json.dumps(row)
    record = bitget_record("acc", "USDT-FUTURES", raw, _json.loads(raw))
    assert [(e.kind, e.amount) for e in record.entries] == [(k, Decimal(a)) for k, a in expected]
    assert [e.seq for e in record.entries] == list(range(len(expected)))
    # the balance is the whole row's: on its last entry only
    assert [e.balance for e in record.entries] == [None] * (len(expected) - 1) + [Decimal("100.5")]
    for e in record.entries:          # every entry carries the row's identity and labels
        assert (e.record_id, e.ts, e.coin, e.symbol, e.category, e.exchange_type) == (
            "9", 1745853486185, "USDT", "BTCUSDT", "USDT-FUTURES", "CLOSE_LONG")
    assert sum(e.amount for e in record.entries) == Decimal(amount) + Decimal(fee or 0)


def test_bitget_row_without_balance_has_none_on_every_entry():
    raw = b'{"id":"9","ts":"5","type":"ORDER_DEALT_IN","coin":"BTC","amount":"0.5","fee":"-0.0005"}'
    record = bitget_record("acc", "SPOT", raw, _json.loads(raw))
    assert [(e.kind, e.balance) for e in record.entries] == [(Kind.TRADE, None), (Kind.FEE, None)]


@given(amount=st.one_of(st.just(Decimal(0)), st.decimals(min_value=Decimal("-1e20"), max_value=Decimal("1e20"),
                                                            places=18, allow_nan=False, allow_infinity=False)),
       fee=st.one_of(st.just(Decimal(0)), st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"),
                                                         places=18, allow_nan=False, allow_infinity=False)))
def test_bitget_entries_sum_to_amount_plus_fee_exactly(amount, fee):
    raw = b'{"id":"9","ts":"5","type":"OPEN_LONG","coin":"USDT","amount":"%s","fee":"%s","balance":"1"}' % (
        format(amount, "f").encode(), format(fee, "f").encode())
    entries = bitget_record("acc", "USDT-FUTURES", raw, _json.loads(raw)).entries
    with decimal.localcontext(prec=200):
        assert sum(e.amount for e in entries) == amount + fee
    assert [e for e in entries if e.kind is Kind.FEE] == ([entries[-1]] if fee else [])
    assert len(entries) == 1 + (bool(amount) and bool(fee))
    assert entries[-1].balance == 1 and all(e.balance is None for e in entries[:-1])


# --- CoinW ---------------------------------------------------------------------------

DOC_ROW = (
    b'{"baseSize":0.001,"closePrice":85992.4,"closedPiece":1,"contractType":1,'
    b'"createdDate":1740645498000,"currentPiece":0,"direction":"long","fee":"0.05159544",'
    b'"feeRate":"0.0006","fundingFee":"0","fundingSettle":0,"hedgeId":20776111118334982,'
    b'"id":20776111118334981,"indexPrice":85992.5,"instrument":"BTC","isProfession":0,'
    b'"leverage":1,"liquidateBy":"manual","margin":85.9926,"netProfit":-0.05179544,'
    b'"openId":2435521222632017955,"openPrice":85992.6,"orderId":33308749975880237,'
    b'"orderPrice":0,"orderStatus":"finish","originalType":"execute","positionMargin":85.9926,'
    b'"positionModel":1,"processStatus":1,"quantity":85.9926,"quantityUnit":1,'
    b'"settlementId":588150,"source":"api","status":"close","takerMaker":1,'
    b'"thirdOrderId":"27-12-32","totalPiece":1,"updatedDate":1740645551000,"userId":1162061}'
)


def coinw(row: dict, instrument: str = "btc"):
    raw = _json.dumps(row)
    return coinw_record("fut", instrument, raw, _json.loads(raw))


def test_coinw_doc_example():
    record = coinw_record("fut", "btc", DOC_ROW, _json.loads(DOC_ROW))
    assert record.record_id == "20776111118334981" and record.ts == 1740645498000
    assert record.raw == DOC_ROW and record.mutable is False
    pnl, fee = record.entries
    assert (pnl.kind, pnl.amount, pnl.seq) == (Kind.REALIZED_PNL, Decimal("-0.00020000"), 0)
    assert pnl.amount == (Decimal("85992.4") - Decimal("85992.6")) * Decimal("0.001")
    assert (fee.kind, fee.amount, fee.seq) == (Kind.FEE, Decimal("-0.05159544"), 1)
    assert pnl.amount + fee.amount == Decimal("-0.05179544")
    for e in record.entries:
        assert (e.exchange, e.stream, e.coin, e.symbol) == ("coinw", "deals-history", "USDT", "BTCUSDT")
        assert (e.category, e.exchange_type, e.balance) == ("USDT-FUTURES", "long/close/manual", None)


def test_coinw_funding_and_liquidation():
    record = coinw({
        "id": 1, "createdDate": 5, "status": "close", "liquidateBy": "liquidation",
        "direction": "short", "netProfit": "-100.5", "fee": "0.5", "fundingFee": "2",
    })
    kinds = [(e.seq, e.kind, e.amount) for e in record.entries]
    assert kinds == [
        (0, Kind.LIQUIDATION, Decimal("-98.0")),
        (1, Kind.FEE, Decimal("-0.5")),
        (2, Kind.FUNDING, Decimal("-2")),
    ]
    assert record.entries[0].exchange_type == "short/close/liquidation"
    assert sum(e.amount for e in record.entries) == Decimal("-100.5")


def test_coinw_funding_settle_used_when_funding_fee_absent():
    record = coinw({"id": 1, "createdDate": 5, "status": "close", "netProfit": 3, "fundingSettle": -1})
    assert [(e.kind, e.amount) for e in record.entries] == [
        (Kind.REALIZED_PNL, Decimal(2)),
        (Kind.FUNDING, Decimal(1)),
    ]


@pytest.mark.parametrize(
    ("row", "mutable"),
    [
        ({"status": "open", "orderStatus": "finish"}, True),
        ({"status": "OPEN"}, True),
        ({"status": "vcancel", "orderStatus": "part"}, True),
        ({"status": "vcancel", "orderStatus": "unFinish"}, True),
        ({"status": "vcancel", "orderStatus": "Cancel"}, False),
    ],
)
def test_coinw_unsettled_rows_give_the_fee_only(row, mutable):
    record = coinw({"id": 1, "createdDate": 5, "fee": "0.1", "fundingFee": "3", "netProfit": "-0.1", **row})
    assert record.mutable is mutable
    assert [(e.seq, e.kind, e.amount) for e in record.entries] == [(0, Kind.FEE, Decimal("-0.1"))]


def test_coinw_zero_fee_gives_no_entry():
    record = coinw({"id": 1, "createdDate": 5, "status": "open", "fee": 0})
    assert record.entries == [] and record.mutable


@pytest.mark.parametrize(
    ("value", "forced"),
    [("manual", False), ("stopLoss", False), ("takeProfit", False), (None, False),
     ("liquidation", True), ("forceClose", True), ("BURST", True), ("blast", True), ("ADL", True)],
)  # fmt: skip
def test_forced_close_values(value, forced):
    assert is_forced_close(value) is forced


@pytest.mark.parametrize(
    "row",
    [
        {"createdDate": 5, "status": "open"},
        {"id": 1, "status": "open"},
        {"id": 1, "createdDate": 5, "status": "close"},
        {"id": 1, "createdDate": 5, "status": "close", "netProfit": "x"},
        {"id": 1, "createdDate": 5, "status": "open", "fee": "n/a"},
    ],
)
def test_coinw_unreadable_rows_raise(row):
    with pytest.raises(ValueError):
        coinw(row)


exact_decimals = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=18, allow_nan=False, allow_infinity=False
)


@given(net=exact_decimals, fee=exact_decimals, funding=exact_decimals)
def test_coinw_closed_entries_sum_to_net_profit_exactly(net, fee, funding):
    row = {"id": 1, "createdDate": 5, "status": "close", "netProfit": net, "fee": str(fee), "fundingFee": funding}
    record = coinw(row)
    with decimal.localcontext(prec=200):
        assert sum(e.amount for e in record.entries) == net
    assert [e.seq for e in record.entries] == list(range(len(record.entries)))
