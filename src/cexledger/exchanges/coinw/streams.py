"""CoinW deals-history streams: one per (account, instrument), paged by page number.

The endpoint has no time parameters: a *pass* reads pages 1, 2, … of the newest-first
list until a page comes back empty or shorter than the longest page the endpoint has sent
before it in this sync, in this pass or another instrument's (the rule every pager shares,
in ``exchanges._paging``: a server that silently caps ``pageSize`` below what we ask is
still read to the end; the cost is one extra request for each instrument whose page is the
longest yet without being full). ``total`` is never trusted to stop; it only bounds
how far ahead pages are fetched concurrently. A page that repeats the previous page row
for row (a server clamping page numbers to its last page) also ends the list, with a note
in the sync summary and the run log. Pages that bring no new rows (a server cycling pages
1, 2, 1, 2, …) stop the pass after ``NO_PROGRESS_PAGES`` in a row, with one
line; the range stays uncovered.

- **Backfill** (the stream has no coverage yet) fetches pages ahead — as many as the key's
  rate times the round trip calls for, shared among the account's running streams, at
  most ``MAX_DEPTH`` — so a lone dense instrument still keeps the limiter busy.
- **Incremental** starts sequential and widens as pages bring new rows; it stops early at
  the first full page whose rows are all archived and unchanged. A row that changed above
  that page (a position closed near the top) is updated on the way.
- **Open positions deep in the list** (archived rows that may still change) are re-read on
  a schedule: when a *recheck* is due, the incremental pass does not stop early until every
  archived open position inside retention has been seen again, so a position that closed
  deep in the history is updated too. A recheck is due when the stream has never had one,
  when the last one started ``RECHECK_OPEN_MS`` (1 hour) or more ago (or, from a skewed
  clock, that far in the future), or when the sync is told to (``cexledger sync
  --recheck-open``). Any pass that reads to the end of the list, or keeps going until it
  has seen every open position, counts as a recheck: its start time is kept in the
  stream's meta (``open_rechecked_ms``). Between rechecks a re-sync with nothing new costs
  one request per instrument; a deep position's close reaches the archive within an hour
  plus the time to the next sync.
- Rows inserted at the top while pages are fetched concurrently could shift a row past a
  page boundary unseen. Sequential reading only ever sees such a row twice, so a pass that
  fetched pages concurrently re-reads page 1 at its end; if page 1 changed, the list moved
  and a sequential pass follows before the range is marked covered.

If the server turns out to page oldest-first (detected from ``createdDate`` on page 1),
the early stop is unsound and every pass reads to the end. Checkpoint per page: the next
page to read (after the last page that brought new rows, so a pass stopped for no
progress resumes before the pages it could not trust), the pass's start time, whether it
is a recheck and page 1's ids; a killed pass resumes there.
A complete pass covers ``[pass start - 90 d, pass start)``.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from ..._clock import now_ms
from ...errors import FatalStreamError
from ...model import StreamKey
from .._fields import identify
from .._paging import PageChain, PageNumbers, PageSize
from ..base import DAY_MS, Normalizer, PlanContext, RawPage, StreamSpec
from .client import DEALS_BUDGET, CoinwClient, closest_instrument
from .normalize import STREAM as DEALS_STREAM
from .normalize import TS_KEY as DEALS_TS
from .normalize import VERSION as DEALS_VERSION
from .normalize import coinw_parse

if TYPE_CHECKING:
    from ...config import Account

__all__ = ["COINW", "CoinwConnector", "DEALS", "RECHECK_OPEN_MS", "PassState", "PassWork", "recheck_due"]

DEALS = StreamSpec(
    exchange="coinw", name=DEALS_STREAM, title="futures transaction details",
    retention_ms=90 * DAY_MS,                     # "3 months"
    normalizer=Normalizer(DEALS_VERSION, coinw_parse), budget=DEALS_BUDGET,
)
PAGE_SIZE = 100
MAX_DEPTH = 4
MAX_PAGES = 100_000                # a guard, far above any real instrument's 3 months
SLOT = "pass"
RECHECK_OPEN_MS = 3_600_000        # re-read every archived open position at most this often
RECHECK_META = "open_rechecked_ms"  # stream meta: start (Unix ms) of the last complete recheck


def recheck_due(last_ms: int | None, now: int, *, forced: bool = False) -> bool:
    """Whether a pass must re-read every archived open position before it may stop early.

    Due when forced, when never recorded, or when the last recheck started
    ``RECHECK_OPEN_MS`` or more before ``now`` — or as far after it: a stamp written by a
    clock far ahead must not postpone rechecks for as long as that clock was wrong.
    """
    return forced or last_ms is None or abs(now - last_ms) >= RECHECK_OPEN_MS


def _parse_stamp(value: str | None) -> int | None:
    """A stored recheck time, or None when absent or unreadable (then a recheck is due)."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class PassState(msgspec.Struct, kw_only=True):
    """How a pass reads, and its checkpoint (the next page to read).

    ``backfill`` passes read to the end (no early stop); ``sequential`` ones read one page
    at a time (a recovery pass after the list moved); ``pipelined`` (pages were read out of
    order) and ``newest_first`` (page 1's order) are what the pass has learnt so far;
    ``first_ids`` page 1's ids; ``recheck`` passes re-read every archived open position
    before stopping early (decided when the pass starts, see ``recheck_due``).
    """

    pass_started: int
    backfill: bool
    page: int = 1
    sequential: bool = False
    pipelined: bool = False
    newest_first: bool = True
    first_ids: list[str] | None = None
    recheck: bool = False

    @classmethod
    def load(cls, stored: Any, now: int) -> PassState | None:
        """The state a checkpoint holds, or None if it is unreadable or expired."""
        try:
            state = msgspec.convert(stored, cls, strict=False)
        except (msgspec.ValidationError, TypeError):
            return None
        if state.page < 1 or state.pass_started <= now - DEALS.retention_ms:
            return None
        return state

    def dump(self) -> dict:
        return msgspec.to_builtins(self)


@dataclass
class PassWork:
    """One pass over an instrument's pages, as ``state`` says; ``resumed`` passes (from a
    checkpoint) are followed by a fresh one."""

    key: StreamKey
    client: CoinwClient
    state: PassState
    resumed: bool = False
    size: PageSize = field(default_factory=PageSize)   # shared by the account's instruments

    #: What a failure count of this work is counted in.
    unit = "passes"

    @property
    def slot(self) -> str:
        return SLOT

    @property
    def label(self) -> str:
        return f"{self.key} page {self.state.page}"

    @property
    def rate(self) -> float:
        return self.client.rate

    @property
    def budget(self) -> str:
        return self.client.BUDGET.name

    def _recovery(self) -> PassWork:
        """A full sequential pass from page 1: sequential reading never misses a shifted row."""
        return PassWork(self.key, self.client, PassState(pass_started=now_ms(), backfill=True, sequential=True),
                        size=self.size)

    async def run(self, ctx: PlanContext) -> list[PassWork]:
        st = self.state
        horizon = st.pass_started - DEALS.retention_ms
        if not (st.backfill or st.recheck):
            last = _parse_stamp(await ctx.get_meta(self.key, RECHECK_META))
            st.recheck = recheck_due(last, ctx.now_ms, forced=ctx.recheck_open)
        # archived open positions this pass must see again before it may stop early
        pending: set[str] = set()
        if st.recheck and not st.backfill:
            pending = {rid for rid, ts in (await ctx.mutable_ids(self.key)).items() if ts >= horizon}
        depth = 1 if (st.sequential or not st.backfill) else MAX_DEPTH
        page_no = st.page
        next_issue = page_no
        first_ids = st.first_ids
        pager = PageNumbers(PageChain("coinw", self.key.account, uncovered="range", size=self.size), page_no)
        oldest: int | None = None
        newest_first = st.newest_first
        pipelined = st.pipelined
        hint: int | None = None
        inflight: dict[int, asyncio.Task[RawPage]] = {}
        try:
            while True:
                # page 1 is read alone: it is the reference the moved-list check compares with
                limit = 1 if page_no == 1 else min(depth, self._depth_needed(ctx))
                while len(inflight) < limit and (not inflight or hint is None or next_issue <= hint):
                    inflight[next_issue] = asyncio.create_task(
                        self.client.deals_history(self.key.partition, page=next_issue, page_size=PAGE_SIZE)
                    )
                    next_issue += 1
                pipelined = pipelined or len(inflight) > 1
                page = await inflight.pop(page_no)
                ctx.count_page(self.key)
                records = ctx.normalize(self.key, page.rows)
                rows = len(page.rows)
                ids = [r.record_id for r in records]
                if page_no == 1:
                    first_ids = ids
                    newest_first = _newest_first(records)
                if page_no > MAX_PAGES:
                    raise FatalStreamError(
                        f"stream {self.key}: more than {MAX_PAGES} pages; stopping (range left uncovered)",
                        exchange="coinw", account=self.key.account)
                repeated = pager.update(page_no, ids, rows)   # raises when pages bring nothing new
                max_rows = pager.chain.longest
                if page.total is not None and max_rows:
                    hint = max(1, math.ceil(page.total / max_rows))
                for r in records:
                    pending.discard(r.record_id)
                    oldest = r.ts if oldest is None else min(oldest, r.ts)
                clamped = None
                if repeated:
                    clamped = (
                        f"{self.key.partition}: page {page_no} brought exactly the rows of page "
                        f"{page_no - 1}; the server seems to clamp page numbers to its last page, "
                        f"so the list was taken to end at page {page_no - 1}")
                if not pager.has_next:
                    # the end of the list: every row, open positions included, was re-read.
                    # A repeat could also be rows arriving at the top exactly a page apart:
                    # page 1 is read again, and if it moved, a sequential pass follows.
                    return await self._finish(ctx, records, first_ids, pipelined or repeated,
                                              cover=(horizon, st.pass_started), rechecked=True,
                                              note=clamped)
                result = await ctx.write(
                    self.key, records, slot=SLOT,
                    state=msgspec.structs.replace(st, page=pager.resume, first_ids=first_ids, pipelined=pipelined,
                                  newest_first=newest_first).dump(),
                )
                if (
                    not st.backfill
                    and newest_first
                    and rows == max_rows
                    and result.unchanged == rows
                    and not pending
                ):
                    cover = (oldest, st.pass_started) if oldest is not None and oldest < st.pass_started else None
                    return await self._finish(ctx, [], first_ids, pipelined, cover=cover,
                                              rechecked=st.recheck)
                if not st.sequential and (result.new or result.updated):
                    depth = min(MAX_DEPTH, depth * 2)
                page_no += 1
        finally:
            for task in inflight.values():
                task.cancel()
            if inflight:
                await asyncio.gather(*inflight.values(), return_exceptions=True)

    async def _finish(self, ctx: PlanContext, records, first_ids, pipelined: bool,
                      cover: tuple[int, int] | None, rechecked: bool,
                      note: str | None = None) -> list[PassWork]:
        """End the pass: cover its range, or — if pages were read out of order and the list
        moved meanwhile — leave it uncovered and hand over to a durable recovery pass.
        ``rechecked``: the pass saw every archived open position again; record when it started.
        ``note``: told to the user (summary and run log) when the range is covered."""
        if pipelined and await self._list_moved(first_ids):
            recovery = self._recovery()
            await ctx.write(self.key, records, slot=SLOT, state=recovery.state.dump())
            return [recovery]
        await ctx.write(self.key, records, slot=SLOT, done=True, cover=cover)
        if note is not None:
            ctx.note(self.key.account, note)
        if rechecked:
            # Not in the page's transaction: a crash in between only leaves the previous
            # stamp, so the worst case is one recheck more than needed on the next sync.
            await ctx.set_meta(self.key, RECHECK_META, str(self.state.pass_started))
        if self.resumed:      # rows may have arrived while this pass was interrupted
            return [PassWork(self.key, self.client, PassState(pass_started=now_ms(), backfill=False),
                             size=self.size)]
        return []

    def _depth_needed(self, ctx: PlanContext) -> int:
        """Pages in flight this pass needs so that the account's streams together keep the
        key's limiter busy: rate × round trip, with headroom, shared by the running streams.
        While enough instruments run side by side each reads sequentially (no re-check)."""
        round_trip = self.client.stats.round_trip or 0.5
        lane = (self.key.account, self.budget)
        wanted = self.client.rate * round_trip * 2 / max(1, ctx.running(lane))
        return max(1, min(MAX_DEPTH, math.ceil(wanted)))

    async def _list_moved(self, first_ids: list[str] | None) -> bool:
        """Did rows arrive (or move) at the top of the list while pages were read out of order?"""
        again = await self.client.deals_history(self.key.partition, page=1, page_size=PAGE_SIZE)
        try:
            ids = [identify(row, DEALS_TS)[0] for row in again.rows]
        except ValueError:      # a row that cannot be held: the recovery pass reports it
            return True
        return ids != (first_ids or [])


def _newest_first(records) -> bool:
    """Whether a page is in newest-first order; assumed so when it cannot tell ([I])."""
    ts = [r.ts for r in records]
    if len(ts) < 2 or ts[0] == ts[-1]:
        return True
    return ts[0] > ts[-1]


async def plan_account(account: Account, client: CoinwClient, ctx: PlanContext) -> list[PassWork]:
    """One pass per instrument: resumed where a checkpoint says, else backfill or incremental.

    Instruments come from the account's ``instruments`` setting, else from CoinW's public
    instrument list plus every instrument with records archived for the account (one
    delisted from the list still holds history until it leaves the exchange's retention).
    A configured instrument that is in neither is not a CoinW instrument (CoinW answers
    such a name with an empty list, which would read as a covered, empty history): it is an
    error of the account, naming the closest known instrument, and the others sync. The list
    is read only when a configured instrument holds no records yet; when it cannot be read,
    the instruments that hold records sync and the others wait for a sync that can check
    their names.
    """
    archived = [s.key.partition for s in await ctx.streams(account.name)
                if s.key.exchange == "coinw" and s.key.stream == DEALS.name and s.records]
    if account.instruments:
        listed, unchecked = [], None
        if set(account.instruments) - set(archived):   # names to check: read the list
            try:
                listed = [i.upper() for i in await client.instruments()]
            except FatalStreamError as exc:
                unchecked = exc
        known = list(dict.fromkeys(listed + archived))
        instruments, source = [], "config"
        for name in account.instruments:
            if name in known:
                instruments.append(name)
            elif unchecked is not None:
                ctx.fail(account.name, f"CoinW instrument {name!r} not synced: its name cannot be "
                                       f"checked, as the public instrument list failed ({unchecked.reason})")
            else:
                match = closest_instrument(name, known)
                hint = f"did you mean {match!r}?" if match else "not in CoinW's instrument list"
                ctx.fail(account.name, f"unknown CoinW instrument {name!r} ({hint})")
    else:
        listed = [i.upper() for i in await client.instruments()]
        delisted = [i for i in archived if i not in listed]
        instruments = list(dict.fromkeys(listed + delisted))
        source = "public list" + (f", plus archived {', '.join(delisted)}" if delisted else "")
    ctx.note(account.name, f"instruments ({source}): " + ", ".join(instruments))
    checkpoints = {
        cp.key: cp
        for cp in await ctx.checkpoints(account.name)
        if cp.key.exchange == "coinw" and cp.key.stream == DEALS.name and cp.slot == SLOT
    }
    works = []
    size = PageSize()      # one endpoint: every instrument's passes learn its page size together
    for instrument in dict.fromkeys(instruments):
        key = StreamKey(account.name, "coinw", DEALS.name, instrument)
        cp = checkpoints.pop(key, None)
        if cp is not None:
            state = PassState.load(cp.state, ctx.now_ms)
            if state is not None:
                works.append(PassWork(key, client, state, resumed=True, size=size))
                continue
            await ctx.write(key, [], slot=SLOT, done=True)
        backfill = not await ctx.coverage(key)
        works.append(PassWork(key, client, PassState(pass_started=ctx.now_ms, backfill=backfill), size=size))
    for key in checkpoints:
        await ctx.write(key, [], slot=SLOT, done=True)
    return works


class CoinwConnector:
    """CoinW futures (perpetual contracts)."""

    name = "coinw"
    default_base_url = "https://api.coinw.com"
    streams = {s.name: s for s in (DEALS,)}
    fields = frozenset({"instruments"})
    secrets = ("api_key", "api_secret")
    optional_secrets: tuple[str, ...] = ()

    def open(self, account: Account, stats: Any, limiters: Any = None, http: Any = None) -> CoinwClient:
        return CoinwClient.from_account(account, stats, limiters=limiters, http=http)

    async def plan(self, account: Account, clients: CoinwClient, ctx: PlanContext) -> list[PassWork]:
        return await plan_account(account, clients, ctx)

    def unconfigured(self, account: Account) -> list[tuple[StreamSpec, str]]:
        return []


COINW = CoinwConnector()
