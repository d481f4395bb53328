"""The tax key's proof of identity: rows of one tax window against archived financial records."""

from __future__ import annotations

import asyncio

import pytest

from cexledger.errors import FatalStreamError
from cexledger.exchanges._paging import StreamHalt, StreamHalted
from cexledger.exchanges.base import RawPage
from cexledger.exchanges.bitget.normalize import bitget_parse
from cexledger.exchanges.bitget.streams import TAX_KEY_META, TAX_KEY_OTHER_USER, TaxKeyCheck
from cexledger.model import StreamKey

DAY = 86_400_000
NOW = 400 * DAY


def _row(rid: int, ts: int, amount: str, balance: str = "10") -> bytes:
    return (b'{"id":"%d","coin":"USDT","type":"TRANSFER_IN","amount":"%s","fee":"0","balance":"%s","ts":"%d"}'
            % (rid, amount.encode(), balance.encode(), ts))


class FakeCtx:
    now_ms = NOW

    def __init__(self, financial: list[bytes], coverage: list[tuple[int, int]]) -> None:
        self.financial = [bitget_parse("a", "SPOT", raw)[0] for raw in financial]
        self.cov = coverage
        self.meta: dict[tuple[StreamKey, str], str] = {}
        self.notes: list[str] = []
        self.failures: list[str] = []

    async def get_meta(self, key, name):
        return self.meta.get((key, name))

    async def set_meta(self, key, name, value):
        self.meta[(key, name)] = value

    async def coverage(self, key):
        return self.cov if key.stream == "financial-records" else []

    async def entries(self, key, since, until):
        return [e for r in self.financial for e in r.entries if since <= e.ts < until]

    def note(self, account, text):
        self.notes.append(text)

    def fail(self, account, cause, key=None):
        self.failures.append(cause)


def _check(ctx) -> TaxKeyCheck:
    return TaxKeyCheck("a", "sha256:abc", ["SPOT"], ctx)


def _reader(rows: list[bytes], asked: list[dict]):
    async def read(partition, **window):
        asked.append(window)
        return RawPage(rows)
    return read


TAX_KEY = StreamKey("a", "bitget", "tax-records", "SPOT")


def test_one_shared_movement_proves_the_key_whatever_its_id():
    ctx = FakeCtx([_row(1, NOW - DAY, "5"), _row(2, NOW - 2 * DAY, "7")], [(NOW - 90 * DAY, NOW)])
    asked: list[dict] = []
    tax_rows = [_row(991, NOW - DAY, "5.00000000"), _row(992, NOW - 3 * DAY, "1")]   # other ids
    assert asyncio.run(_check(ctx).verify(_reader(tax_rows, asked), 7 * DAY - 1, StreamHalt()))
    assert ctx.meta == {(TAX_KEY, TAX_KEY_META): "sha256:abc"} and not ctx.failures
    (window,) = asked                         # one request, inside the newest coverage with rows
    assert window["start_ms"] == NOW - 7 * DAY and window["end_ms"] == NOW


def test_financial_records_and_none_among_the_tax_rows_refuse_the_key():
    ctx = FakeCtx([_row(1, NOW - DAY, "5")], [(NOW - 90 * DAY, NOW)])
    tax_rows = [_row(1, NOW - DAY, "5", balance="11")]        # same id, another balance
    assert not asyncio.run(_check(ctx).verify(_reader(tax_rows, []), 7 * DAY - 1, StreamHalt()))
    assert ctx.failures == [TAX_KEY_OTHER_USER] and ctx.meta == {}


def test_nothing_to_compare_accepts_with_a_note_and_asks_nothing():
    ctx = FakeCtx([], [(NOW - 90 * DAY, NOW)])
    asked: list[dict] = []
    assert asyncio.run(_check(ctx).verify(_reader([], asked), 7 * DAY - 1, StreamHalt()))
    assert asked == [] and ctx.notes and ctx.meta


def test_the_walk_back_finds_the_newest_window_holding_rows():
    ctx = FakeCtx([_row(1, NOW - 30 * DAY, "5")], [(NOW - 90 * DAY, NOW)])
    asked: list[dict] = []
    assert asyncio.run(_check(ctx).verify(_reader([_row(5, NOW - 30 * DAY, "5")], asked), 7 * DAY - 1,
                                          StreamHalt()))
    (window,) = asked
    assert window["start_ms"] - 1 < NOW - 30 * DAY < window["end_ms"]


def test_a_failed_proof_decides_nothing_and_a_halted_stream_stops_quietly():
    ctx = FakeCtx([_row(1, NOW - DAY, "5")], [(NOW - 90 * DAY, NOW)])
    check = _check(ctx)

    async def broken(partition, **window):
        raise FatalStreamError("cannot connect", exchange="bitget", account="a")

    with pytest.raises(FatalStreamError):
        asyncio.run(check.verify(broken, 7 * DAY - 1, StreamHalt()))
    assert not check.decided and ctx.meta == {}
    with pytest.raises(StreamHalted):
        asyncio.run(check.verify(broken, 7 * DAY - 1, StreamHalt("tax API key: refused")))
    assert asyncio.run(check.verify(_reader([_row(1, NOW - DAY, "5")], []), 7 * DAY - 1, StreamHalt()))
