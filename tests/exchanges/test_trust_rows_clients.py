"""Issue 8, item 8, in the clients: no number a server sends -- in a row, a cursor or a
total -- can crash or stall a page; rows the archive cannot hold are raw only or stop the
stream with one line naming the record and field."""

from __future__ import annotations

import pytest

from cexledger.errors import FatalStreamError
from cexledger.exchanges.bitget.streams import FINANCIAL
from cexledger.exchanges.coinw.streams import DEALS

from .conftest import Script, bitget_ok, coinw_ok, normalized

HUGE = b"1E+999999999"


async def test_bitget_cursor_with_a_huge_exponent_stops_the_stream(make_bitget):
    row = b'{"id":"1","ts":"1","amount":"1"}'
    with pytest.raises(FatalStreamError, match="cursor is not an id"):
        await make_bitget(Script(bitget_ok([row], HUGE))).financial_records("SPOT")


async def test_coinw_total_with_a_huge_exponent_is_ignored(make_coinw):
    page = await make_coinw(Script(coinw_ok([], total=HUGE))).deals_history("ETH")
    assert page.total is None


async def test_bitget_rows_that_cannot_be_held(make_bitget):
    good = b'{"id":"1","ts":"1740645498000","amount":"1"}'
    raw_only = b'{"id":"2","ts":"1740645498000","amount":1E+131072}'
    client = make_bitget(Script(bitget_ok([good, raw_only], b"null")))
    page = await client.financial_records("SPOT")
    records, unparsed = normalized(page, FINANCIAL, "SPOT")
    assert [len(r.entries) for r in records] == [1, 0] and records[1].raw == raw_only
    assert FINANCIAL.normalizer.parse("main", "SPOT", raw_only)[1] is False
    assert unparsed == 1
    for ts in (b'"99999999999999999999"', HUGE):
        bad = b'{"id":"3","ts":%s,"amount":"1"}' % ts
        page = await make_bitget(Script(bitget_ok([good, bad], b"null"))).financial_records("SPOT")
        with pytest.raises(FatalStreamError) as info:
            normalized(page, FINANCIAL, "SPOT")
        assert "record 3" in str(info.value) and "'ts'" in str(info.value)


async def test_coinw_rows_that_cannot_be_held(make_coinw):
    inexact = b'{"id":5,"createdDate":1741325037000,"status":"close","fee":"0.05","netProfit":1E+1001}'
    client = make_coinw(Script(coinw_ok([inexact])))
    page = await client.deals_history("BTC")
    (record,), unparsed = normalized(page, DEALS, "BTC", "futures")
    assert record.entries == [] and record.raw == inexact
    assert DEALS.normalizer.parse("futures", "BTC", inexact)[1] is False
    assert unparsed == 1
    bad = b'{"id":6,"createdDate":99999999999999999999,"status":"close"}'
    page = await make_coinw(Script(coinw_ok([bad]))).deals_history("BTC")
    with pytest.raises(FatalStreamError, match="record 6: 'createdDate'"):
        normalized(page, DEALS, "BTC", "futures")
