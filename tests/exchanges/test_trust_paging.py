"""The shared paging rules (``exchanges._paging``) and the streams that use them, against a
real SQLite archive and scripted servers: when a chain ends, and when it makes no progress."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from cexledger.archive import Archive
from cexledger.exchanges._paging import NO_PROGRESS_PAGES, RECENT_PAGES, NoProgress, PageChain, StreamHalt
from cexledger.exchanges._windows import WindowWork
from cexledger.exchanges.bitget.streams import FINANCIAL, BitgetClients
from cexledger.exchanges.coinw.streams import DEALS, PassState, PassWork
from cexledger.model import StreamKey
from cexledger.sync import AccountReport, SyncContext

from .conftest import Script, bitget_ok, coinw_ok

NOW = 1_760_000_000_000
DAY = 86_400_000
START, END = NOW - 10 * DAY, NOW
BITGET_KEY = StreamKey("main", "bitget", FINANCIAL.name, "USDT-FUTURES")
COINW_KEY = StreamKey("futures", "coinw", DEALS.name, "BTC")


# -- the rules on their own ------------------------------------------------------------------

def chain() -> PageChain:
    return PageChain("bitget", "main", uncovered="window")


def test_short_first_page_is_not_the_last():
    # one page cannot tell a server that caps the page size from the end of the list
    assert chain().is_last(30) is False


def test_shorter_page_after_the_longest_is_the_last():
    c = chain()
    assert [c.is_last(n) for n in (100, 100, 99)] == [False, False, True]


def test_a_server_capping_the_page_size_is_read_to_the_end():
    c = chain()
    assert [c.is_last(n) for n in (40, 40, 40, 12)] == [False, False, False, True]


def test_empty_page_is_the_last_and_never_counts_as_no_progress():
    c = chain()
    c.received(["1", "2"])
    for _ in range(NO_PROGRESS_PAGES + 3):
        assert c.received([]) is False
    assert c.is_last(0)


def test_pages_without_new_ids_are_tolerated_then_stop():
    c = chain()
    c.received(["1", "2"])
    c.received(["3", "4"])
    for _ in range(NO_PROGRESS_PAGES):           # a shifted list may repeat a few pages
        c.received(["1", "3"])
    c.received(["5"])                            # progress resets the count
    for _ in range(NO_PROGRESS_PAGES):
        c.received(["2", "4"])
    with pytest.raises(NoProgress, match=rf"no progress: {NO_PROGRESS_PAGES + 1} pages in a row "
                                         r"brought no new rows; window left uncovered"):
        c.received(["1"])
    assert c.halt.reason is not None


def test_a_long_cycle_is_caught_by_the_pages_it_repeats():
    # a cycle longer than the pages remembered id by id still repeats whole pages
    c = chain()
    pages = [[str(10 * p + i) for i in range(3)] for p in range(RECENT_PAGES + 2)]
    for page in pages:
        c.received(page)
    for page in pages[:NO_PROGRESS_PAGES]:
        c.received(page)
    with pytest.raises(NoProgress):
        c.received(pages[NO_PROGRESS_PAGES])


def test_exact_repeat_of_the_previous_page_is_reported():
    c = chain()
    assert c.received(["1", "2"]) is False
    assert c.received(["1", "2"]) is True
    assert c.received(["3"]) is False


def test_a_cursor_sent_twice_is_a_loop():
    c = chain()
    c.sending(None)
    c.sending("a")
    c.sending("b")
    with pytest.raises(NoProgress, match="paging loop"):
        c.sending("a")


# -- Bitget windows -----------------------------------------------------------------------------

class BitgetServer:
    """``n`` rows spread over the window, newest first; opaque cursors (offset + 7000).

    ``cap``: the server's page size whatever ``limit`` says; ``trailing``: the last page
    still carries a cursor (as live); ``loop``: any cursor answers page 1 again with a new
    cursor; ``same_cursor``: every page carries cursor ``"x"`` (with new rows).
    """

    def __init__(self, n: int, *, cap: int = 100, trailing: bool = True, loop: bool = False,
                 same_cursor: bool = False) -> None:
        step = (END - START) // (n + 1)
        self.rows = [
            b'{"category":"USDT-FUTURES","id":"%d","symbol":"BTCUSDT","coin":"USDT",'
            b'"type":"CLOSE_LONG","amount":"1.5","fee":"-0.01","balance":"100","ts":"%d"}'
            % (9_000_000 - i, END - 1 - i * step)
            for i in range(n)
        ]
        self.cap, self.trailing, self.loop, self.same_cursor = cap, trailing, loop, same_cursor
        self.fresh = itertools.count(10**12)
        self.script = Script(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = min(int(params["limit"]), self.cap)
        cursor = params.get("cursor")
        offset = int(cursor) - 7000 if cursor and not self.loop and not self.same_cursor else 0
        if self.same_cursor and cursor:
            offset = limit
        page = self.rows[offset: offset + limit]
        if not page:
            return bitget_ok(None, b"null")
        more = offset + len(page) < len(self.rows)
        if self.loop:
            nxt = b'"%d"' % next(self.fresh)
        elif self.same_cursor:
            nxt = b'"x"'
        else:
            nxt = b'"%d"' % (offset + len(page) + 7000) if more or self.trailing else b'""'
        return bitget_ok(page, nxt)


@pytest.fixture
def archive(tmp_path: Path):
    with Archive.open(f"sqlite:///{tmp_path / 'archive.db'}") as opened:
        yield opened


def archived(archive: Archive, key: StreamKey) -> set[str]:
    return {r.record_id for r in archive.iter_records() if r.key == key}


def context(archive: Archive, exchange: str) -> tuple[SyncContext, AccountReport]:
    account = "main" if exchange == "bitget" else "futures"    # as the conftest clients name them
    report = AccountReport(account, exchange)
    return SyncContext(archive, NOW, {account: report}), report


def financial(client):
    """The financial-records endpoint of a Bitget client, as a window reads it."""
    return BitgetClients(client).financial()


async def run_all(works, ctx: SyncContext) -> None:
    todo = list(works)
    while todo:
        todo += await todo.pop(0).run(ctx)


async def test_window_ends_on_a_short_page_without_following_the_trailing_cursor(archive, make_bitget):
    server = BitgetServer(250)
    ctx, _ = context(archive, "bitget")
    await run_all([WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END)], ctx)
    assert len(server.script.requests) == 3      # 100 + 100 + 50; no request for the empty page
    assert len(archived(archive, BITGET_KEY)) == 250
    assert archive.coverage(BITGET_KEY) == [(START, END)]


async def test_window_with_a_full_last_page_follows_the_cursor_to_the_empty_page(archive, make_bitget):
    server = BitgetServer(200)
    ctx, _ = context(archive, "bitget")
    await run_all([WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END)], ctx)
    assert len(server.script.requests) == 3
    assert archive.coverage(BITGET_KEY) == [(START, END)]


async def test_window_on_a_server_capping_limit_is_read_to_the_end(archive, make_bitget):
    server = BitgetServer(250, cap=40)
    ctx, _ = context(archive, "bitget")
    await run_all([WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END)], ctx)
    assert len(server.script.requests) == 7      # 6 × 40 + 10
    assert len(archived(archive, BITGET_KEY)) == 250
    assert archive.coverage(BITGET_KEY) == [(START, END)]


async def test_short_first_page_costs_one_request_more(archive, make_bitget):
    server = BitgetServer(30)
    ctx, _ = context(archive, "bitget")
    await run_all([WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END)], ctx)
    assert len(server.script.requests) == 2
    assert archive.coverage(BITGET_KEY) == [(START, END)]


async def test_new_cursors_without_new_rows_stop_the_stream_uncovered(archive, make_bitget):
    server = BitgetServer(250, loop=True)
    client = financial(make_bitget(server.script))
    ctx, _ = context(archive, "bitget")
    halt = StreamHalt()
    first = WindowWork(BITGET_KEY, client, START, END, halt=halt)
    sibling = WindowWork(BITGET_KEY, client, START - 20 * DAY, START, halt=halt)
    with pytest.raises(NoProgress, match="no new rows; window left uncovered"):
        await first.run(ctx)
    assert len(server.script.requests) == NO_PROGRESS_PAGES + 2
    assert await sibling.run(ctx) == []          # the stream's other windows stop too
    assert len(server.script.requests) == NO_PROGRESS_PAGES + 2
    assert archive.coverage(BITGET_KEY) == []


async def test_a_cursor_sent_again_stops_the_window(archive, make_bitget):
    server = BitgetServer(250, same_cursor=True)
    ctx, _ = context(archive, "bitget")
    with pytest.raises(NoProgress, match="paging loop"):
        await WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END).run(ctx)
    assert len(server.script.requests) == 2
    assert archive.coverage(BITGET_KEY) == []


async def test_resumed_window_reads_on_from_its_cursor(archive, make_bitget):
    server = BitgetServer(250)
    ctx, _ = context(archive, "bitget")
    work = WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END, cursor="7100")
    await run_all([work], ctx)
    # a resumed chain has not seen a full page yet: 100, then 50 (short after full: last)
    assert len(server.script.requests) == 2
    assert len(archived(archive, BITGET_KEY)) == 150
    assert archive.coverage(BITGET_KEY) == [(START, END)]


# -- CoinW passes -------------------------------------------------------------------------------

class CoinwServer:
    """``n`` rows newest first; ``cycle``: page n > 2 answers page (n-1) % 2 + 1; ``clamp``:
    a page past the last answers the last page."""

    def __init__(self, n: int, *, cycle: bool = False, clamp: bool = False) -> None:
        self.rows = [
            b'{"id":%d,"createdDate":%d,"updatedDate":%d,"instrument":"BTC","status":"close",'
            b'"orderStatus":"finish","direction":"long","fee":"0.01","fundingFee":"0",'
            b'"netProfit":-0.01,"closePrice":85992.4,"openPrice":85992.6,"quantity":1}'
            % (3_000_000_000_000_000_000 - i, NOW - 3_600_000 - i * 60_000, NOW - 3_600_000)
            for i in range(n)
        ]
        self.cycle, self.clamp = cycle, clamp
        self.script = Script(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["pageSize"])
        if self.cycle and page > 2:
            page = (page - 1) % 2 + 1
        if self.clamp:
            page = min(page, max(1, -(-len(self.rows) // size)))
        return coinw_ok(self.rows[(page - 1) * size: page * size], total=str(len(self.rows)).encode())


async def test_coinw_cycling_pages_stop_the_pass_uncovered(archive, make_coinw):
    server = CoinwServer(1000, cycle=True)
    ctx, _ = context(archive, "coinw")
    with pytest.raises(NoProgress, match="no new rows; range left uncovered"):
        await run_all([PassWork(COINW_KEY, make_coinw(server.script),
                                PassState(pass_started=NOW, backfill=True))], ctx)
    # pages 1, 2 bring rows, then NO_PROGRESS_PAGES + 1 bring none; a few more were in flight
    assert len(server.script.requests) <= 2 + NO_PROGRESS_PAGES + 1 + 4
    assert archive.coverage(COINW_KEY) == []
    # the checkpoint is not moved by pages that brought nothing: a later sync resumes at
    # page 3, not past the real pages the cycle hid
    (checkpoint,) = archive.checkpoints("futures")
    assert checkpoint.state["page"] == 3


async def test_bitget_checkpoint_stays_at_the_last_page_with_new_rows(archive, make_bitget):
    server = BitgetServer(250, loop=True)
    ctx, _ = context(archive, "bitget")
    with pytest.raises(NoProgress):
        await WindowWork(BITGET_KEY, financial(make_bitget(server.script)), START, END).run(ctx)
    (checkpoint,) = archive.checkpoints("main")
    assert checkpoint.state["cursor"] == "1000000000000"     # the cursor after page 1


async def test_coinw_clamped_pages_end_the_pass_with_a_note(archive, make_coinw):
    server = CoinwServer(200, clamp=True)
    ctx, report = context(archive, "coinw")
    await run_all([PassWork(COINW_KEY, make_coinw(server.script),
                            PassState(pass_started=NOW, backfill=True))], ctx)
    assert len(archived(archive, COINW_KEY)) == 200
    assert archive.coverage(COINW_KEY)
    assert report.notes == ["BTC: page 3 brought exactly the rows of page 2; the server seems to "
                            "clamp page numbers to its last page, so the list was taken to end at page 2"]


async def test_coinw_repeat_from_rows_arriving_at_the_top_is_not_a_clamp(archive, make_coinw):
    # 100 rows arrive between pages 1 and 2: page 2 repeats page 1, but page 1 moved, so a
    # sequential pass reads the list again instead of taking the repeat as its end
    server = CoinwServer(250)
    base = server._answer
    newer = [r.replace(b'"id":%d' % (3 * 10**18 - i), b'"id":%d' % (4 * 10**18 - i), 1)
             for i, r in enumerate(CoinwServer(100).rows)]   # 100 rows with ids of their own

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params["page"] == "2" and len(server.rows) == 250:
            server.rows[:0] = newer
        return base(request)

    server.script = Script(answer)
    ctx, report = context(archive, "coinw")
    work = PassWork(COINW_KEY, make_coinw(server.script),
                    PassState(pass_started=NOW, backfill=False, sequential=True))
    await run_all([work], ctx)
    assert report.notes == []
    assert len(archived(archive, COINW_KEY)) == 350
    assert archive.coverage(COINW_KEY)
