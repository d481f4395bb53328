"""Bitget financial-records streams: which windows to fetch, and how to page one.

One stream per (account, category). Its wanted range is the exchange's retention,
``[now - 90 d + EDGE_MARGIN, now)``; minus what the archive already covers (the newest
``OVERLAP`` of it is re-read, deduplicated by id, to catch rows that reached the exchange's
index late), minus windows a previous run left half-done (resumed from their cursor).
What remains is cut into half-open windows on a fixed grid of 30 days less 1 ms since the
Unix epoch, each a unit of work.

Boundaries (the doc is silent on whether ``startTime``/``endTime`` are inclusive): a window
``[s, e)`` is requested as ``startTime=s-1`` and ``endTime=e`` — a span of at most exactly
30 days, which the API allows ("must not exceed"). Whichever way a server reads either
bound, every row of ``[s, e)`` is inside the request; a row at ``s-1`` or ``e`` that comes
back as well belongs to a neighbouring window too and is deduplicated by id.

Paging a window follows ``data.cursor`` (opaque: not necessarily a row id) until the
list is empty, the cursor null/absent/empty, or — the rule every pager shares, in
``exchanges._paging`` — a page comes back shorter than the longest page seen before it in
the same chain: the live API's last page still carries a cursor, and following it would
cost one request per window for an empty page. A short *first* page is not taken as the
last (a server that caps ``limit`` below 100 is still read to the end). A chain that sends
the same cursor twice, or gets more than ``NO_PROGRESS_PAGES`` pages in a row that bring
no new rows, stops with one line and halts the stream's other windows; none of them is
marked covered. Records and the window's checkpoint (the cursor after the last page that
brought new rows) commit together per page, and the window is marked covered only with
its last page.

Cursor paging inside a window is sequential, so a window with more pages to follow is
split while it is on the critical path: when its remaining pages, read one per round trip,
would take longer than the account's remaining work at the key's full rate (a window whose
first page comes back with a cursor is the first sign; a long chain is split again when
others finish, so the tail of a sync stays concurrent). Pages hold the newest rows first
(or oldest, if the server pages oldest-first: detected from the rows' order), so the time
range read so far is covered, and the rest is cut into parts sized from the density read,
fetched concurrently. Equal timestamps on a page edge are re-read by the remainder (the
split point includes them), never skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from ..._clock import utc_text
from ...errors import FatalStreamError
from ...model import Record, StreamKey
from .._paging import PageChain, StreamHalt, StreamHalted
from .client import BITGET_CATEGORIES, BitgetClient, BitgetCredentials
from .normalize import VERSION as NORMALIZER_VERSION
from .normalize import bitget_parse as parse_row

if TYPE_CHECKING:
    from ...config import Account
    from ...sync import SyncContext

__all__ = [
    "NORMALIZER_VERSION",
    "parse_row",
    "STREAM",
    "WINDOW_MS",
    "RETENTION_MS",
    "plan_windows",
    "split_remainder",
    "subtract",
    "wanted_range",
    "WindowWork",
    "open_client",
    "plan_account",
]

STREAM = "financial-records"
DAY_MS = 86_400_000
WINDOW_MS = 30 * DAY_MS - 1      # windows are cut on this grid; requested 1 ms wider (see above)
RETENTION_MS = 90 * DAY_MS       # how far back the API serves
EDGE_MARGIN_MS = 10 * 60_000     # stay inside the 90-day edge: absorbs clock skew
OVERLAP_MS = 10 * 60_000         # re-read the newest 10 minutes of coverage each sync
PAGE_LIMIT = 100
MIN_PAGES_PER_PART = 3           # a split part is worth at least this many pages
MAX_PARTS = 8                    # at most this many parts per split
MAX_CHAINS = 64                  # never more chains than this per account
SPLIT_HEADROOM = 2.0             # see WindowWork._parts_wanted
MIN_SPLIT_MS = 60_000            # never split a remainder shorter than a minute


def wanted_range(now_ms: int) -> tuple[int, int]:
    """The time range the exchange still serves, as a half-open ``(start, end)``."""
    return now_ms - RETENTION_MS + EDGE_MARGIN_MS, now_ms


def plan_windows(start: int, end: int, grid: int = WINDOW_MS) -> list[tuple[int, int]]:
    """Cut ``[start, end)`` into half-open windows on multiples of ``grid`` since the epoch."""
    windows = []
    s = start
    while s < end:
        e = min(end, (s // grid + 1) * grid)
        windows.append((s, e))
        s = e
    return windows


def subtract(ranges: Sequence[tuple[int, int]], holes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` minus ``holes``, all half-open; result sorted and disjoint."""
    result = []
    for start, end in sorted(ranges):
        pieces = [(start, end)]
        for h_start, h_end in holes:
            next_pieces = []
            for s, e in pieces:
                if h_end <= s or h_start >= e:
                    next_pieces.append((s, e))
                    continue
                if s < h_start:
                    next_pieces.append((s, h_start))
                if h_end < e:
                    next_pieces.append((h_end, e))
            pieces = next_pieces
        result.extend(pieces)
    return sorted(result)


def plan_gaps(
    now_ms: int, coverage: Sequence[tuple[int, int]], in_progress: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The windows still to fetch from scratch for one stream."""
    start, end = wanted_range(now_ms)
    covered = list(coverage)
    if covered:
        last_start, last_end = covered[-1]
        trimmed = min(last_end, end) - OVERLAP_MS
        covered[-1] = (last_start, trimmed) if trimmed > last_start else (last_start, last_start)
    gaps = subtract([(start, end)], [c for c in covered if c[1] > c[0]] + list(in_progress))
    return [w for s, e in gaps for w in plan_windows(s, e)]


@dataclass
class WindowWork:
    """Fetch one window ``[start, end)`` of one stream, from ``cursor`` if resuming."""

    key: StreamKey
    client: BitgetClient
    start: int
    end: int
    cursor: str | None = None
    halt: StreamHalt = field(default_factory=StreamHalt)   # shared by the stream's windows

    @property
    def slot(self) -> str:
        return f"{self.start}-{self.end}"

    #: What a failure count of this work is counted in.
    unit = "windows"

    @property
    def label(self) -> str:
        return f"{self.key} {utc_text(self.start)} → {utc_text(self.end)}"

    async def run(self, ctx: SyncContext) -> list[WindowWork]:
        try:
            return await self._run(ctx)
        except StreamHalted:
            # another window of this stream made no progress and said so: this one stops
            # too, uncovered (its checkpoint, if any, stays for the next sync)
            return []
        finally:
            ctx.estimate(self.key.account, id(self), None)

    def _chain(self) -> PageChain:
        return PageChain("bitget", self.key.account, uncovered="window", halt=self.halt)

    async def _run(self, ctx: SyncContext) -> list[WindowWork]:
        cursor = self.cursor
        chain = self._chain()
        chain.sending(cursor)
        resume = cursor      # the checkpoint: the cursor after the last page with new rows
        trail = _Trail() if cursor is None else None    # a resumed chain does not know its start
        while True:
            chain.check()
            try:
                page = await self.client.financial_records(
                    self.key.partition, start_ms=self.start - 1, end_ms=self.end, cursor=cursor,
                    limit=PAGE_LIMIT,
                )
            except FatalStreamError:
                if cursor is None or cursor != self.cursor:
                    raise
                # a cursor saved by an interrupted run that the server no longer accepts:
                # read the window again from its start (duplicates are absorbed by id)
                cursor, trail, chain = None, _Trail(), self._chain()
                resume = None
                continue
            ctx.count_page(self.key)
            chain.received([r.record_id for r in page.records])
            nxt = page.cursor
            done = chain.is_last(page.rows) or nxt is None
            if not done:
                chain.sending(nxt)
            if not done and trail is not None:
                trail.extend([r.ts for r in page.records])
                parts = self._parts_wanted(ctx, trail)
                split = split_remainder(trail, self.start, self.end, max_parts=parts) if parts > 1 else None
                if split is not None:
                    covered, pieces = split
                    works = [WindowWork(self.key, self.client, s, e, halt=self.halt) for s, e in pieces]
                    share = remaining_pages(trail, self.start, self.end) / len(works)
                    for work in works:          # visible to other chains' decisions at once
                        ctx.estimate(self.key.account, id(work), share)
                    ctx.reserve(self.key.account, len(works) - 1)
                    await ctx.write(self.key, page.records, slot=self.slot, done=True, cover=covered)
                    return works
            if not chain.stale:     # a page that brought nothing new is not progress
                resume = nxt
            state = None if done else {"start": self.start, "end": self.end, "cursor": resume}
            await ctx.write(
                self.key,
                page.records,
                slot=self.slot,
                state=state,
                done=done,
                cover=(self.start, self.end) if done else None,
            )
            if done:
                return []
            cursor = nxt

    def _parts_wanted(self, ctx: SyncContext, trail: _Trail) -> int:
        """Into how many parts to split what this chain has left (1: go on by cursor).

        A chain reads one page per round trip; the key's limiter allows ``rate`` pages a
        second across all chains. A chain whose remaining pages would take longer alone than
        the account's remaining work needs at the full rate is on the critical path: it is
        split so that each part fits (with a factor 2 of headroom for uneven density).
        Splitting costs a partial last page per part, so nothing else is split.
        """
        mine = remaining_pages(trail, self.start, self.end)
        account = self.key.account
        ctx.estimate(account, id(self), mine)
        rate, round_trip = self.client.rate, self.client.stats.round_trip or 0.5
        ideal = ctx.remaining(account) / rate
        alone = mine * round_trip
        if alone * SPLIT_HEADROOM <= ideal:
            return 1
        room = MAX_CHAINS - ctx.running(account) + 1
        return max(1, min(room, math.ceil(alone * SPLIT_HEADROOM / max(ideal, round_trip))))


def remaining_pages(trail: _Trail, start: int, end: int) -> float:
    """Pages a chain still has to read, from the density of what it has read."""
    if trail.order not in (-1, 1) or trail.first is None or trail.edge is None:
        return 1.0
    left = (trail.edge - start) if trail.order == -1 else (end - trail.edge)
    read_span = max(1, abs(trail.edge - trail.first))
    return max(0.0, trail.rows / read_span * max(0, left) / PAGE_LIMIT)


@dataclass
class _Trail:
    """The timestamps a chain has read so far, if they run in one direction.

    ``order`` is -1 newest-first, +1 oldest-first, 0 not yet known, ``None`` not monotonic
    (then the chain is never split: nothing proves which range it has fully read).
    """

    first: int | None = None
    edge: int | None = None
    rows: int = 0
    order: int | None = 0

    def extend(self, ts: list[int]) -> None:
        if not ts or self.order is None:
            return
        seq = ts if self.edge is None else [self.edge, *ts]
        if self.first is None:
            self.first = ts[0]
        for a, b in pairwise(seq):
            step = (b > a) - (b < a)
            if step == 0:
                continue
            if self.order == 0:
                self.order = step
            elif step != self.order:
                self.order = None
                return
        self.edge = ts[-1]
        self.rows += len(ts)


def split_remainder(
    trail: _Trail, start: int, end: int, *, max_parts: int = MAX_PARTS
) -> tuple[tuple[int, int] | None, list[tuple[int, int]]] | None:
    """Split what a chain has not read yet: (range fully read, remaining parts), or None.

    Newest-first, every row after ``edge`` in time has been read, so ``[edge + 1, end)`` is
    covered and ``[start, edge + 1)`` remains — rows *at* ``edge`` may continue on the next
    page, so the remainder includes that millisecond. Oldest-first mirrors it. The number of
    parts follows the density read so far: at least ``MIN_PAGES_PER_PART`` pages each, at
    least two parts, at most ``max_parts``.
    """
    if trail.order not in (-1, 1) or trail.first is None or trail.edge is None:
        return None
    if trail.order == -1:
        covered, remainder = (trail.edge + 1, end), (start, trail.edge + 1)
    else:
        covered, remainder = (start, trail.edge), (trail.edge, end)
    rem_start, rem_end = max(remainder[0], start), min(remainder[1], end)
    span = rem_end - rem_start
    if span < MIN_SPLIT_MS:
        return None
    read_span = max(1, abs(trail.edge - trail.first))
    est_pages = trail.rows / read_span * span / PAGE_LIMIT
    parts = min(max_parts, MAX_PARTS, int(est_pages // MIN_PAGES_PER_PART))
    if parts < 2:
        return None
    bounds = [rem_start + (span * i) // parts for i in range(parts + 1)]
    pieces = [(a, b) for a, b in pairwise(bounds) if b > a]
    return (covered if covered[1] > covered[0] else None), pieces


def open_client(account: Account, stats, http=None) -> BitgetClient:
    """A client for one configured Bitget account."""
    from .._http import RetryPolicy

    retry = RetryPolicy.with_timeout(account.timeout)
    creds = BitgetCredentials(
        api_key=account.api_key,
        api_secret=account.api_secret,
        passphrase=account.passphrase or "",
        demo=account.demo,
    )
    return BitgetClient(
        account.name, creds, base_url=account.base_url, http=http, stats=stats, retry=retry,
        rate=account.rate_limit,
    )


async def plan_account(account: Account, client: BitgetClient, ctx: SyncContext) -> list[WindowWork]:
    """Every window to fetch for one account: resumed ones first, then the gaps."""
    works: list[WindowWork] = []
    retention_start, _ = wanted_range(ctx.now_ms)
    checkpoints = {}
    for cp in await ctx.checkpoints(account.name):
        if cp.key.exchange == "bitget" and cp.key.stream == STREAM:
            checkpoints.setdefault(cp.key, []).append(cp)
    for category in account.categories or BITGET_CATEGORIES:
        key = StreamKey(account.name, "bitget", STREAM, category)
        halt = StreamHalt()
        resumed = []
        for cp in checkpoints.pop(key, []):
            s, e, cursor = cp.state.get("start"), cp.state.get("end"), cp.state.get("cursor")
            if not isinstance(s, int) or not isinstance(e, int) or s < retention_start:
                # expired or unreadable: drop it, the range is planned afresh below
                await ctx.write(key, [], slot=cp.slot, done=True)
                continue
            resumed.append(WindowWork(key, client, s, e, cursor=cursor if isinstance(cursor, str) else None,
                                      halt=halt))
        works.extend(resumed)
        coverage = await ctx.coverage(key)
        for s, e in plan_gaps(ctx.now_ms, coverage, [(w.start, w.end) for w in resumed]):
            works.append(WindowWork(key, client, s, e, halt=halt))
    for key, cps in checkpoints.items():      # categories no longer configured
        for cp in cps:
            await ctx.write(key, [], slot=cp.slot, done=True)
    return works

