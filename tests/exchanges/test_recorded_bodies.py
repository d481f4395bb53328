"""The recorded response bodies of the two synced endpoints (``tests/fixtures/recorded``,
sources and licences in its SOURCES.md) read through the real clients and streams, served
by ``httpx.MockTransport`` byte for byte as recorded."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from cexledger.exchanges._windows import WindowWork
from cexledger.exchanges.bitget.streams import FINANCIAL, BitgetClients
from cexledger.exchanges.coinw.streams import DEALS
from cexledger.model import Kind, StreamKey

from .conftest import Script, json_response, normalized
from .test_trust_paging import archive, archived, context  # noqa: F401  (fixture)

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
BITGET_FUNDING = "bitget_financial-records__ccxt_fetchFundingHistory_uta.json"
BITGET_DOC = "bitget_financial-records__bitgetnet_GetFinancialRecords.json"
BITGET_EMPTY = "bitget_financial-records__ccxt_fetchLedger_uta_spot_empty.json"
COINW_CANCELLED = "coinw_deals__coinwnet_GetTransactionHistory3Days.json"


class _Data(msgspec.Struct):
    items: list[msgspec.Raw] | None = msgspec.field(name="list", default=None)
    rows: list[msgspec.Raw] | None = None


class _Body(msgspec.Struct):
    data: _Data | None = None


def body(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def row_bytes(name: str) -> list[bytes]:
    """Each row of the recorded body: its exact bytes, as they sit in the file."""
    data = msgspec.json.decode(body(name), type=_Body).data
    rows = (data.items if data.items is not None else data.rows) if data else None
    return [bytes(r) for r in rows or []]


def test_every_synced_body_is_kept_with_its_sources():
    sources = (RECORDED / "SOURCES.md").read_text()
    for name in (BITGET_FUNDING, BITGET_DOC, BITGET_EMPTY, COINW_CANCELLED):
        assert f"`{name}`" in sources
        assert (RECORDED / name).is_file()
    assert "MIT" in sources


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        (BITGET_DOC, "MARGIN",
         # the amount, then its fee as an entry of its own, the balance on the row's last entry
         [("13111111111111111", 1745853486185, Kind.TRADE, "BTC", "0.00531168", None),
          ("13111111111111111", 1745853486185, Kind.FEE, "BTC", "-0.00000531", "55.10017801")]),
        (BITGET_FUNDING, "USDT-FUTURES",      # fee "0": no fee entry
         [("1413844852469551105", 1772812800000, Kind.FUNDING, "USDT", "-0.31399125",
           "59981.7105387860399993")]),
        (BITGET_EMPTY, "SPOT", []),
    ],
)
async def test_bitget_recorded_bodies_parse_into_exact_records(make_bitget, name, category, expected):
    page = await make_bitget(Script(json_response(body(name)))).financial_records(category)
    assert page.rows == row_bytes(name)
    records, unparsed = normalized(page, FINANCIAL, category)
    assert [r.raw for r in records] == row_bytes(name) and unparsed == 0
    got = [(r.record_id, r.ts, e.kind, e.coin, e.amount, e.balance)
           for r in records for e in r.entries]
    assert got == [(i, ts, k, c, Decimal(a), None if b is None else Decimal(b)) for i, ts, k, c, a, b in expected]
    for record in records:
        row = msgspec.json.decode(record.raw)
        assert [e.exchange_type for e in record.entries] == [row["type"]] * len(record.entries)
        assert sum(e.amount for e in record.entries) == Decimal(row["amount"]) + Decimal(row["fee"])


async def test_bitget_cursors_are_opaque_and_the_empty_page_ends_paging(make_bitget):
    funding = await make_bitget(Script(json_response(body(BITGET_FUNDING)))).financial_records("USDT-FUTURES")
    (first, *_), _ = normalized(funding, FINANCIAL, "USDT-FUTURES")
    assert funding.cursor == "1388756642227965952" != first.record_id
    empty = await make_bitget(Script(json_response(body(BITGET_EMPTY)))).financial_records("SPOT")
    assert (empty.rows, empty.cursor) == ([], None)


async def test_a_window_follows_the_live_trailing_cursor_to_the_empty_page(archive, make_bitget):  # noqa: F811
    # live: a one-row last page still carries a cursor, the next page is list null, cursor null
    script = Script(json_response(body(BITGET_FUNDING)), json_response(body(BITGET_EMPTY)))
    key = StreamKey("main", "bitget", FINANCIAL.name, "USDT-FUTURES")
    ctx, _ = context(archive, "bitget")
    start, end = 1772812800000 - 86_400_000, 1772812800000 + 86_400_000
    source = BitgetClients(make_bitget(script)).financial()
    assert await WindowWork(key, source, start, end).run(ctx) == []
    assert [r.url.params.get("cursor") for r in script.requests] == [None, "1388756642227965952"]
    assert archived(archive, key) == {"1413844852469551105"}
    assert archive.coverage(key) == [(start, end)]
    (record,) = archive.iter_records()
    assert record.raw == row_bytes(BITGET_FUNDING)[0]


async def test_coinw_recorded_body_parses_into_an_exact_record(make_coinw):
    # the 3-day sibling endpoint's recorded body: the same row model as deals/history
    page = await make_coinw(Script(json_response(body(COINW_CANCELLED)))).deals_history("BTC")
    (raw,) = row_bytes(COINW_CANCELLED)
    assert page.rows == [raw]
    (record,), unparsed = normalized(page, DEALS, "BTC", "futures")
    assert record.raw == raw and unparsed == 0
    assert (record.record_id, record.ts, record.mutable) == ("20865618454160389", 1741325037000, False)
    assert page.total == 73
    # a cancelled trailing TP/SL (status close, orderStatus cancel): it moves no money, so it
    # gives no entry (it is archived, and understood)
    assert record.entries == []
    assert len(page.rows) == 1
