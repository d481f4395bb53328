"""Plan every account's streams and run them concurrently under the shared rate limiters.

Each exchange's connector (``exchanges.base.Connector``) turns an account into *work items*
(a Bitget window, a CoinW pass). A work item fetches pages, has their row bytes normalized
by ``SyncContext.normalize`` (the stream's pure, versioned normalizer) and hands each page
to ``SyncContext.write`` — the sink: one archive transaction holding the page's records,
the stream's checkpoint and, with the last page, its coverage — and may return follow-up
work (a dense window split into parts).
All work items of all accounts run at once; the per-key rate limiter inside each client
decides the pace, so latency is hidden by concurrency and the limit is never exceeded.

Before any of that, an account's sync takes the account's cross-process lock (another
process syncing it: wait up to ``wait`` seconds, then skip it with an error) and opens its
identity gate (``identity.py``): every write of the account passes the gate, which refuses
another exchange user's rows before anything of them is written.

Errors are sorted by what to do, in one place (``_run_account``):
``FatalAccountError`` stops that account's work at once; ``FatalStreamError`` stops one
work item (its range stays uncovered, so the next sync retries it); anything else — the
archive failing — stops the sync. An account the config marks incomplete (``problem``) is
reported as failed without a request. Each failure is kept with its cause
(``AccountReport.fail``): the run log gets them all, people get one line per cause
(``AccountReport.error_lines``).

Every stream an account's plan names is registered in the archive (``status`` lists it even
when its first page fails) once the gate admits the account's identity: with its first
admitted write, or when its work ends. Nothing is written for an account before that — a
refused sync leaves the archive as it was. Work items that fail while the gate is still
undecided (a network error) end the account as "identity not yet confirmed", not refused.

Before anything is fetched, streams whose entries an older normalizer built are re-derived
from their archived raw bytes (:mod:`.reparse`); every stream a sync writes records the
normalizer version that builds its entries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._clock import now_ms
from .archive import Archive, Checkpoint, NewPages, StreamSummary, WriteResult
from .archive.locks import DEFAULT_WAIT_S
from .config import Account
from .errors import ExchangeError, FatalAccountError, FatalStreamError, IdentityError, KeyRefusedError
from .exchanges import registry, spec
from .exchanges._http import RequestStats
from .exchanges._limits import LimiterPool
from .exchanges.base import Work
from .identity import IdentityGate, open_gate
from .model import LedgerEntry, Record, StreamKey
from .reparse import describe, reparse, stamp, survey

__all__ = ["SyncContext", "StreamStats", "WorkLeft", "seconds_left", "AccountReport", "SyncReport", "Failure",
           "sync_accounts", "now_ms", "DEFAULT_WAIT_S"]

LOCK_POLL_S = 0.25
"""How often a waiting sync tries the account's lock again."""

HANDOVER_S = 1.0
"""Pause after getting an account's lock from another process: the exchanges count requests
per key in 1-second windows, and the other process's last requests are still in the current
one (the two processes do not share a rate limiter)."""


@dataclass
class StreamStats:
    pages: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    unparsed: int = 0     # rows archived raw without entries (not understood yet)


@dataclass(frozen=True)
class Failure:
    """Why one work item failed (``key`` and ``where``, its label), or the whole account
    (``key`` None). ``unit`` names what failed work of the kind is counted in."""

    cause: str
    key: StreamKey | None = None
    where: str | None = None
    unit: str = "work items"
    general: str | None = None    # the cause without the request it names (None: the same)


def cause_of(exc: BaseException) -> str:
    """An error's text without the account it happened to (the line names the account)."""
    return exc.reason if isinstance(exc, ExchangeError) else str(exc) or type(exc).__name__


def general_of(exc: BaseException) -> str | None:
    """An error's cause without the request it names, when it names one."""
    return exc.cause if isinstance(exc, ExchangeError) else None


@dataclass
class AccountReport:
    """What one account's sync did. ``errors`` is the full list, one line per failure, for
    the run log; ``error_lines()`` says the same in one line per cause, for people."""

    account: str
    exchange: str
    streams: dict[StreamKey, StreamStats] = field(default_factory=dict)
    requests: RequestStats = field(default_factory=RequestStats)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fatal: bool = False
    skipped: bool = False      # nothing was done (lock not had, identity refused): no run logged
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    def fail(self, cause: str, key: StreamKey | None = None, where: str | None = None,
             unit: str = "work items", general: str | None = None) -> None:
        """Record a failure: of the work item labelled ``where`` in stream ``key``, or of
        the account as a whole. ``general``: the cause without the request it names."""
        self.failures.append(Failure(cause, key, where, unit, general))
        self.errors.append(f"{where}: {cause}" if where else f"account {self.account!r}: {cause}")

    def error_lines(self) -> list[str]:
        """One line per cause: how many work items in how many streams it stopped.

        A cause met on several endpoints (a host that cannot be reached) is one cause: the
        request it names is left out of the line when the failures name different ones.
        Errors appended to ``errors`` without :meth:`fail` are kept as they are."""
        groups: dict[str, list[Failure]] = {}
        for failure in self.failures:
            groups.setdefault(failure.general or failure.cause, []).append(failure)
        lines = []
        who = f"account {self.account!r}"
        for general, group in groups.items():
            causes = {f.cause for f in group}
            cause = causes.pop() if len(causes) == 1 else general
            items = [f for f in group if f.key is not None]
            streams = list(dict.fromkeys(f.key for f in items))
            if len(items) < len(group):          # the account itself
                lines.append(f"{who}: {cause}")
            if not items:
                continue
            if len(items) == 1:
                what = items[0].where or str(items[0].key)
            elif len(streams) == 1:
                what = f"{len(items)} {items[0].unit} of {streams[0]}"
            elif len(streams) == len(items):
                what = f"{len(streams)} streams"
            else:
                what = f"{len(items)} {items[0].unit} in {len(streams)} streams"
            lines.append(f"{who}: {what} failed: {cause}")
        recorded = {f"{f.where}: {f.cause}" if f.where else f"{who}: {f.cause}" for f in self.failures}
        lines += [line for line in self.errors if line not in recorded]
        return lines

    @property
    def new(self) -> int:
        return sum(s.new for s in self.streams.values())

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.streams.values())

    @property
    def unparsed(self) -> int:
        return sum(s.unparsed for s in self.streams.values())


@dataclass
class SyncReport:
    accounts: list[AccountReport]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(a.errors for a in self.accounts)


ProgressFn = Callable[[StreamKey, WriteResult | None], None]
Lane = tuple[str, str]
"""``(account, budget)``: the work items of one account on one rate-limit budget."""


@dataclass(frozen=True)
class WorkLeft:
    """One stream's outstanding work in a running sync: work items ``done`` of ``total``
    (counted in ``unit``), and ``seconds`` left at its rate-limit budget's rate — a lower
    bound: each item costs at least one request, and a window with more pages costs more."""

    stream: str
    title: str
    done: int
    total: int
    unit: str
    seconds: float


def seconds_left(items: int, rate: float) -> float:
    """The time ``items`` requests need at ``rate`` requests per second."""
    return items / rate if rate > 0 else 0.0


class SyncContext:
    """What work items see: the archive (serialised, off the event loop) and the counters.

    ``recheck_open``: re-read every archived record that may still change (CoinW open
    positions) in this sync, whatever the exchange's schedule for that says.
    """

    def __init__(self, archive: Archive, now: int, reports: dict[str, AccountReport],
                 progress: ProgressFn | None = None, *, recheck_open: bool = False,
                 rate_scale: float = 1.0) -> None:
        self.archive = archive
        self.now_ms = now
        self.recheck_open = recheck_open
        self._reports = reports
        self._lock = asyncio.Lock()
        self._progress = progress
        self._running: dict[Lane, int] = {}
        self._estimates: dict[Lane, dict[int, float]] = {}
        self._stamped: set[StreamKey] = set()
        self._new_pages = NewPages()
        self._gates: dict[str, IdentityGate] = {}
        self._unregistered: dict[str, list[StreamKey]] = {}
        self._work: dict[tuple[str, str], list] = {}   # (account, stream) -> [done, total, unit, key, rate]
        #: The rate limiters of this sync run: one per (exchange, key, budget), shared by
        #: every client of the run (two accounts with one key share its limits).
        self.limiters = LimiterPool(scale=rate_scale)

    def _stats(self, key: StreamKey) -> StreamStats:
        return self._reports[key.account].streams.setdefault(key, StreamStats())

    def normalize(self, key: StreamKey, rows: Sequence[bytes]) -> list[Record]:
        """The records of one page's rows, by the stream's normalizer (the stage ``reparse``
        re-runs over archived bytes). A row that cannot be archived at all (no readable id or
        time) stops the work item with ``FatalStreamError``; one not understood is kept raw
        only and counted."""
        stream = spec(key)
        if stream is None:
            raise FatalStreamError(f"stream {key.stream!r} is not known", exchange=key.exchange,
                                   account=key.account)
        try:
            records, unparsed = stream.normalizer.page(key.account, key.partition, rows)
        except ValueError as exc:
            raise FatalStreamError(str(exc), exchange=key.exchange, account=key.account) from None
        self._stats(key).unparsed += unparsed
        return records

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn`` in a thread, one at a time. Cancelled meanwhile (Ctrl-C, a worker
        stopping), it still waits for the call to end: a page being written commits whole
        (or not at all) before the sync lets go of the archive and its account lock."""
        async with self._lock:
            call = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
            try:
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                await asyncio.gather(call, return_exceptions=True)
                raise

    async def write(self, key: StreamKey, records: Sequence[Record], *, slot: str | None = None,
                    state: dict | None = None, done: bool = False,
                    cover: tuple[int, int] | None = None) -> WriteResult:
        await self._admit(key, records)
        await self._stamp(key)
        result = await self._call(self.archive.write_page, key, records, slot=slot, state=state,
                                  done=done, cover=cover, expect_new=self._new_pages.expected(key))
        self._new_pages.written(key, result)
        stats = self._stats(key)
        stats.new += result.new
        stats.updated += result.updated
        stats.unchanged += result.unchanged
        if self._progress:
            self._progress(key, result)
        return result

    async def _stamp(self, key: StreamKey) -> None:
        """Before a sync first writes to a stream: its entries are built by this normalizer."""
        if key not in self._stamped:
            self._stamped.add(key)
            await self._call(stamp, self.archive, key)

    def stamped(self, keys: Iterable[StreamKey]) -> None:
        """Streams whose recorded normalizer version is today's already: not stamped again."""
        self._stamped.update(keys)

    async def _admit(self, key: StreamKey, records: Sequence[Record]) -> None:
        """Wait until the account's identity gate lets this write through (or raise)."""
        gate = self._gates.get(key.account)
        if gate is not None:
            await gate.admit(key, records)
        if self._unregistered.get(key.account):
            await self._register_admitted(key.account)

    async def _register_admitted(self, account: str) -> None:
        """Register the account's planned streams, its identity admitted (see :meth:`register`)."""
        keys = self._unregistered.pop(account, [])
        if keys:
            await self._call(self.archive.register_streams, keys, self.now_ms)

    async def settle(self, account: str) -> None:
        """The account's work ended: if its identity was admitted, record it and register its
        planned streams even though nothing was written; otherwise leave them unwritten."""
        gate = self._gates.get(account)
        if gate is not None and not gate.admitted:
            self._unregistered.pop(account, None)
            return
        if gate is not None:
            await gate.record()
        await self._register_admitted(account)

    def _trusted(self, account: str) -> bool:
        """Whether the account's archived coverage and checkpoints may plan its work: not
        while a new key is on probation (coverage is never trusted across identities)."""
        gate = self._gates.get(account)
        return gate is None or gate.trusted

    def track(self, works: Sequence[Work], finished: Work | None = None) -> None:
        """Count work items planned or handed on (``works``) and one that ``finished``."""
        for work in works:
            entry = self._work.setdefault((work.key.account, work.key.stream), [0, 0, work.unit, work.key, work.rate])
            entry[1] += 1
        if finished is not None:
            self._work[(finished.key.account, finished.key.stream)][0] += 1

    def work_left(self, account: str) -> list[WorkLeft]:
        """Each of the account's streams with work outstanding, the longest time left first."""
        left = []
        for (name, stream), (done, total, unit, key, rate) in self._work.items():
            if name != account or done >= total:
                continue
            stream_spec = spec(key)
            title = stream_spec.title if stream_spec is not None else stream
            left.append(WorkLeft(stream, title, done, total, unit, seconds_left(total - done, rate)))
        return sorted(left, key=lambda w: -w.seconds)

    def count_page(self, key: StreamKey) -> None:
        self._stats(key).pages += 1
        if self._progress:
            self._progress(key, None)

    # Concurrency is sized per *lane*, ``(account, budget)``: the work items of one account
    # that draw on one rate-limit budget (financial records and the funding wallet pace
    # apart, so one's remaining work says nothing of the other's).

    def running(self, lane: Lane) -> int:
        """How many work items of this lane are running (or about to start)."""
        return self._running.get(lane, 0)

    def reserve(self, lane: Lane, extra: int) -> None:
        """Count follow-up work a running item is about to return, so that concurrent
        decisions see it before the engine schedules it."""
        self._running[lane] = self.running(lane) + extra

    def set_running(self, account: str, works: Iterable[Work]) -> None:
        """The account's running work items, counted per lane."""
        for lane in [lane for lane in self._running if lane[0] == account]:
            self._running[lane] = 0
        for work in works:
            lane = (account, work.budget)
            self._running[lane] = self._running.get(lane, 0) + 1

    def estimate(self, lane: Lane, token: int, pages: float | None) -> None:
        """Publish (or with ``None`` withdraw) a work item's estimate of its remaining pages."""
        mine = self._estimates.setdefault(lane, {})
        if pages is None:
            mine.pop(token, None)
        else:
            mine[token] = pages

    def remaining(self, lane: Lane) -> float:
        """The lane's remaining pages: published estimates, one page for every other item."""
        mine = self._estimates.get(lane, {})
        return sum(mine.values()) + max(0, self.running(lane) - len(mine))

    def note(self, account: str, text: str) -> None:
        self._reports[account].notes.append(text)

    def fail(self, account: str, cause: str, key: StreamKey | None = None) -> None:
        """Report a failure found while planning (e.g. a configured stream that cannot exist):
        the sync goes on for the rest and exits non-zero."""
        self._reports[account].fail(cause, key)

    async def register(self, keys: Sequence[StreamKey]) -> None:
        """Make the streams known to the archive (``status`` lists them), records or not —
        once the account's identity gate admits it (with its first admitted write, or at
        :meth:`settle`): nothing is written for an account before that."""
        for key in keys:
            self._unregistered.setdefault(key.account, []).append(key)

    async def checkpoints(self, account: str) -> list[Checkpoint]:
        if not self._trusted(account):
            return []
        return await self._call(self.archive.checkpoints, account)

    async def coverage(self, key: StreamKey) -> list[tuple[int, int]]:
        if not self._trusted(key.account):
            return []
        return await self._call(self.archive.coverage, key)

    async def mutable_ids(self, key: StreamKey) -> dict[str, int]:
        return await self._call(self.archive.mutable_ids, key)

    async def streams(self, account: str) -> list[StreamSummary]:
        return await self._call(self.archive.streams, account)

    async def entries(self, key: StreamKey, since_ms: int, until_ms: int) -> list[LedgerEntry]:
        """The archived entries of stream ``key`` with ``since_ms <= ts < until_ms`` (none
        while the account's coverage is not trusted)."""
        if not self._trusted(key.account):
            return []

        def read() -> list[LedgerEntry]:
            return [e for e in self.archive.iter_entries(account=key.account, exchange=key.exchange,
                                                         since_ms=since_ms, until_ms=until_ms)
                    if e.stream == key.stream and e.category == key.partition]

        return await self._call(read)

    async def get_meta(self, key: StreamKey, name: str) -> str | None:
        return await self._call(self.archive.get_meta, key, name)

    async def set_meta(self, key: StreamKey, name: str, value: str) -> None:
        """A per-stream value, in its own transaction (not with any page's records)."""
        await self._admit(key, [])
        await self._stamp(key)
        await self._call(self.archive.set_meta, key, name, value)


async def sync_accounts(
    accounts: Sequence[Account],
    archive: Archive,
    *,
    progress: ProgressFn | None = None,
    now: int | None = None,
    recheck_open: bool = False,
    announce: Callable[[str], None] | None = None,
    wait: float = DEFAULT_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
    accept_identity: Sequence[str] = (),
    rate_scale: float = 1.0,
) -> SyncReport:
    """Sync every account concurrently; returns what happened, never raises for exchange errors.

    ``recheck_open`` re-reads every archived CoinW open position now instead of on its
    schedule (see ``exchanges/coinw/streams.py``). First, each account's out-of-date streams
    are re-derived; ``announce`` gets the one line saying so. An account another process is
    syncing is waited for up to ``wait`` seconds (``on_wait(name)`` is called once when the
    wait starts), then skipped with an error. ``accept_identity`` names accounts whose configured
    keys are to be recorded as their identity (the user's word: the same exchange user).
    ``rate_scale`` multiplies every rate limit of the run (a simulation only: the demo).
    """
    started = time.monotonic()
    reports = {a.name: AccountReport(a.name, a.exchange) for a in accounts}
    ctx = SyncContext(archive, now if now is not None else now_ms(), reports, progress,
                      recheck_open=recheck_open, rate_scale=rate_scale)
    bind = getattr(progress, "bind", None)     # a progress display that shows the work left
    if bind is not None:
        bind(ctx)
    accept = set(accept_identity)
    finished = getattr(progress, "finished", None)     # a display that stops an account's line

    async def one(a: Account) -> None:
        try:
            await _locked_account(a, ctx, reports[a.name], wait, on_wait, a.name in accept, announce)
        finally:
            if finished is not None:
                finished(a.name)

    await asyncio.gather(*(one(a) for a in accounts))
    return SyncReport(list(reports.values()), time.monotonic() - started)


async def _locked_account(account: Account, ctx: SyncContext, report: AccountReport, wait: float,
                          on_wait: Callable[[str], None] | None, accept: bool,
                          announce: Callable[[str], None] | None = None) -> None:
    """Sync one account holding its cross-process lock; skip it if the lock is not had in time.

    Holding the lock, the account's out-of-date streams are re-derived first (so two
    overlapping runs never both re-derive one stream)."""
    name = account.name
    if account.problem:           # incomplete in the config: nothing can be requested
        report.fatal = True
        report.fail(account.problem)
        return
    if not await ctx._call(ctx.archive.try_lock_account, name):
        if on_wait is not None and wait > 0:
            on_wait(name)
        waited = time.monotonic()
        while True:
            if time.monotonic() - waited >= wait:
                held = "is syncing it (--wait 0)" if wait <= 0 else f"held it for {wait:g} s"
                report.fail(f"another cexledger process {held}; skipped — run again later")
                report.skipped = True
                return
            await asyncio.sleep(min(LOCK_POLL_S, max(0.0, wait - (time.monotonic() - waited))))
            if await ctx._call(ctx.archive.try_lock_account, name):
                await asyncio.sleep(HANDOVER_S)
                break
    try:
        found = await ctx._call(survey, ctx.archive, [name])
        stale = found.outdated
        ctx.stamped(found.current)          # recorded as today's already: not again
        if stale:
            result = await ctx._call(reparse, ctx.archive, stale)
            if announce is not None:
                announce(f"account {name!r}: re-derived the entries of {len(stale)} streams "
                         f"archived by an older cexledger, before fetching: {describe(result)}")
        await _run_account(account, ctx, report, accept)
    finally:
        await ctx._call(ctx.archive.unlock_account, name)


async def _run_account(account: Account, ctx: SyncContext, report: AccountReport,
                       accept: bool = False) -> None:
    connector = registry[account.exchange]
    t0 = time.monotonic()
    started_ms = now_ms()
    try:
        gate = ctx._gates[account.name] = await open_gate(account, ctx._call, ctx.archive, accept=accept)
    except IdentityError as exc:
        report.fatal = report.skipped = True
        report.fail(cause_of(exc))
        return
    clients = connector.open(account, report.requests, ctx.limiters)
    tasks: dict[asyncio.Task, Work] = {}
    try:
        try:
            planned = await connector.plan(account, clients, ctx)
            await ctx.register(list(dict.fromkeys(work.key for work in planned)))
            ctx.track(planned)
            for work in planned:
                tasks[asyncio.create_task(work.run(ctx))] = work
            ctx.set_running(account.name, tasks.values())
            held: list[tuple[FatalStreamError, Work]] = []   # failed while the gate was undecided
            while tasks:
                stall = None if gate.decided else asyncio.create_task(gate.stalled(len(tasks)))
                done, _ = await asyncio.wait([*tasks, *([stall] if stall else [])],
                                             return_when=asyncio.FIRST_COMPLETED)
                if stall is not None:
                    if stall in done:
                        done.discard(stall)
                        if held:          # their rows might have decided: not a refusal
                            break
                        gate.no_evidence()    # every work item waits at the gate: none can decide
                    else:
                        stall.cancel()
                for task in done:
                    work = tasks.pop(task)
                    try:
                        follow_up = task.result()
                    except FatalStreamError as exc:
                        ctx.track([], finished=work)
                        if isinstance(exc, KeyRefusedError):      # every stream on that key stops
                            report.fail(f"{work.key.stream} not synced: {cause_of(exc)}")
                        elif gate.decided:
                            report.fail(cause_of(exc), work.key, work.label, work.unit, general_of(exc))
                        else:
                            held.append((exc, work))
                        continue
                    ctx.track(follow_up, finished=work)
                    for nxt in follow_up:
                        tasks[asyncio.create_task(nxt.run(ctx))] = nxt
                ctx.set_running(account.name, tasks.values())
            if held and not gate.decided:
                causes = ", ".join(dict.fromkeys(cause_of(exc) for exc, _ in held))
                report.fatal = report.skipped = True
                report.fail(f"identity not yet confirmed ({len(held)} work items failed: {causes}); "
                            f"nothing was written, run again")
            else:
                for exc, work in held:
                    report.fail(cause_of(exc), work.key, work.label, work.unit, general_of(exc))
                await ctx.settle(account.name)
        except FatalAccountError as exc:
            report.fatal = True
            report.skipped = isinstance(exc, IdentityError)
            report.fail(cause_of(exc))
            if not report.skipped:
                await ctx.settle(account.name)
        except FatalStreamError as exc:       # raised while planning (e.g. instrument list)
            report.fail(cause_of(exc))
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await clients.aclose()
        report.seconds = time.monotonic() - t0
    if report.skipped:      # refused before anything of it was written: the archive is unchanged
        return
    await ctx._call(
        ctx.archive.record_run, account.name, account.exchange, started_ms, now_ms(),
        {
            "new": report.new,
            "updated": report.updated,
            "pages": sum(s.pages for s in report.streams.values()),
            "requests": report.requests.requests,
            "retries": report.requests.retries,
            "unparsed": report.unparsed,
            "errors": report.errors,
            "notes": report.notes,
        },
    )
