"""What every exchange client shares: its account, stats, :class:`Requester` and limiters.

A client is built for one API key of one account. A subclass supplies only its constants
-- ``EXCHANGE``, ``BUDGET`` (its main endpoint's rate-limit :class:`~cexledger.exchanges.base.Budget`:
name and documented requests per second), ``CODES``, ``BASE_URL``, ``SERVER_CLOCK`` (whether it signs
with the exchange's clock) -- how it signs (``_make_auth``) and how it reads its credentials
from a configured account (``credentials``); :meth:`BaseClient.from_account` does the rest.

Rate of a budget:

- the main budget (``BUDGET``) runs at ``rate`` when one is given (an account's
  ``rate_limit``: it replaces the default pace; the config refuses one above the exchange's
  highest documented rate), else at ``BUDGET.rate * RATE_SAFETY``;
- any other budget (:meth:`BaseClient.limiter`) runs at its documented rate times
  ``RATE_SAFETY``, never above a given ``rate`` (which then is a cap).

Limiters come from the :class:`LimiterPool` passed in (the engine's, one per sync run, where
clients of one key share them and the lower of two rates wins); without one, the client has
a private pool of its own. Every string of the credentials is a secret: redacted from any
exchange text kept in an error.
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import httpx

from ._classify import ErrorCodes
from ._http import Requester, RequestStats
from ._limits import RATE_SAFETY, LimiterPool, RateLimiter
from ._retry import RetryPolicy
from ._server_clock import ServerClock
from .base import Budget

if TYPE_CHECKING:
    from typing import Self

    from ..config import Account

__all__ = ["BaseClient", "Credentials"]


class Credentials(Protocol):
    """An exchange's API key (a frozen dataclass): its ``api_key`` names its limiters."""

    api_key: str


C = TypeVar("C", bound=Credentials)


class BaseClient(Generic[C]):
    """One account's client of one exchange: requests through one :class:`Requester`."""

    EXCHANGE: ClassVar[str]
    BUDGET: ClassVar[Budget]
    CODES: ClassVar[ErrorCodes]
    BASE_URL: ClassVar[str]
    SERVER_CLOCK: ClassVar[bool] = False

    def __init__(
        self,
        account: str,
        credentials: C,
        *,
        base_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        stats: RequestStats | None = None,
        retry: RetryPolicy = RetryPolicy(),
        rate: float | None = None,
        limiters: LimiterPool | None = None,
    ) -> None:
        self.account = account
        self.stats = stats if stats is not None else RequestStats()
        self.limiters = limiters if limiters is not None else LimiterPool()
        self.server_clock = ServerClock() if self.SERVER_CLOCK else None
        self._credentials = credentials
        self._rate_cap = rate
        self._auth = self._make_auth(credentials)
        self._limiter = self.limiters.get(
            self.EXCHANGE,
            credentials.api_key,
            self.BUDGET.name,
            rate if rate is not None else self.BUDGET.rate * RATE_SAFETY,
        )
        self._requester = Requester(
            exchange=self.EXCHANGE,
            account=account,
            base_url=base_url or self.BASE_URL,
            codes=self.CODES,
            http=http,
            stats=self.stats,
            retry=retry,
            secrets=_strings(credentials),
            server_clock=self.server_clock,
        )

    @classmethod
    def from_account(
        cls,
        account: Account,
        stats: RequestStats | None = None,
        *,
        limiters: LimiterPool | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> Self:
        """A client for one configured account: its ``timeout`` sets each attempt's deadline,
        its ``rate_limit`` the pace (see the module), its ``base_url`` (if any) the host."""
        return cls(
            account.name,
            cls.credentials(account),
            base_url=account.base_url or None,
            http=http,
            stats=stats,
            retry=RetryPolicy.with_timeout(account.timeout),
            rate=account.rate_limit,
            limiters=limiters,
        )

    @classmethod
    def credentials(cls, account: Account) -> C:
        """This exchange's credentials, read from a configured account."""
        raise NotImplementedError

    def _make_auth(self, credentials: C) -> httpx.Auth:
        """The ``httpx.Auth`` that signs this client's requests (``self.server_clock`` is set)."""
        raise NotImplementedError

    @property
    def rate(self) -> float:
        """Requests per second this client's key may make on its main budget."""
        return self._limiter.rate

    def limiter(self, budget: Budget) -> RateLimiter:
        """The limiter of this key's ``budget``: its documented rate times ``RATE_SAFETY``,
        never above the client's ``rate`` when one was given. The main budget's limiter is
        the one built with the client."""
        if budget is self.BUDGET:
            return self._limiter
        rate = budget.rate * RATE_SAFETY
        if self._rate_cap is not None:
            rate = min(rate, self._rate_cap)
        return self.limiters.get(self.EXCHANGE, self._credentials.api_key, budget.name, rate)

    async def aclose(self) -> None:
        await self._requester.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _strings(credentials: Any) -> tuple[str, ...]:
    """Every string field of a credentials dataclass (each one is a secret)."""
    values = (getattr(credentials, f.name) for f in dataclasses.fields(credentials))
    return tuple(v for v in values if isinstance(v, str))
