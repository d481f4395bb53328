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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import FatalAccountError, FatalStreamError
from ...model import StreamKey
from .._paging import StreamHalt
from .._windows import WindowWork, plan_stream, wanted_range
from ..base import DAY_MS, Normalizer, PlanContext, RawPage, StreamSpec
from .client import (
    BITGET_CATEGORIES,
    FINANCIAL_BUDGET,
    FUNDING_BUDGET,
    TAX_BUDGET,
    BitgetClient,
    BitgetTaxClient,
)
from .normalize import FUNDING_STREAM, FUNDING_VERSION, STREAM, TAX_STREAM, funding_parse, tax_parse
from .normalize import VERSION as FINANCIAL_VERSION
from .normalize import bitget_parse

if TYPE_CHECKING:
    from ...config import Account

__all__ = ["BITGET", "BitgetConnector", "Endpoint", "FINANCIAL", "FUNDING", "FUNDING_PARTITION", "TAX"]

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
CLASSIC_ACCOUNT = "40084"         # a classic (non-UTA) account: every UTA endpoint refuses it
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


@dataclass
class BitgetClients:
    """The clients of one account's sync: its key's, and its tax key's when configured."""

    main: BitgetClient
    tax: BitgetTaxClient | None = None
    #: Set when the tax key is refused: every tax-records window stops (one line, not 300).
    tax_halt: StreamHalt = field(default_factory=StreamHalt)

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
        halt = self.tax_halt

        async def fetch(partition: str, **window: Any) -> RawPage:
            try:
                return await tax.tax_records(partition, **window)
            except FatalAccountError as exc:
                if exc.code == CLASSIC_ACCOUNT:
                    raise
                halt.reason = f"tax API key: {exc.reason}"
                raise FatalStreamError(halt.reason, exchange="bitget", account=tax.account) from None

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
        their 90 days is healed from the tax records."""
        categories = account.categories or BITGET_CATEGORIES
        works = await plan_stream(ctx, account.name, FINANCIAL.name, clients.financial(), categories)
        works += await plan_stream(ctx, account.name, FUNDING.name, clients.funding(), [FUNDING_PARTITION])
        if account.tax_problem:
            ctx.fail(account.name, f"tax records not synced: {account.tax_problem}")
        elif clients.tax is not None:
            async def financial_holds(key: StreamKey) -> list[tuple[int, int]]:
                held = StreamKey(key.account, key.exchange, FINANCIAL.name, key.partition)
                return [*await ctx.coverage(held), wanted_range(ctx.now_ms, FINANCIAL.retention_ms)]

            works += await plan_stream(ctx, account.name, TAX.name, clients.tax_records(), categories,
                                       elsewhere=financial_holds, halt=clients.tax_halt)
        return works

    def unconfigured(self, account: Account) -> list[tuple[StreamSpec, str]]:
        if not account.has_tax_key:
            return [(TAX, f"add a tax API key to archive {TAX.retention_days} days")]
        return []


BITGET = BitgetConnector()
