"""The stop rule learns an endpoint's page size across its chains (every window and category of
a Bitget endpoint, every instrument of CoinW's) — and never from another endpoint."""

from __future__ import annotations

import pytest

from cexledger.errors import KeyRefusedError
from cexledger.exchanges._paging import PageChain, PageSize
from cexledger.exchanges._windows import WindowWork
from cexledger.model import StreamKey
from cexledger.sync import AccountReport, SyncContext


def chain(size: PageSize | None = None) -> PageChain:
    return PageChain("bitget", "main", size=size if size is not None else PageSize())


def test_a_short_first_page_ends_once_the_endpoint_sent_a_longer_one():
    shared = PageSize()
    first = chain(shared)
    assert not first.is_last(500)          # nothing known yet: a full page, go on
    assert first.is_last(120)              # shorter than this chain's longest
    second = chain(shared)
    assert second.is_last(40)              # its first page, shorter than the endpoint's 500: the end


def test_a_short_first_page_alone_is_not_the_end():
    # a server capping the page size below the limit sends short pages that are not the last
    assert not chain().is_last(40)
    alone = chain(PageSize())
    alone.is_last(500)
    assert not chain().is_last(40), "another endpoint's page size says nothing about this one"


def test_a_capping_server_is_read_to_the_end_in_every_chain():
    shared = PageSize()                    # a server that caps at 50 rows whatever the limit
    for _ in range(3):                     # each window holds 120 rows: 50, 50, 20
        pages = chain(shared)
        assert [pages.is_last(n) for n in (50, 50, 20)] == [False, False, True]


def test_each_longest_page_yet_is_verified_once():
    shared = PageSize()
    asked = 0
    for rows in (30, 10, 45, 20, 45, 60, 5):    # one window each, its rows on one page
        pages = chain(shared)
        asked += 1
        if not pages.is_last(rows):
            asked += 1                          # the next page: empty, the end
            assert pages.is_last(0)
    assert asked == 7 + 4                       # 30, 45, 45 and 60 were not shorter than any before


class _RefusingSource:
    """A tax endpoint whose key is refused on every request."""

    exchange, budget, page_limit = "bitget", "tax-records", 500
    grid_ms, retention_ms = 7 * 86_400_000 - 1, 366 * 86_400_000
    rate, round_trip = 1.0, 0.1
    asked = 0

    async def page(self, partition, *, start_ms, end_ms, cursor):
        self.asked += 1
        raise KeyRefusedError("tax API key: refused", exchange="bitget", account="main")


async def test_a_refused_key_in_a_resumed_window_is_reported_not_taken_for_a_stale_cursor():
    # a window resumed from a checkpoint re-reads from its start when the server no longer
    # takes the saved cursor; a refused key is not that, and must reach the sync as an error
    source = _RefusingSource()
    key = StreamKey("main", "bitget", "tax-records", "SPOT")
    ctx = SyncContext(None, 0, {"main": AccountReport("main", "bitget")})  # type: ignore[arg-type]
    work = WindowWork(key, source, 0, 1000, cursor="saved")
    with pytest.raises(KeyRefusedError):
        await work.run(ctx)
    assert source.asked == 1
