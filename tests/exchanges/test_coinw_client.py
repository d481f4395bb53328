"""CoinW client: the documented response, exact bytes, tolerant shapes, instruments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger import _json
from cexledger.errors import FatalStreamError
from cexledger.exchanges.coinw.streams import DEALS
from cexledger.model import Kind

from .conftest import Script, coinw_ok, json_response, normalized
from .test_normalize import DOC_ROW

ODD_ROW = (
    b'{ "id" : 2435521222632017955, "createdDate":"1740645498001",  "status":"open",'
    b' "fee": 1E-8, "closePrice": 85992.40, "netProfit": -1E-8, "brandNew": {"k": [null]},'
    b' "direction":"short","orderStatus":"part"}'
)


async def test_documented_response_parses(make_coinw):
    script = Script(coinw_ok([DOC_ROW, ODD_ROW], total=b"21"))
    page = await make_coinw(script).deals_history("btc")
    assert (len(page.rows), page.total) == (2, 21)
    assert script.requests[0].url.params["page"] == "1"
    assert script.requests[0].url.params["pageSize"] == "100"
    (doc, odd), unparsed = normalized(page, DEALS, "BTC", "futures")
    assert unparsed == 0
    assert [doc.raw, odd.raw] == [DOC_ROW, ODD_ROW]  # byte for byte
    assert doc.record_id == "20776111118334981"
    assert sum(e.amount for e in doc.entries) == Decimal("-0.05179544")
    assert odd.record_id == "2435521222632017955" and odd.ts == 1740645498001
    assert odd.mutable
    assert [(e.kind, e.amount) for e in odd.entries] == [(Kind.FEE, Decimal("-1E-8"))]
    row = _json.loads(odd.raw)
    assert row["closePrice"] == Decimal("85992.40") and str(row["closePrice"]) == "85992.40"
    assert row["id"] == 2435521222632017955
    assert b'"brandNew"' in odd.raw


@pytest.mark.parametrize(
    "body",
    [
        '{"code":0,"data":{"nextId":0,"prevId":0,"rows":null,"total":0},"msg":""}',
        '{"code":0,"data":{"rows":[]},"msg":""}',
        '{"code":0,"data":{},"msg":""}',
        '{"code":0,"data":null,"msg":""}',
        '{"code":0,"msg":""}',
    ],
)
async def test_empty_pages(make_coinw, body):
    script = Script(json_response(body))
    page = await make_coinw(script).deals_history("ETH", page=3, page_size=20)
    assert page.rows == []
    assert normalized(page, DEALS, "ETH", "futures") == ([], 0)
    params = script.requests[0].url.params
    assert (params["page"], params["pageSize"]) == ("3", "20")


@pytest.mark.parametrize(
    ("total", "expected"),
    [(None, None), (b"null", None), (b'"42"', 42), (b"42", 42), (b"4.2E1", 42), (b'"many"', None)],
)
async def test_total_is_tolerated(make_coinw, total, expected):
    page = await make_coinw(Script(coinw_ok([], total=total))).deals_history("ETH")
    assert page.total == expected


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (b'{"id":5,"status":"open"}', "record 5: 'createdDate' is missing"),
        (b'{"createdDate":"1","status":"open"}', "'id' is missing"),
        (b'"just text"', "not a JSON object"),
    ],
)
async def test_row_without_id_or_date_stops_the_stream(make_coinw, bad, problem):
    page = await make_coinw(Script(coinw_ok([DOC_ROW, bad]))).deals_history("BTC")
    assert page.rows == [DOC_ROW, bad]       # the client hands on bytes; the stage judges them
    with pytest.raises(FatalStreamError, match=problem) as info:
        normalized(page, DEALS, "BTC", "futures")
    assert "row 1" in str(info.value)
    with pytest.raises(ValueError, match=problem):   # refused, not archived raw (unparsed)
        DEALS.normalizer.parse("futures", "BTC", bad)


@pytest.mark.parametrize(
    ("bad", "mutable"),
    [
        (b'{"id":5,"createdDate":"7","status":"close","fee":"0.1"}', False),  # no netProfit
        (b'{"id":5,"createdDate":"7","status":"open","fee":"a lot"}', True),
        (b'{"id":5,"createdDate":"7","status":"close","netProfit":null,"fee":"1"}', False),
    ],
)
async def test_unnormalizable_row_is_archived_raw(make_coinw, bad, mutable):
    """Lossless: a row with an id and a date is kept byte for byte, without entries."""
    client = make_coinw(Script(coinw_ok([DOC_ROW, bad, ODD_ROW])))
    page = await client.deals_history("BTC")
    assert len(page.rows) == 3
    (doc, unparsed, odd), unparsed_count = normalized(page, DEALS, "BTC", "futures")
    assert (unparsed.record_id, unparsed.ts, unparsed.raw) == ("5", 7, bad)
    assert unparsed.entries == []
    assert unparsed.mutable is mutable  # an open row is re-read until it settles
    assert doc.entries and odd.entries
    assert [DEALS.normalizer.parse("futures", "BTC", raw)[1] for raw in page.rows] == [True, False, True]
    assert unparsed_count == 1


async def test_instrument_symbol_is_upper_cased(make_coinw):
    script = Script(coinw_ok([DOC_ROW]))
    page = await make_coinw(script).deals_history("1000pepe")
    assert script.requests[0].url.params["instrument"] == "1000PEPE"
    (record,), _ = normalized(page, DEALS, "1000pepe", "futures")
    assert {e.symbol for e in record.entries} == {"1000PEPEUSDT"}


@pytest.mark.parametrize(
    "data",
    [
        '[{"name":"BTC","base":"btc"},{"base":"eth"},{"instrument":"1000pepe"},{"symbol":"SOLUSDT"},'
        '{"symbol":"xrp_usdt"},{"other":1},"doge", {"name":"BTC"}]',
    ],
)
async def test_instruments_tolerate_field_names(make_coinw, data):
    script = Script(json_response(f'{{"code":0,"data":{data},"msg":""}}'))
    names = await make_coinw(script).instruments()
    assert names == ["BTC", "ETH", "1000PEPE", "SOL", "XRP", "DOGE"]
    assert script.requests[0].url.path == "/v1/perpumPublic/instruments"


async def test_instruments_null_data(make_coinw):
    assert await make_coinw(Script(json_response('{"code":0,"data":null}'))).instruments() == []
