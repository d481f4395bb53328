"""Time-windowed, cursor-paged streams: which windows to fetch, and how to page one.

Every Bitget endpoint archived is read this way (financial records, the funding wallet, tax
records), and so would be any endpoint that takes ``startTime``/``endTime`` and a cursor.
A stream's wanted range is the endpoint's reach, ``[now - retention + EDGE_MARGIN, now)``;
minus what the archive already covers (the newest ``OVERLAP`` of it is re-read,
deduplicated by id, to catch rows that reached the exchange's index late), minus windows a
previous run left half-done (resumed from their cursor), minus whatever the planner says
another stream holds (tax records skip what financial records cover). What remains is cut
into half-open windows on a fixed grid of ``window_ms - 1`` since the Unix epoch, each a
unit of work (:class:`WindowWork`).

Boundaries (the docs do not say whether ``startTime``/``endTime`` are inclusive): a window
``[s, e)`` is requested as ``startTime=s-1`` and ``endTime=e`` — a span of exactly the
endpoint's longest allowed span, which the API allows ("must not exceed"). Whichever way a
server reads either bound, every row of ``[s, e)`` is inside the request; a row at ``s-1``
or ``e`` that comes back as well belongs to a neighbouring window too and is deduplicated
by id.

Paging a window follows the server's cursor (opaque: not necessarily a row id) with a
:class:`~cexledger.exchanges._paging.CursorPaginator`: the stop rules and loop guards every
chain shares. A chain stopped for no progress halts the stream's other windows; none of
them is marked covered. Records and the window's checkpoint (the cursor after the last page
that brought new rows) commit together per page, and the window is marked covered only
with its last page.

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Protocol

from .._clock import utc_text
from ..errors import FatalStreamError, KeyRefusedError
from ..model import StreamKey
from ._paging import CursorPaginator, PageChain, PageSize, StreamHalt, StreamHalted
from .base import PlanContext, RawPage

__all__ = [
    "EDGE_MARGIN_MS", "OVERLAP_MS", "Elsewhere", "WindowSource", "WindowWork", "plan_gaps", "plan_stream",
    "plan_windows", "split_remainder", "subtract", "wanted_range",
]

EDGE_MARGIN_MS = 10 * 60_000     # stay inside the reach's edge: absorbs clock skew
OVERLAP_MS = 10 * 60_000         # re-read the newest 10 minutes of coverage each sync
MIN_PAGES_PER_PART = 3           # a split part is worth at least this many pages
MAX_PARTS = 8                    # at most this many parts per split
MAX_CHAINS = 64                  # never more chains than this per account and budget
SPLIT_HEADROOM = 2.0             # see WindowWork._parts_wanted
MIN_SPLIT_MS = 60_000            # never split a remainder shorter than a minute


class WindowSource(Protocol):
    """One endpoint of one client, as a window reads it.

    ``page(partition, start_ms=, end_ms=, cursor=)`` fetches one page of at most
    ``page_limit`` rows; ``grid_ms`` is the window grid (the longest span less 1 ms);
    ``retention_ms`` its reach; ``budget`` the name of its rate-limit budget; ``rate`` the
    requests per second its budget allows this key;
    ``round_trip`` the seconds one request takes (0 before the first).
    """

    exchange: str
    budget: str
    page_limit: int
    grid_ms: int
    retention_ms: int

    @property
    def rate(self) -> float: ...

    @property
    def round_trip(self) -> float: ...

    async def page(self, partition: str, *, start_ms: int, end_ms: int, cursor: str | None) -> RawPage: ...


def wanted_range(now_ms: int, retention_ms: int) -> tuple[int, int]:
    """The time range an endpoint still serves, as a half-open ``(start, end)``."""
    return now_ms - retention_ms + EDGE_MARGIN_MS, now_ms


def plan_windows(start: int, end: int, grid: int) -> list[tuple[int, int]]:
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
    now_ms: int, coverage: Sequence[tuple[int, int]], in_progress: Sequence[tuple[int, int]], *,
    retention_ms: int, grid_ms: int, elsewhere: Sequence[tuple[int, int]] = (),
    overlap_ms: int = OVERLAP_MS,
) -> list[tuple[int, int]]:
    """The windows still to fetch from scratch for one stream: its reach, minus its
    coverage (less the ``overlap_ms`` re-read), what is in progress and what ``elsewhere`` holds."""
    start, end = wanted_range(now_ms, retention_ms)
    covered = list(coverage)
    if covered:
        last_start, last_end = covered[-1]
        trimmed = min(last_end, end) - overlap_ms
        covered[-1] = (last_start, trimmed) if trimmed > last_start else (last_start, last_start)
    holes = [c for c in covered if c[1] > c[0]] + list(in_progress) + list(elsewhere)
    gaps = subtract([(start, end)], holes)
    return [w for s, e in gaps for w in plan_windows(s, e, grid_ms)]


@dataclass
class WindowWork:
    """Fetch one window ``[start, end)`` of one stream from ``source``, from ``cursor`` if
    resuming."""

    key: StreamKey
    source: WindowSource
    start: int
    end: int
    cursor: str | None = None
    halt: StreamHalt = field(default_factory=StreamHalt)   # shared by the stream's windows
    size: PageSize = field(default_factory=PageSize)       # shared by the endpoint's windows

    #: What a failure count of this work is counted in.
    unit = "windows"

    @property
    def slot(self) -> str:
        return f"{self.start}-{self.end}"

    @property
    def label(self) -> str:
        return f"{self.key} {utc_text(self.start)} → {utc_text(self.end)}"

    @property
    def rate(self) -> float:
        return self.source.rate

    @property
    def budget(self) -> str:
        return self.source.budget

    @property
    def lane(self) -> tuple[str, str]:
        return self.key.account, self.source.budget

    def state(self, cursor: str | None) -> dict:
        """The checkpoint of a window read up to ``cursor``."""
        return {"start": self.start, "end": self.end, "cursor": cursor}

    async def run(self, ctx: PlanContext) -> list[WindowWork]:
        try:
            return await self._run(ctx)
        except StreamHalted:
            # another window of this stream made no progress and said so: this one stops
            # too, uncovered (its checkpoint, if any, stays for the next sync)
            return []
        finally:
            ctx.estimate(self.lane, id(self), None)

    def _pager(self, cursor: str | None) -> CursorPaginator:
        return CursorPaginator(PageChain(self.source.exchange, self.key.account, uncovered="window",
                                         halt=self.halt, size=self.size), cursor)

    async def _run(self, ctx: PlanContext) -> list[WindowWork]:
        pager = self._pager(self.cursor)
        trail = _Trail() if self.cursor is None else None    # a resumed chain does not know its start
        while True:
            pager.chain.check()
            try:
                page = await self.source.page(self.key.partition, start_ms=self.start - 1,
                                              end_ms=self.end, cursor=pager.cursor)
            except FatalStreamError as exc:
                if pager.cursor is None or pager.cursor != self.cursor or isinstance(exc, KeyRefusedError):
                    raise
                # a cursor saved by an interrupted run that the server no longer accepts:
                # read the window again from its start (duplicates are absorbed by id)
                pager, trail = self._pager(None), _Trail()
                continue
            ctx.count_page(self.key)
            records = ctx.normalize(self.key, page.rows)
            pager.update([r.record_id for r in records], len(page.rows), page.cursor)
            done = not pager.has_next
            if not done and trail is not None:
                trail.extend([r.ts for r in records])
                parts = self._parts_wanted(ctx, trail)
                limit = self.source.page_limit
                split = (split_remainder(trail, self.start, self.end, limit, max_parts=parts)
                         if parts > 1 else None)
                if split is not None:
                    covered, pieces = split
                    works = [WindowWork(self.key, self.source, s, e, halt=self.halt, size=self.size)
                             for s, e in pieces]
                    share = remaining_pages(trail, self.start, self.end, limit) / len(works)
                    for work in works:          # visible to other chains' decisions at once
                        ctx.estimate(self.lane, id(work), share)
                    ctx.reserve(self.lane, len(works) - 1)
                    await ctx.write(self.key, records, slot=self.slot, done=True, cover=covered)
                    return works
            await ctx.write(
                self.key,
                records,
                slot=self.slot,
                state=None if done else self.state(pager.resume),
                done=done,
                cover=(self.start, self.end) if done else None,
            )
            if done:
                return []

    def _parts_wanted(self, ctx: PlanContext, trail: _Trail) -> int:
        """Into how many parts to split what this chain has left (1: go on by cursor).

        A chain reads one page per round trip; the key's limiter allows ``rate`` pages a
        second across all chains of its budget. A chain whose remaining pages would take
        longer alone than its lane's remaining work (the account's on this budget) needs at
        the full rate is on the critical path: it is split so that each part fits (with a
        factor 2 of headroom for uneven density).
        Splitting costs a partial last page per part, so nothing else is split.
        """
        mine = remaining_pages(trail, self.start, self.end, self.source.page_limit)
        ctx.estimate(self.lane, id(self), mine)
        rate, round_trip = self.source.rate, self.source.round_trip or 0.5
        ideal = ctx.remaining(self.lane) / rate
        alone = mine * round_trip
        if alone * SPLIT_HEADROOM <= ideal:
            return 1
        room = MAX_CHAINS - ctx.running(self.lane) + 1
        return max(1, min(room, math.ceil(alone * SPLIT_HEADROOM / max(ideal, round_trip))))


def remaining_pages(trail: _Trail, start: int, end: int, page_limit: int) -> float:
    """Pages a chain still has to read, from the density of what it has read."""
    if trail.order not in (-1, 1) or trail.first is None or trail.edge is None:
        return 1.0
    left = (trail.edge - start) if trail.order == -1 else (end - trail.edge)
    read_span = max(1, abs(trail.edge - trail.first))
    return max(0.0, trail.rows / read_span * max(0, left) / page_limit)


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
    trail: _Trail, start: int, end: int, page_limit: int, *, max_parts: int = MAX_PARTS
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
    est_pages = trail.rows / read_span * span / page_limit
    parts = min(max_parts, MAX_PARTS, int(est_pages // MIN_PAGES_PER_PART))
    if parts < 2:
        return None
    bounds = [rem_start + (span * i) // parts for i in range(parts + 1)]
    pieces = [(a, b) for a, b in pairwise(bounds) if b > a]
    return (covered if covered[1] > covered[0] else None), pieces




Elsewhere = Callable[[StreamKey], Awaitable[Sequence[tuple[int, int]]]]


async def plan_stream(ctx: PlanContext, account: str, stream: str, source: WindowSource,
                      partitions: Sequence[str], *, elsewhere: Elsewhere | None = None,
                      halt: StreamHalt | None = None, overlap_ms: int = OVERLAP_MS) -> list[WindowWork]:
    """Every window to fetch for one stream of one account: resumed ones first, then the gaps.

    ``elsewhere(key)``: ranges of the partition another stream holds, not to be fetched
    here. ``overlap_ms``: how much of the newest coverage to re-read (0 for a stream that
    never reads recent time, where no row can reach the index late). ``halt``: shared by
    every partition's windows (default: one per partition), so that one refusal stops them
    all. Every window of the stream shares one :class:`PageSize` (the endpoint's page size
    learnt together). Checkpoints of partitions no longer configured, and of windows past
    the reach, are dropped (the range is planned afresh)."""
    works: list[WindowWork] = []
    retention_start, _ = wanted_range(ctx.now_ms, source.retention_ms)
    checkpoints: dict[StreamKey, list] = {}
    for cp in await ctx.checkpoints(account):
        if cp.key.exchange == source.exchange and cp.key.stream == stream:
            checkpoints.setdefault(cp.key, []).append(cp)
    size = PageSize()      # one endpoint: every partition's windows learn its page size together
    for partition in partitions:
        key = StreamKey(account, source.exchange, stream, partition)
        stop = halt if halt is not None else StreamHalt()
        resumed = []
        for cp in checkpoints.pop(key, []):
            s, e, cursor = cp.state.get("start"), cp.state.get("end"), cp.state.get("cursor")
            if not isinstance(s, int) or not isinstance(e, int) or s < retention_start:
                # expired or unreadable: drop it, the range is planned afresh below
                await ctx.write(key, [], slot=cp.slot, done=True)
                continue
            resumed.append(WindowWork(key, source, s, e, cursor=cursor if isinstance(cursor, str) else None,
                                      halt=stop, size=size))
        works.extend(resumed)
        coverage = await ctx.coverage(key)
        skip = await elsewhere(key) if elsewhere is not None else ()
        for s, e in plan_gaps(ctx.now_ms, coverage, [(w.start, w.end) for w in resumed],
                              retention_ms=source.retention_ms, grid_ms=source.grid_ms, elsewhere=skip,
                              overlap_ms=overlap_ms):
            works.append(WindowWork(key, source, s, e, halt=stop, size=size))
    for key, cps in checkpoints.items():      # partitions no longer configured
        for cp in cps:
            await ctx.write(key, [], slot=cp.slot, done=True)
    return works
