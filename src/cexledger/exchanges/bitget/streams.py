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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._windows import WindowWork, plan_stream
from ..base import DAY_MS, Normalizer, PlanContext, RawPage, StreamSpec
from .client import (
    BITGET_CATEGORIES,
    FINANCIAL_BUDGET,
    FUNDING_BUDGET,
    TAX_BUDGET,
    BitgetClient,
    BitgetCredentials,
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
    """The clients of one account's sync (one per key)."""

    main: BitgetClient

    def financial(self) -> Endpoint:
        return Endpoint(FINANCIAL, self.main, self.main.financial_records, 100)

    def funding(self) -> Endpoint:
        async def fetch(_partition: str, **window: Any) -> RawPage:
            return await self.main.funding_records(**window)

        return Endpoint(FUNDING, self.main, fetch, 100)

    async def aclose(self) -> None:
        await self.main.aclose()


class BitgetConnector:
    """Bitget Unified Trading Account, API v3."""

    name = "bitget"
    default_base_url = "https://api.bitget.com"
    streams = {s.name: s for s in (FINANCIAL, FUNDING, TAX)}
    fields = frozenset({"demo", "categories"})
    secrets = ("api_key", "api_secret", "passphrase")
    optional_secrets = ("tax_api_key", "tax_api_secret", "tax_passphrase")   # all or none

    def open(self, account: Account, stats: Any, limiters: Any = None, http: Any = None) -> BitgetClients:
        from .._http import RetryPolicy

        creds = BitgetCredentials(api_key=account.api_key, api_secret=account.api_secret,
                                  passphrase=account.passphrase or "", demo=account.demo)
        main = BitgetClient(account.name, creds, base_url=account.base_url, http=http, stats=stats,
                            retry=RetryPolicy.with_timeout(account.timeout), rate=account.rate_limit)
        return BitgetClients(main)

    async def plan(self, account: Account, clients: BitgetClients, ctx: PlanContext) -> list[WindowWork]:
        """Every window of every stream the account has configured."""
        categories = account.categories or BITGET_CATEGORIES
        works = await plan_stream(ctx, account.name, FINANCIAL.name, clients.financial(), categories)
        works += await plan_stream(ctx, account.name, FUNDING.name, clients.funding(), [FUNDING_PARTITION])
        return works

    def unconfigured(self, account: Account) -> list[tuple[StreamSpec, str]]:
        if not getattr(account, "has_tax_key", False):
            return [(TAX, f"add a tax API key to archive {TAX.retention_days} days")]
        return []


BITGET = BitgetConnector()
