"""The Bitget connector: its streams, their clients, and how one account is planned.

Streams (see ``docs/exchanges.md`` for what each endpoint does and what was inferred):

=====================  ===============================================  ===========  ========  ============
stream                 endpoint                                         partition    reach     budget
=====================  ===============================================  ===========  ========  ============
``financial-records``  ``/api/v3/account/financial-records``            category     90 days   20/s per UID
``funding-records``    ``/api/v3/account/funding-financial-records``    ``FUNDING``  90 days   10/s [assumed]
``tax-records``        ``/api/v3/tax/records`` (the tax API key)        ``bizType``  366 days  1/s per UID
=====================  ===============================================  ===========  ========  ============

Every stream is time-windowed and cursor-paged: :mod:`cexledger.exchanges._windows` plans
and reads it; this module only declares what differs (the spec, the client method, the
partitions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import FatalAccountError, FatalStreamError, KeyRefusedError
from ...model import LedgerEntry, StreamKey
from .._paging import StreamHalt, StreamHalted
from .._windows import WindowWork, plan_stream, wanted_range
from ..base import DAY_MS, Normalizer, PlanContext, RawPage, StreamSpec
from .client import (
    BITGET_CATEGORIES,
    FINANCIAL_BUDGET,
    FUNDING_BUDGET,
    TAX_BUDGET,
    CLASSIC_ACCOUNT,
    BitgetClient,
    BitgetTaxClient,
)
from .normalize import FUNDING_STREAM, FUNDING_VERSION, STREAM, TAX_STREAM, funding_parse, tax_parse
from .normalize import VERSION as FINANCIAL_VERSION
from .normalize import bitget_parse

if TYPE_CHECKING:
    from ...config import Account

__all__ = ["BITGET", "BitgetConnector", "Endpoint", "FINANCIAL", "FUNDING", "FUNDING_PARTITION", "TAX",
           "TaxKeyCheck"]

FINANCIAL = StreamSpec(
    exchange="bitget", name=STREAM, title="financial records",
    retention_ms=90 * DAY_MS, normalizer=Normalizer(FINANCIAL_VERSION, bitget_parse),
    budget=FINANCIAL_BUDGET, window_ms=30 * DAY_MS,
)
FUNDING = StreamSpec(
    exchange="bitget", name=FUNDING_STREAM, title="funding wallet",
    retention_ms=90 * DAY_MS, normalizer=Normalizer(FUNDING_VERSION, funding_parse),
    budget=FUNDING_BUDGET, window_ms=30 * DAY_MS,
)
FUNDING_PARTITION = "FUNDING"     # the funding wallet has no category: one stream per account
TAX_PAGE_LIMIT = 500
TAX = StreamSpec(
    exchange="bitget", name=TAX_STREAM, title="tax records",
    retention_ms=366 * DAY_MS, normalizer=Normalizer(FINANCIAL_VERSION, tax_parse),
    budget=TAX_BUDGET, window_ms=7 * DAY_MS, requires="a tax API key",
    shadowed_by=FINANCIAL.name,   # the same movements, per category; financial records rule where covered
)


@dataclass(frozen=True)
class Endpoint:
    """One stream's endpoint on one client, as :class:`~cexledger.exchanges._windows.WindowWork`
    reads it (a ``WindowSource``)."""

    spec: StreamSpec
    client: BitgetClient
    fetch: Callable[..., Awaitable[RawPage]]
    page_limit: int

    exchange = "bitget"

    @property
    def budget(self) -> str:
        return self.spec.budget.name

    @property
    def grid_ms(self) -> int:
        assert self.spec.window_ms is not None
        return self.spec.window_ms - 1

    @property
    def retention_ms(self) -> int:
        return self.spec.retention_ms

    @property
    def rate(self) -> float:
        return self.client.limiter(self.spec.budget).rate

    @property
    def round_trip(self) -> float:
        return self.client.stats.round_trip

    async def page(self, partition: str, *, start_ms: int, end_ms: int, cursor: str | None) -> RawPage:
        return await self.fetch(partition, start_ms=start_ms, end_ms=end_ms, cursor=cursor,
                                limit=self.page_limit)


TAX_KEY_META = "tax_key_fingerprint"
TAX_KEY_OTHER_USER = ("the tax API key belongs to another Bitget user than this account's key; "
                      "tax records not synced")


def _same_movement(entry: LedgerEntry) -> tuple:
    """What an entry of a financial record and the same entry of its tax record share, ids
    aside (the tax API may give a movement another id [assumed]): time, coin, type, kind,
    amount, balance (the row's amount and its fee are entries of their own)."""
    return (entry.ts, entry.coin, entry.exchange_type, entry.kind, entry.amount, entry.balance)


@dataclass
class TaxKeyCheck:
    """Whether the tax key reaches the same Bitget user as the account's key.

    Bitget rows name no user, so the proof is the rows themselves. The first time a tax key
    is used for an account (its fingerprint, :func:`~cexledger.identity.key_fingerprint`,
    not in the meta ``tax_key_fingerprint`` of the account's tax-records streams), before
    any tax record is written, one 7-day tax window is read inside the newest archived
    financial-records coverage that holds rows (the first configured category that has
    some) and its rows are compared with the archived financial records of that window by
    time, coin, type, kind, amount and balance:

    - one financial record among the tax rows: the same user; the fingerprint is recorded
      and the tax records are synced;
    - financial records there and none among the tax rows: another user; no tax record is
      written, one line says so (the account's other streams go on);
    - no financial records archived to compare with (a first sync, or a main key on
      probation): the newest financial records are read from the exchange instead, one
      7-day window at a time back through their 90 days, and the tax rows of the time span
      of the first page found are compared with them, the same way;
    - no financial records at all in 90 days: accepted and recorded, with a note.

    Run by the first tax window to fetch, before its own request; the others wait for it
    (a proof that fails decides nothing: the next window tries again)."""

    account: str
    fingerprint: str
    categories: list[str]
    ctx: PlanContext
    financial: Endpoint | None = None      # the account's own key, to read financial records live
    decided: bool = False
    refused: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _key(self, stream: str, category: str) -> StreamKey:
        return StreamKey(self.account, "bitget", stream, category)

    async def needed(self) -> bool:
        for category in self.categories:
            if await self.ctx.get_meta(self._key(TAX.name, category), TAX_KEY_META) == self.fingerprint:
                return False
        return True

    async def verify(self, read: Callable[..., Awaitable[RawPage]], grid_ms: int, halt: StreamHalt) -> bool:
        """True once the key is proven (or accepted); False if it reaches another user.

        A proof that fails (the network, a refused key) decides nothing: that window fails,
        and the next one tries again — unless the tax stream was halted meanwhile (a refused
        key), then it stops quietly (``StreamHalted``)."""
        async with self._lock:
            if halt.reason is not None:
                raise StreamHalted
            if not self.decided:
                self.refused = not await self._decide(read, grid_ms)
                self.decided = True
        return not self.refused

    async def _sample(self, grid_ms: int) -> tuple[str, int, int, set[tuple]] | None:
        """The newest window of at most ``grid_ms`` inside a category's financial coverage
        holding financial records, and those records' movements."""
        reach, _ = wanted_range(self.ctx.now_ms, TAX.retention_ms)     # the tax API serves no older
        for category in self.categories:
            held = self._key(FINANCIAL.name, category)
            for start, end in reversed(await self.ctx.coverage(held)):
                start, end = max(start, reach), min(end, self.ctx.now_ms)
                while end > start:
                    s = max(start, end - grid_ms)
                    found = await self.ctx.entries(held, s, end)
                    if found:
                        return category, s, end, {_same_movement(e) for e in found}
                    end = s
        return await self._live_sample(grid_ms)

    async def _live_sample(self, grid_ms: int) -> tuple[str, int, int, set[tuple]] | None:
        """The newest financial records of a category read from the exchange (one page), as
        ``(category, start, end, movements)`` over the time span of that page."""
        if self.financial is None:
            return None
        edge, _ = wanted_range(self.ctx.now_ms, FINANCIAL.retention_ms)
        for category in self.categories:
            end = self.ctx.now_ms
            while end > edge:
                start = max(edge, end - grid_ms)
                page = await self.financial.page(category, start_ms=start - 1, end_ms=end, cursor=None)
                entries = _entries(FINANCIAL, self.account, category, page.rows)
                if entries:
                    times = [e.ts for e in entries]
                    return category, min(times), max(times) + 1, {_same_movement(e) for e in entries}
                end = start
        return None

    async def _decide(self, read: Callable[..., Awaitable[RawPage]], grid_ms: int) -> bool:
        sample = await self._sample(grid_ms)
        if sample is None:
            self.ctx.note(self.account, "the tax API key was taken as this account's own: no financial "
                                        "records in 90 days to compare its tax records with")
        else:
            category, start, end, movements = sample
            page = await read(category, start_ms=start - 1, end_ms=end, cursor=None, limit=TAX_PAGE_LIMIT)
            if not any(_same_movement(e) in movements for e in _entries(TAX, self.account, category, page.rows)):
                self.ctx.fail(self.account, TAX_KEY_OTHER_USER)
                return False
        for category in self.categories:
            await self.ctx.set_meta(self._key(TAX.name, category), TAX_KEY_META, self.fingerprint)
        return True


def _entries(stream: StreamSpec, account: str, category: str, rows: list[bytes]) -> list:
    """The entries of a page read for the key check (not archived); a row that cannot be
    held stops the tax records like any page's (``FatalStreamError``), never the sync."""
    try:
        records = stream.normalizer.page(account, category, rows)[0]
    except ValueError as exc:
        raise FatalStreamError(str(exc), exchange="bitget", account=account) from None
    return [e for r in records for e in r.entries]


@dataclass
class BitgetClients:
    """The clients of one account's sync: its key's, and its tax key's when configured."""

    main: BitgetClient
    tax: BitgetTaxClient | None = None
    #: Set when the tax key is refused (by the exchange, or as another user's): every
    #: tax-records window stops (one line, not 300); a category's own no-progress halt is
    #: its own, as for every stream.
    tax_refused: StreamHalt = field(default_factory=StreamHalt)
    #: Whether the tax key reaches this account's user, when not yet known (see TaxKeyCheck).
    tax_check: TaxKeyCheck | None = None

    def financial(self) -> Endpoint:
        return Endpoint(FINANCIAL, self.main, self.main.financial_records, 100)

    def funding(self) -> Endpoint:
        async def fetch(_partition: str, **window: Any) -> RawPage:
            return await self.main.funding_records(**window)

        return Endpoint(FUNDING, self.main, fetch, 100)

    def tax_records(self) -> Endpoint:
        """The tax endpoint on the tax key. An account-level refusal of that key (wrong key,
        signature, permission) stops the tax records only, naming the tax key; the account's
        other streams go on. A classic account (40084) stays an account error."""
        tax = self.tax
        assert tax is not None
        refused = self.tax_refused

        async def read(partition: str, **window: Any) -> RawPage:
            try:
                return await tax.tax_records(partition, **window)
            except FatalAccountError as exc:
                if exc.code == CLASSIC_ACCOUNT:
                    raise
                refused.reason = f"tax API key: {exc.reason}"
                raise KeyRefusedError(refused.reason, exchange="bitget", account=tax.account) from None

        endpoint = Endpoint(TAX, tax, read, TAX_PAGE_LIMIT)

        async def fetch(partition: str, **window: Any) -> RawPage:
            if refused.reason is not None:        # said once already: the rest stop quietly
                raise StreamHalted(refused.reason)
            check = self.tax_check
            if check is not None and not await check.verify(read, endpoint.grid_ms, refused):
                refused.reason = TAX_KEY_OTHER_USER       # said once, by the check
                raise StreamHalted
            return await read(partition, **window)

        return Endpoint(TAX, tax, fetch, TAX_PAGE_LIMIT)

    async def aclose(self) -> None:
        await self.main.aclose()
        if self.tax is not None:
            await self.tax.aclose()


class BitgetConnector:
    """Bitget Unified Trading Account, API v3."""

    name = "bitget"
    default_base_url = "https://api.bitget.com"
    streams = {s.name: s for s in (FINANCIAL, FUNDING, TAX)}
    fields = frozenset({"demo", "categories"})
    secrets = ("api_key", "api_secret", "passphrase")
    optional_secrets = ("tax_api_key", "tax_api_secret", "tax_passphrase")   # all or none

    def open(self, account: Account, stats: Any, limiters: Any = None, http: Any = None) -> BitgetClients:
        main = BitgetClient.from_account(account, stats, limiters=limiters, http=http)
        tax = None
        if account.has_tax_key and not account.tax_problem:
            tax = BitgetTaxClient.from_account(account, stats, limiters=limiters, http=http)
        return BitgetClients(main, tax)

    async def plan(self, account: Account, clients: BitgetClients, ctx: PlanContext) -> list[WindowWork]:
        """Every window of every stream the account has configured.

        Tax records are fetched only for time no financial-records stream of the same
        category covers or will cover: outside that stream's archived coverage and outside
        its own reach (the last 90 days, which it fetches itself). So a first sync with a
        tax key archives a year, and a hole financial records left that has since passed
        their 90 days is healed from the tax records. Tax records never read the last 90
        days, where rows may reach the exchange's index late, so their coverage is not
        re-read (no overlap): a later sync asks the tax API nothing."""
        categories = account.categories or BITGET_CATEGORIES
        works = await plan_stream(ctx, account.name, FINANCIAL.name, clients.financial(), categories)
        works += await plan_stream(ctx, account.name, FUNDING.name, clients.funding(), [FUNDING_PARTITION])
        if account.tax_problem:
            ctx.fail(account.name, f"tax records not synced: {account.tax_problem}")
        elif clients.tax is not None:
            from ...identity import key_fingerprint     # identity imports the exchanges: here, not above
            check = TaxKeyCheck(account.name, key_fingerprint("bitget", account.tax_api_key or ""),
                                list(categories), ctx, clients.financial())
            clients.tax_check = check if await check.needed() else None

            async def financial_holds(key: StreamKey) -> list[tuple[int, int]]:
                held = StreamKey(key.account, key.exchange, FINANCIAL.name, key.partition)
                return [*await ctx.coverage(held), wanted_range(ctx.now_ms, FINANCIAL.retention_ms)]

            works += await plan_stream(ctx, account.name, TAX.name, clients.tax_records(), categories,
                                       elsewhere=financial_holds, overlap_ms=0)
        return works

    def unconfigured(self, account: Account) -> list[tuple[StreamSpec, str]]:
        if not account.has_tax_key:
            return [(TAX, f"not configured: add a tax API key to archive {TAX.retention_days} days")]
        if account.tax_problem:
            return [(TAX, f"cannot sync: {account.tax_problem}")]
        return []


BITGET = BitgetConnector()
