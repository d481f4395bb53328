"""Bitget client: exact parsing, end-of-paging shapes, row problems."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger.errors import FatalStreamError
from cexledger.exchanges.bitget.streams import FINANCIAL
from cexledger.model import Kind

from .conftest import Script, bitget_ok, json_response, normalized

ROW_DOC = (
    b'{\n        "category": "Margin",\n        "id": "13111111111111111",\n'
    b'        "symbol": "BTCUSDT",\n        "coin": "BTC",\n        "type": "ORDER_DEALT_IN",\n'
    b'        "amount": "0.00531168",\n        "fee": "-0.00000531",\n'
    b'        "balance": "55.10017801",\n        "ts": "1745853486185"\n      }'
)
ROW_WEIRD = (
    b'{ "ts" : 1745853486186 ,"zeta":{"nested": [1, 2.50, "x"]}, "id":1311111111111111111,'
    b' "type":"BRAND_NEW_TYPE" , "amount" : 123456789.123456789012345678,"coin":"USDT",'
    b'"fee":"1E-8","balance":85992.40,"symbol":"", "positionType":"crossed",'
    b' "note":"caf\xc3\xa9 \\u00e9"}'
)


async def test_raw_bytes_are_archived_exactly(make_bitget):
    script = Script(bitget_ok([ROW_DOC, ROW_WEIRD], b'"122222222222222222"'))
    page = await make_bitget(script).financial_records("MARGIN")
    assert page.rows == [ROW_DOC, ROW_WEIRD]
    records, _ = normalized(page, FINANCIAL, "MARGIN")
    assert [r.raw for r in records] == [ROW_DOC, ROW_WEIRD]
    assert len(page.rows) == 2
    assert page.cursor == "122222222222222222"


async def test_doc_example_row_normalizes(make_bitget):
    page = await make_bitget(Script(bitget_ok([ROW_DOC]))).financial_records("MARGIN")
    (record,), unparsed = normalized(page, FINANCIAL, "MARGIN")
    assert unparsed == 0
    assert record.record_id == "13111111111111111"
    assert record.ts == 1745853486185
    assert record.mutable is False
    entry, fee = record.entries        # the amount, then the fee: an entry of its own
    for e in (entry, fee):
        assert (e.account, e.exchange, e.stream) == ("main", "bitget", "financial-records")
        assert (e.record_id, e.ts) == ("13111111111111111", 1745853486185)
        assert (e.coin, e.symbol, e.category) == ("BTC", "BTCUSDT", "MARGIN")
        assert e.exchange_type == "ORDER_DEALT_IN"
    assert (entry.seq, entry.kind, entry.amount, entry.balance) == (0, Kind.TRADE, Decimal("0.00531168"), None)
    assert (fee.seq, fee.kind, fee.amount) == (1, Kind.FEE, Decimal("-0.00000531"))
    assert fee.balance == Decimal("55.10017801")     # after the whole row: on its last entry


async def test_exact_numbers_big_ids_unknown_types(make_bitget):
    page = await make_bitget(Script(bitget_ok([ROW_WEIRD]))).financial_records("USDT-FUTURES")
    (record,), unparsed = normalized(page, FINANCIAL, "USDT-FUTURES")
    assert unparsed == 0
    assert record.record_id == "1311111111111111111"  # 19 digits, above 2**53
    entry, fee = record.entries
    assert str(entry.amount) == "123456789.123456789012345678" and entry.balance is None
    assert (fee.kind, fee.amount) == (Kind.FEE, Decimal("1E-8"))    # a positive fee: a rebate
    assert str(fee.balance) == "85992.40"
    assert entry.symbol is None and fee.symbol is None
    assert entry.kind is Kind.OTHER
    assert entry.exchange_type == fee.exchange_type == "BRAND_NEW_TYPE"
    assert b'"positionType":"crossed"' in record.raw  # unknown fields kept


async def test_missing_fee_and_balance(make_bitget):
    row = b'{"id":"7","ts":"1","amount":"-5","coin":"USDT","type":"TRANSFER_OUT"}'
    page = await make_bitget(Script(bitget_ok([row]))).financial_records("OTHER")
    (record,), _ = normalized(page, FINANCIAL, "OTHER")
    (entry,) = record.entries           # no fee: no fee entry
    assert (entry.amount, entry.balance, entry.kind) == (Decimal(-5), None, Kind.TRANSFER)


@pytest.mark.parametrize(
    "body",
    [
        '{"code":"00000","msg":"success","data":{"list":null,"cursor":null}}',
        '{"code":"00000","msg":"success","data":{"list":[],"cursor":"123"}}',
        '{"code":"00000","msg":"success","data":{"list":[]}}',
        '{"code":"00000","msg":"success","data":{}}',
        '{"code":"00000","msg":"success","data":null}',
        '{"code":"00000","msg":"success"}',
        '{"code":0,"msg":"success","data":{"list":null}}',
    ],
)
async def test_empty_pages_end_paging(make_bitget, body):
    page = await make_bitget(Script(json_response(body))).financial_records("SPOT")
    assert (page.rows, page.cursor) == ([], None)
    assert normalized(page, FINANCIAL, "SPOT") == ([], 0)


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        (None, None),  # absent
        (b"null", None),
        (b'""', None),
        (b'"  "', None),
        (b'"122222222222222222"', "122222222222222222"),
        (b"122222222222222222222", "122222222222222222222"),  # a JSON number above 2**64
    ],
)
async def test_cursor_shapes(make_bitget, cursor, expected):
    row = b'{"id":"1","ts":"1","amount":"1"}'
    page = await make_bitget(Script(bitget_ok([row], cursor))).financial_records("SPOT")
    assert len(page.rows) == 1
    assert page.cursor == expected


async def test_same_cursor_back_is_left_to_the_chain(make_bitget):
    # A cursor loop is judged per chain of pages, in one place (exchanges._paging.PageChain,
    # tests/exchanges/test_trust_paging.py), not per request: the client just reports the cursor.
    row = b'{"id":"1","ts":"1","amount":"1"}'
    client = make_bitget(Script(bitget_ok([row], b'"42"')))
    page = await client.financial_records("SPOT", cursor="42")
    assert page.cursor == "42"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (b'{"ts":"1","amount":"1"}', "'id' is missing"),
        (b'{"id":"9","amount":"1"}', "'ts' is missing"),
        (b'{"id":null,"ts":"1","amount":"1"}', "'id' is missing"),
        (b'{"id":{"x":1},"ts":"1","amount":"1"}', "'id' is not an id"),
        (b'{"id":"9","ts":"soon","amount":"1"}', "'ts' is not a number"),
        (b'{"id":"9","ts":"1.5","amount":"1"}', "'ts' is not a whole number"),
        (b'["not", "an", "object"]', "not a JSON object"),
    ],
)
async def test_rows_without_id_or_ts_stop_the_stream(make_bitget, row, problem):
    """A row that cannot be identified cannot be deduplicated: the stream stops."""
    good = b'{"id":"1","ts":"1","amount":"1"}'
    page = await make_bitget(Script(bitget_ok([good, row]))).financial_records("SPOT")
    assert page.rows == [good, row]          # the client hands on bytes; the stage judges them
    with pytest.raises(FatalStreamError) as info:
        normalized(page, FINANCIAL, "SPOT")
    assert problem in str(info.value)
    assert "row 1" in str(info.value)
    if b'"id":"9"' in row:
        assert "record 9" in str(info.value)


async def test_limit_is_validated(make_bitget):
    client = make_bitget(Script(bitget_ok(None)))
    with pytest.raises(ValueError):
        await client.financial_records("SPOT", limit=101)


@pytest.mark.parametrize(
    "bad",
    [
        b'{"id":"9","ts":"2","amount":null,"coin":"USDT","type":"TRANSFER_IN"}',
        b'{"id":"9","ts":"2","amount":"abc","coin":"USDT"}',
        b'{"id":"9","ts":"2"}',
        b'{"id":"9","ts":"2","amount":"1","fee":"lots"}',
        b'{"id":"9","ts":"2","amount":"1","balance":[1]}',
    ],
)
async def test_unnormalizable_row_is_archived_raw(make_bitget, bad):
    """Lossless: a row with an id and a time is kept byte for byte, without entries."""
    good1 = b'{"id":"1","ts":"1","amount":"1"}'
    good2 = b'{"id":"3","ts":"3","amount":"-2.5"}'
    client = make_bitget(Script(bitget_ok([good1, bad, good2], b"null")))
    page = await client.financial_records("SPOT")
    assert len(page.rows) == 3
    records, unparsed_count = normalized(page, FINANCIAL, "SPOT")
    assert [r.record_id for r in records] == ["1", "9", "3"]
    first, unparsed, last = records
    assert (unparsed.ts, unparsed.raw, unparsed.entries) == (2, bad, [])
    assert [e.amount for e in first.entries + last.entries] == [Decimal(1), Decimal("-2.5")]
    assert [FINANCIAL.normalizer.parse("main", "SPOT", raw)[1] for raw in page.rows] == [True, False, True]
    assert unparsed_count == 1
    assert client.stats.failures == 0
