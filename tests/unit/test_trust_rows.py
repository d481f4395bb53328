"""Issue 8, items 8, 25, 26: what one row's bytes give -- entries, raw only, or a stopped stream."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger import _json
from cexledger.exchanges._fields import TS_RANGE
from cexledger.exchanges.bitget.normalize import bitget_kind, bitget_parse
from cexledger.exchanges.coinw.normalize import coinw_parse, is_mutable
from cexledger.model import Kind

# -- item 8: a row the archive cannot hold -------------------------------------------------


def _bitget(**fields: object) -> bytes:
    row = {"id": "42", "ts": "1740645498000", "coin": "USDT", "type": "TRANSFER_IN",
           "amount": "1", "fee": "0", "balance": "1", **fields}
    return b"{" + b",".join(b'"%s":%s' % (k.encode(), v if isinstance(v, bytes) else _json.dumps(v))
                            for k, v in row.items()) + b"}"


@pytest.mark.parametrize("amount", [b"1E+131072", b"1E-16384", b'"1E+999999999999"', b"1E+1001"])
def test_bitget_amount_the_archive_cannot_hold_is_raw_only(amount):
    raw = _bitget(amount=amount)
    record, understood = bitget_parse("a", "SPOT", raw)
    if amount == b"1E+1001":       # 1002 digits: held exactly, so understood
        assert understood and record.entries[0].amount == Decimal("1E+1001")
        return
    assert not understood and record.entries == [] and record.raw == raw
    assert (record.record_id, record.ts) == ("42", 1740645498000)


def test_text_with_a_nul_is_raw_only_and_an_id_with_one_stops_the_stream():
    assert bitget_parse("a", "SPOT", _bitget(symbol="BTC\x00USDT")).understood is False
    with pytest.raises(ValueError, match="'id'"):
        bitget_parse("a", "SPOT", _bitget(id="4\x002"))


@pytest.mark.parametrize("ts", [b'"99999999999999999999"', b"99999999999999999999", b'"-1"',
                                b"1E+999999999", str(TS_RANGE[1]).encode(), b'"1' + b"0" * 5000 + b'"'])
def test_bitget_time_the_archive_cannot_hold_names_the_record_and_field(ts):
    with pytest.raises(ValueError) as info:
        bitget_parse("a", "SPOT", _bitget(ts=ts))
    assert "record 42" in str(info.value) and "'ts'" in str(info.value)
    assert len(str(info.value)) < 200


def test_time_range_edges_are_accepted():
    for ts in (TS_RANGE[0], TS_RANGE[1] - 1):
        assert bitget_parse("a", "SPOT", _bitget(ts=str(ts))).record.ts == ts


def _coinw(**fields: object) -> bytes:
    row = {"id": 7, "createdDate": 1741325037000, "direction": "long", "status": "close",
           "orderStatus": "finish", "liquidateBy": "manual", "fee": "0.05", "fundingFee": "0",
           "netProfit": "1.5", **fields}
    return b"{" + b",".join(b'"%s":%s' % (k.encode(), v if isinstance(v, bytes) else _json.dumps(v))
                            for k, v in row.items()) + b"}"


@pytest.mark.parametrize("net", [b"1E+1001", b"-1E+1001", b"1E-16384", b'"NaN"', b'"Infinity"'])
def test_coinw_amount_that_cannot_be_summed_or_held_is_raw_only(net):
    raw = _coinw(netProfit=net)
    record, understood = coinw_parse("a", "BTC", raw)
    assert not understood and record.entries == [] and record.raw == raw


def test_coinw_raw_only_open_row_stays_mutable():
    record, understood = coinw_parse("a", "BTC", _coinw(status="open", fee=b"1E-16384"))
    assert not understood and record.mutable


# -- item 25: Bitget types seen in real responses ------------------------------------------


@pytest.mark.parametrize(("exchange_type", "kind"), [
    ("RWA_CONTRACT_MAIN_SETTLE_FEE_USER_IN", Kind.FUNDING),
    ("RWA_CONTRACT_MAIN_SETTLE_FEE_USER_OUT", Kind.FUNDING),
    ("FIXED_SETTLE_FEE_USER_OUT", Kind.FUNDING),
    ("TRACE_TRANSFER_REFUND_IN", Kind.TRANSFER),
    ("LIQ_FEE", Kind.LIQUIDATION),
    ("FIXED_ADL_CLOSE_LONG", Kind.LIQUIDATION),
    ("FIXED_ADL_CLOSE_SHORT", Kind.LIQUIDATION),
])
def test_bitget_observed_types_map(exchange_type, kind):
    assert bitget_kind(exchange_type) is kind
    assert bitget_parse("a", "USDT-FUTURES", _bitget(type=exchange_type)).record.entries[0].kind is kind


# -- item 26: CoinW cancelled rows and the "closed" synonym --------------------------------

#: A recorded CoinW.Net answer's row (GetTransactionHistory3Days): a cancelled trailing TP/SL.
RECORDED_CANCELLED = (
    b'{"baseSize":0.001,"closePrice":0,"closedPiece":0,"contractType":1,"createdDate":1741325037000,'
    b'"currentPiece":0,"direction":"long","fee":"0","feeRate":"0","fundingFee":"0","fundingSettle":0,'
    b'"id":20865618454160389,"instrument":"BTC","isProfession":0,"leverage":1,'
    b'"liquidateBy":"moveStopProfitAndLoss","margin":87.90975,"netProfit":0,'
    b'"openId":2435521222632288678,"openPrice":87909.75,"orderId":20865172723909637,"orderPrice":0,'
    b'"orderStatus":"cancel","originalType":"moveStopProfitLoss","positionMargin":0.0,'
    b'"positionModel":0,"processStatus":1,"quantity":1,"quantityUnit":1,"source":"api",'
    b'"status":"close","takerMaker":1,"thirdOrderId":"07-9-16","totalPiece":1,"triggerPrice":0,'
    b'"triggerType":1,"updatedDate":1741328437000,"userId":1162061}'
)


def _sum(record) -> Decimal:
    return sum((e.amount for e in record.entries), Decimal(0))


def test_recorded_cancelled_row_is_understood_and_gives_no_entry():
    record, understood = coinw_parse("a", "BTC", RECORDED_CANCELLED)
    assert understood and record.entries == [] and not record.mutable
    assert record.record_id == "20865618454160389"


@pytest.mark.parametrize(("fields", "kinds"), [
    ({"fee": "0.02", "netProfit": "-0.02"}, [Kind.FEE]),
    ({"fee": "0", "netProfit": "0.5"}, [Kind.REALIZED_PNL]),
    ({"fee": "0.02", "fundingFee": "0.01", "netProfit": "-0.03"}, [Kind.FEE, Kind.FUNDING]),
    ({"orderStatus": "CANCEL"}, []),
    ({"orderStatus": "canceled"}, []),
])
def test_cancelled_variants_give_only_non_zero_entries_summing_to_net_profit(fields, kinds):
    row = _json.loads(RECORDED_CANCELLED)
    raw = _coinw(**{k: row[k] for k in ("fee", "fundingFee", "netProfit", "orderStatus",
                                       "liquidateBy", "status")} | fields)
    record, understood = coinw_parse("a", "BTC", raw)
    assert understood and [e.kind for e in record.entries] == kinds
    assert all(e.amount != 0 for e in record.entries)
    assert _sum(record) == Decimal(str(_json.loads(raw)["netProfit"]))


def test_a_filled_close_at_break_even_keeps_its_pnl_entry():
    record, _ = coinw_parse("a", "BTC", _coinw(fee="0", netProfit="0"))
    assert [(e.kind, e.amount) for e in record.entries] == [(Kind.REALIZED_PNL, 0)]


@pytest.mark.parametrize("status", ["closed", "CLOSED", "Closed"])
def test_closed_is_close(status):
    close, _ = coinw_parse("a", "BTC", _coinw())
    closed, understood = coinw_parse("a", "BTC", _coinw(status=status))
    assert understood
    assert [(e.kind, e.amount) for e in closed.entries] == [(e.kind, e.amount) for e in close.entries]
    assert [e.kind for e in closed.entries] == [Kind.REALIZED_PNL, Kind.FEE]
    assert _sum(closed) == Decimal("1.5")
    assert not is_mutable(_json.loads(_coinw(status=status, orderStatus="finish")))
    forced, _ = coinw_parse("a", "BTC", _coinw(status=status, liquidateBy="liquidation"))
    assert forced.entries[0].kind is Kind.LIQUIDATION


def test_cancel_status_with_a_forced_label_is_not_settled():
    record, _ = coinw_parse("a", "BTC", _coinw(status="cancel", liquidateBy="liquidation"))
    assert [e.kind for e in record.entries] == [Kind.FEE]
