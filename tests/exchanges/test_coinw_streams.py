"""CoinW passes: when an incremental pass re-reads every archived open position (the recheck
schedule), against a real SQLite archive and a scripted server."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest

from cexledger.archive import Archive
from cexledger.exchanges.coinw.streams import (
    RECHECK_META,
    RECHECK_OPEN_MS,
    DEALS,
    PassState,
    PassWork,
    recheck_due,
)
from cexledger.model import StreamKey
from cexledger.sync import AccountReport, SyncContext

from .conftest import Script, coinw_ok

NOW = 1_760_000_000_000
HOUR = 3_600_000
KEY = StreamKey("futures", "coinw", DEALS.name, "BTC")


@pytest.mark.parametrize(
    ("last", "now", "forced", "due"),
    [
        (None, NOW, False, True),                            # never recorded
        (NOW - RECHECK_OPEN_MS, NOW, False, True),           # exactly the interval old
        (NOW - 10 * RECHECK_OPEN_MS, NOW, False, True),      # long ago
        (NOW - RECHECK_OPEN_MS + 1, NOW, False, False),      # just inside the interval
        (NOW, NOW, False, False),                            # just now
        (NOW + 60_000, NOW, False, False),                   # a slightly fast clock wrote it
        (NOW + RECHECK_OPEN_MS, NOW, False, True),           # a clock far ahead wrote it
        (NOW, NOW, True, True),                              # forced
        (None, NOW, True, True),
    ],
)
def test_recheck_due(last, now, forced, due):
    assert recheck_due(last, now, forced=forced) is due


def test_interval_is_one_hour():
    assert RECHECK_OPEN_MS == HOUR


class Server:
    """250 rows of one instrument, newest first; one open position on page 3 (row 220)."""

    DEEP = 220

    def __init__(self) -> None:
        self.rows = [self._row(i, "open" if i in (3, self.DEEP) else "close") for i in range(250)]
        self.script = Script(self._answer)

    @staticmethod
    def _row(i: int, status: str) -> bytes:
        rid = 3_000_000_000_000_000_000 - i
        return (
            b'{"id":%d,"createdDate":%d,"updatedDate":%d,"instrument":"BTC","status":"%s",'
            b'"orderStatus":"finish","direction":"long","fee":"0.01","fundingFee":"0",'
            b'"netProfit":-0.01,"closePrice":85992.4,"openPrice":85992.6,"quantity":1}'
            % (rid, NOW - HOUR - i * 60_000, NOW - HOUR, status.encode())
        )

    def close_deep(self) -> str:
        self.rows[self.DEEP] = self.rows[self.DEEP].replace(b'"status":"open"', b'"status":"close"')
        return str(3_000_000_000_000_000_000 - self.DEEP)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["pageSize"])
        return coinw_ok(self.rows[(page - 1) * size: page * size], total=str(len(self.rows)).encode())

    def pages_requested(self) -> list[int]:
        return [int(r.url.params["page"]) for r in self.script.requests]


@pytest.fixture
def archive(tmp_path: Path):
    with Archive.open(f"sqlite:///{tmp_path / 'archive.db'}") as opened:
        yield opened


def ctx_at(archive: Archive, now: int, *, recheck_open: bool = False) -> SyncContext:
    return SyncContext(archive, now, {"futures": AccountReport("futures", "coinw")},
                       recheck_open=recheck_open)


async def run_all(work: PassWork, ctx: SyncContext) -> None:
    todo = [work]
    while todo:
        todo += await todo.pop(0).run(ctx)


@pytest.fixture
async def synced(archive, make_coinw):
    """A backfilled archive (stamped at the backfill's start, NOW) and the server."""
    server = Server()
    client = make_coinw(server.script)
    await run_all(PassWork(KEY, client, PassState(pass_started=NOW, backfill=True)), ctx_at(archive, NOW))
    assert archive.get_meta(KEY, RECHECK_META) == str(NOW)
    server.script.requests.clear()
    return server, client


def archived_open_ids(archive: Archive) -> set[str]:
    return set(archive.mutable_ids(KEY))


async def test_backfill_records_a_recheck(archive, synced):
    assert archived_open_ids(archive) == {str(3_000_000_000_000_000_000 - i) for i in (3, Server.DEEP)}


async def test_not_due_stops_at_the_first_unchanged_page(archive, synced):
    server, client = synced
    deep = server.close_deep()
    later = NOW + RECHECK_OPEN_MS - 1
    await run_all(PassWork(KEY, client, PassState(pass_started=later, backfill=False)), ctx_at(archive, later))
    assert server.pages_requested() == [1]
    assert deep in archived_open_ids(archive), "the deep position was re-read although not due"
    assert archive.get_meta(KEY, RECHECK_META) == str(NOW), "a pass that stopped early counted as a recheck"


@pytest.mark.parametrize("forced", [False, True])
async def test_due_or_forced_rereads_down_to_the_deepest_open_position(archive, synced, forced):
    server, client = synced
    deep = server.close_deep()
    later = NOW + (10 * 60_000 if forced else RECHECK_OPEN_MS)
    ctx = ctx_at(archive, later, recheck_open=forced)
    await run_all(PassWork(KEY, client, PassState(pass_started=later, backfill=False)), ctx)
    assert server.pages_requested() == [1, 2, 3]  # page 3 holds it, and ends the list
    assert deep not in archived_open_ids(archive)
    assert ctx._reports["futures"].updated == 1
    assert archive.get_meta(KEY, RECHECK_META) == str(later)


async def test_due_pass_stops_early_once_every_open_position_is_seen(archive, make_coinw):
    server = Server()
    server.rows += [Server._row(i, "close") for i in range(250, 450)]   # pages 4 and 5
    client = make_coinw(server.script)
    await run_all(PassWork(KEY, client, PassState(pass_started=NOW, backfill=True)), ctx_at(archive, NOW))
    server.script.requests.clear()
    later = NOW + RECHECK_OPEN_MS
    await run_all(PassWork(KEY, client, PassState(pass_started=later, backfill=False)), ctx_at(archive, later))
    assert server.pages_requested() == [1, 2, 3]   # page 3: open position seen, page unchanged
    assert archive.get_meta(KEY, RECHECK_META) == str(later)


async def test_resumed_recheck_carries_on_whatever_the_schedule(archive, synced):
    server, client = synced
    deep = server.close_deep()
    soon = NOW + 60_000
    interrupted = PassState(pass_started=soon, backfill=False, recheck=True)
    state = msgspec.structs.replace(interrupted, page=2, first_ids=None, pipelined=False,
                                    newest_first=True).dump()       # its checkpoint at page 2
    assert state["recheck"] is True
    loaded = PassState.load(state, soon)
    assert loaded is not None and loaded.recheck and loaded.page == 2
    resumed = PassWork(KEY, client, loaded, resumed=True)
    await run_all(resumed, ctx_at(archive, soon))   # the stamp (NOW) alone would not make it due
    assert server.pages_requested()[:2] == [2, 3]    # then a fresh pass from page 1
    assert deep not in archived_open_ids(archive)


def test_checkpoint_without_recheck_resumes_as_a_plain_pass():
    st = {"page": 2, "pass_started": NOW, "backfill": False, "first_ids": None}
    resumed = PassState.load(st, NOW)
    assert resumed is not None and not resumed.recheck and resumed.page == 2


class _NoInstrumentList:
    """A CoinW client whose public instrument list cannot be read."""

    rate = 5.0

    async def instruments(self) -> list[str]:
        from cexledger.errors import FatalStreamError

        raise FatalStreamError("gave up after 3 attempts: HTTP 503", exchange="coinw",
                               account="futures", method="GET", path="/v1/perpumPublic/instruments")


async def test_configured_instruments_without_the_public_list(tmp_path: Path) -> None:
    """An instrument that already holds records syncs; one whose name cannot be checked is
    one error, never a stream planned (and later covered) for a name CoinW may not know."""
    from cexledger.config import Account
    from cexledger.exchanges.coinw.streams import plan_account
    from cexledger.model import Record

    with Archive.open(f"sqlite:///{tmp_path / 'a.db'}") as archive:
        archive.write_page(KEY, [Record(record_id="1", ts=NOW - HOUR, raw=b'{"id":1}', entries=[])])
        account = Account(name="futures", exchange="coinw", api_key="k" * 10, api_secret="s" * 10,
                          instruments=("BTC", "BTCUSDT"))
        reports = {"futures": AccountReport("futures", "coinw")}
        ctx = SyncContext(archive, NOW, reports)
        works = await plan_account(account, _NoInstrumentList(), ctx)
        assert [w.key.partition for w in works] == ["BTC"]
        assert len(reports["futures"].errors) == 1
        assert "'BTCUSDT' not synced" in reports["futures"].errors[0]
        assert "HTTP 503" in reports["futures"].errors[0]

        archived_only = Account(name="futures", exchange="coinw", api_key="k" * 10,
                                api_secret="s" * 10, instruments=("BTC",))
        reports["futures"] = AccountReport("futures", "coinw")
        works = await plan_account(archived_only, _NoInstrumentList(), ctx)
        assert [w.key.partition for w in works] == ["BTC"] and not reports["futures"].errors
