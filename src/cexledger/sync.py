"""Plan every account's streams and run them concurrently under the shared rate limiters.

Each exchange's ``streams`` module turns an account into *work items* (a Bitget window, a
CoinW pass). A work item fetches pages and hands each one to ``SyncContext.write`` — one
archive transaction holding the page's records, the stream's checkpoint and, with the last
page, its coverage — and may return follow-up work (a dense window split into parts).
All work items of all accounts run at once; the per-key rate limiter inside each client
decides the pace, so latency is hidden by concurrency and the limit is never exceeded.

Before any of that, an account's sync takes the account's cross-process lock (another
process syncing it: wait up to ``wait`` seconds, then skip it with an error) and opens its
identity gate (``identity.py``): every write of the account passes the gate, which refuses
another exchange user's rows before anything of them is written.

Errors are sorted by what to do, in one place (``_run_account``):
``FatalAccountError`` stops that account's work at once; ``FatalStreamError`` stops one
work item (its range stays uncovered, so the next sync retries it); anything else — the
archive failing — stops the sync.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._clock import now_ms
from .archive import Archive, Checkpoint, StreamSummary, WriteResult
from .archive.locks import DEFAULT_WAIT_S
from .config import Account
from .errors import FatalAccountError, FatalStreamError, IdentityError
from .exchanges import registry
from .exchanges._http import RequestStats
from .identity import IdentityGate, open_gate
from .model import Record, StreamKey

__all__ = ["SyncContext", "StreamStats", "AccountReport", "SyncReport", "sync_accounts", "now_ms",
           "DEFAULT_WAIT_S"]

LOCK_POLL_S = 0.25
"""How often a waiting sync tries the account's lock again."""

HANDOVER_S = 1.0
"""Pause after getting an account's lock from another process: the exchanges count requests
per key in 1-second windows, and the other process's last requests are still in the current
one (the two processes do not share a rate limiter)."""


class Work(Protocol):
    key: StreamKey

    @property
    def label(self) -> str: ...

    async def run(self, ctx: SyncContext) -> Sequence[Work]: ...


@dataclass
class StreamStats:
    pages: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class AccountReport:
    account: str
    exchange: str
    streams: dict[StreamKey, StreamStats] = field(default_factory=dict)
    requests: RequestStats = field(default_factory=RequestStats)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fatal: bool = False
    skipped: bool = False      # nothing was done (lock not had, identity refused): no run logged
    seconds: float = 0.0

    @property
    def new(self) -> int:
        return sum(s.new for s in self.streams.values())

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.streams.values())


@dataclass
class SyncReport:
    accounts: list[AccountReport]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(a.errors for a in self.accounts)


ProgressFn = Callable[[StreamKey, WriteResult | None], None]


class SyncContext:
    """What work items see: the archive (serialised, off the event loop) and the counters.

    ``recheck_open``: re-read every archived record that may still change (CoinW open
    positions) in this sync, whatever the exchange's schedule for that says.
    """

    def __init__(self, archive: Archive, now: int, reports: dict[str, AccountReport],
                 progress: ProgressFn | None = None, *, recheck_open: bool = False) -> None:
        self.archive = archive
        self.now_ms = now
        self.recheck_open = recheck_open
        self._reports = reports
        self._lock = asyncio.Lock()
        self._progress = progress
        self._running: dict[str, int] = {}
        self._estimates: dict[str, dict[int, float]] = {}
        self._gates: dict[str, IdentityGate] = {}

    def _stats(self, key: StreamKey) -> StreamStats:
        return self._reports[key.account].streams.setdefault(key, StreamStats())

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    async def write(self, key: StreamKey, records: Sequence[Record], *, slot: str | None = None,
                    state: dict | None = None, done: bool = False,
                    cover: tuple[int, int] | None = None) -> WriteResult:
        await self._admit(key, records)
        result = await self._call(self.archive.write_page, key, records, slot=slot, state=state,
                                  done=done, cover=cover)
        stats = self._stats(key)
        stats.new += result.new
        stats.updated += result.updated
        stats.unchanged += result.unchanged
        if self._progress:
            self._progress(key, result)
        return result

    async def _admit(self, key: StreamKey, records: Sequence[Record]) -> None:
        """Wait until the account's identity gate lets this write through (or raise)."""
        gate = self._gates.get(key.account)
        if gate is not None:
            await gate.admit(key, records)

    def _trusted(self, account: str) -> bool:
        """Whether the account's archived coverage and checkpoints may plan its work: not
        while a new key is on probation (coverage is never trusted across identities)."""
        gate = self._gates.get(account)
        return gate is None or gate.trusted

    def count_page(self, key: StreamKey) -> None:
        self._stats(key).pages += 1
        if self._progress:
            self._progress(key, None)

    def running(self, account: str) -> int:
        """How many work items of this account are running (or about to start)."""
        return self._running.get(account, 0)

    def reserve(self, account: str, extra: int) -> None:
        """Count follow-up work a running item is about to return, so that concurrent
        decisions see it before the engine schedules it."""
        self._running[account] = self.running(account) + extra

    def set_running(self, account: str, count: int) -> None:
        self._running[account] = count

    def estimate(self, account: str, token: int, pages: float | None) -> None:
        """Publish (or with ``None`` withdraw) a work item's estimate of its remaining pages."""
        mine = self._estimates.setdefault(account, {})
        if pages is None:
            mine.pop(token, None)
        else:
            mine[token] = pages

    def remaining(self, account: str) -> float:
        """The account's remaining pages: published estimates, one page for every other item."""
        mine = self._estimates.get(account, {})
        return sum(mine.values()) + max(0, self.running(account) - len(mine))

    def note(self, account: str, text: str) -> None:
        self._reports[account].notes.append(text)

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

    async def get_meta(self, key: StreamKey, name: str) -> str | None:
        return await self._call(self.archive.get_meta, key, name)

    async def set_meta(self, key: StreamKey, name: str, value: str) -> None:
        """A per-stream value, in its own transaction (not with any page's records)."""
        await self._admit(key, [])
        await self._call(self.archive.set_meta, key, name, value)


async def sync_accounts(
    accounts: Sequence[Account],
    archive: Archive,
    *,
    progress: ProgressFn | None = None,
    now: int | None = None,
    recheck_open: bool = False,
    wait: float = DEFAULT_WAIT_S,
    on_wait: Callable[[str], None] | None = None,
    accept_identity: Sequence[str] = (),
) -> SyncReport:
    """Sync every account concurrently; returns what happened, never raises for exchange errors.

    ``recheck_open`` re-reads every archived CoinW open position now instead of on its
    schedule (see ``exchanges/coinw/streams.py``). An account another process is syncing is
    waited for up to ``wait`` seconds (``on_wait(name)`` is called once when the wait
    starts), then skipped with an error. ``accept_identity`` names accounts whose configured
    keys are to be recorded as their identity (the user's word: the same exchange user).
    """
    started = time.monotonic()
    reports = {a.name: AccountReport(a.name, a.exchange) for a in accounts}
    ctx = SyncContext(archive, now if now is not None else now_ms(), reports, progress,
                      recheck_open=recheck_open)
    accept = set(accept_identity)
    await asyncio.gather(*(_locked_account(a, ctx, reports[a.name], wait, on_wait, a.name in accept)
                           for a in accounts))
    return SyncReport(list(reports.values()), time.monotonic() - started)


async def _locked_account(account: Account, ctx: SyncContext, report: AccountReport, wait: float,
                          on_wait: Callable[[str], None] | None, accept: bool) -> None:
    """Sync one account holding its cross-process lock; skip it if the lock is not had in time."""
    name = account.name
    if not await ctx._call(ctx.archive.try_lock_account, name):
        if on_wait is not None and wait > 0:
            on_wait(name)
        waited = time.monotonic()
        while True:
            if time.monotonic() - waited >= wait:
                held = "is syncing it (--wait 0)" if wait <= 0 else f"held it for {wait:g} s"
                report.errors.append(f"account {name!r}: another cexledger process {held}; "
                                     "skipped — run again later")
                report.skipped = True
                return
            await asyncio.sleep(min(LOCK_POLL_S, max(0.0, wait - (time.monotonic() - waited))))
            if await ctx._call(ctx.archive.try_lock_account, name):
                await asyncio.sleep(HANDOVER_S)
                break
    try:
        await _run_account(account, ctx, report, accept)
    finally:
        await ctx._call(ctx.archive.unlock_account, name)


async def _run_account(account: Account, ctx: SyncContext, report: AccountReport,
                       accept: bool = False) -> None:
    exchange = registry[account.exchange]
    t0 = time.monotonic()
    started_ms = now_ms()
    try:
        gate = ctx._gates[account.name] = await open_gate(account, ctx._call, ctx.archive, accept=accept)
    except IdentityError as exc:
        report.fatal = report.skipped = True
        report.errors.append(str(exc))
        return
    client = exchange.open_client(account, report.requests)
    tasks: dict[asyncio.Task, Work] = {}
    try:
        try:
            for work in await exchange.plan_account(account, client, ctx):
                tasks[asyncio.create_task(work.run(ctx))] = work
            ctx.set_running(account.name, len(tasks))
            while tasks:
                stall = None if gate.decided else asyncio.create_task(gate.stalled(len(tasks)))
                done, _ = await asyncio.wait([*tasks, *([stall] if stall else [])],
                                             return_when=asyncio.FIRST_COMPLETED)
                if stall is not None:
                    if stall in done:
                        gate.no_evidence()    # every work item waits at the gate: none can decide
                        done.discard(stall)
                    else:
                        stall.cancel()
                for task in done:
                    work = tasks.pop(task)
                    try:
                        follow_up = task.result()
                    except FatalStreamError as exc:
                        report.errors.append(f"{work.label}: {exc}")
                        continue
                    for nxt in follow_up:
                        tasks[asyncio.create_task(nxt.run(ctx))] = nxt
                ctx.set_running(account.name, len(tasks))
        except FatalAccountError as exc:
            report.fatal = True
            report.skipped = isinstance(exc, IdentityError)
            report.errors.append(str(exc))
        except FatalStreamError as exc:       # raised while planning (e.g. instrument list)
            report.errors.append(str(exc))
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await client.aclose()
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
            "unparsed": report.requests.unparsed,
            "errors": report.errors,
        },
    )
