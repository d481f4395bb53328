"""The stop rule learns an endpoint's page size across its chains (every window and category of
a Bitget endpoint, every instrument of CoinW's) — and never from another endpoint."""

from __future__ import annotations

from cexledger.exchanges._paging import PageChain, PageSize


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
