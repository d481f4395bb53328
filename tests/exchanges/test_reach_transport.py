"""The transport of issue 9: limiters from a pool per sync run (the lower rate wins), one
``BaseClient`` under both clients, and ``from_account`` building a client from the config."""

from __future__ import annotations

import pytest

from cexledger.config import Account
from cexledger.errors import FatalAccountError
from cexledger.exchanges._limits import RATE_SAFETY, LimiterPool
from cexledger.exchanges._retry import RetryPolicy
from cexledger.exchanges.base import Budget
from cexledger.exchanges.bitget import BitgetClient, BitgetCredentials
from cexledger.exchanges.bitget.client import FUNDING_BUDGET, TAX_BUDGET
from cexledger.exchanges.coinw import CoinwClient, CoinwCredentials

from .conftest import PASSPHRASE, SECRET, Script, bitget_ok, coinw_ok, json_response

API_KEY = "bg-reach-key-0123"


def _bitget(key: str = API_KEY, pool: LimiterPool | None = None, **kwargs) -> BitgetClient:
    return BitgetClient("main", BitgetCredentials(key, SECRET, PASSPHRASE),
                        http=Script(bitget_ok(None)).http(), limiters=pool, **kwargs)


def _coinw(key: str = "cw-reach-key-0123", pool: LimiterPool | None = None, **kwargs) -> CoinwClient:
    return CoinwClient("futures", CoinwCredentials(key, SECRET),
                       http=Script(coinw_ok([])).http(), limiters=pool, **kwargs)


# -- the pool ----------------------------------------------------------------------------------


def test_a_pool_holds_one_limiter_per_exchange_key_and_budget():
    pool = LimiterPool()
    limiter = pool.get("bitget", API_KEY, "financial-records", 19.4)
    assert pool.get("bitget", API_KEY, "financial-records", 19.4) is limiter
    others = [pool.get("bitget", API_KEY, "funding-records", 9.7),
              pool.get("bitget", "another-key", "financial-records", 19.4),
              pool.get("coinw", API_KEY, "financial-records", 19.4)]
    assert len({id(x) for x in [limiter, *others]}) == 4 and len(pool) == 4
    assert API_KEY not in repr(pool) and API_KEY not in repr(limiter)


@pytest.mark.parametrize("rates", [(5.0, 10.0), (10.0, 5.0)], ids=["lower-first", "lower-last"])
def test_the_lower_of_two_rates_wins_in_either_order(rates):
    pool = LimiterPool()
    first = pool.get("bitget", API_KEY, "financial-records", rates[0])
    second = pool.get("bitget", API_KEY, "financial-records", rates[1])
    assert first is second and first.rate == 5.0


@pytest.mark.parametrize("rates", [(2.0, None), (None, 2.0)], ids=["slow-first", "slow-last"])
def test_two_clients_of_one_key_in_one_run_share_the_slower_pace(rates):
    """Two accounts configured with one key and different ``rate_limit``s: one budget, the
    lower pace, whichever client is built first."""
    pool = LimiterPool()
    first, second = (_bitget(pool=pool, rate=rate) for rate in rates)
    assert first._limiter is second._limiter
    assert first.rate == second.rate == 2.0


def test_pools_share_nothing():
    """Two syncs in one process: each run's pool paces only its own clients."""
    one, two = LimiterPool(), LimiterPool()
    a = _bitget(pool=one, rate=2.0)
    b = _bitget(pool=two)
    assert a._limiter is not b._limiter
    assert b.rate == BitgetClient.BUDGET.rate * RATE_SAFETY  # not slowed by the other run
    a._limiter.penalize(60.0)
    assert b._limiter._hold_until < a._limiter._hold_until


def test_different_keys_never_share_a_limiter():
    pool = LimiterPool()
    a, b = _bitget("bg-key-one-000", pool, rate=2.0), _bitget("bg-key-two-000", pool)
    assert a._limiter is not b._limiter and b.rate == BitgetClient.BUDGET.rate * RATE_SAFETY
    assert a.limiter(FUNDING_BUDGET) is not b.limiter(FUNDING_BUDGET)


def test_a_client_without_a_pool_has_a_private_one():
    a, b = _bitget(), _bitget()
    assert a.limiters is not b.limiters and a._limiter is not b._limiter


async def test_a_client_without_a_pool_still_works():
    script = Script(bitget_ok([b'{"id":"1","ts":"1745853486185","amount":"1"}'], cursor=b"null"))
    async with BitgetClient("main", BitgetCredentials(API_KEY, SECRET, PASSPHRASE),
                            http=script.http(), rate=10_000.0) as client:
        page = await client.financial_records("SPOT")
    assert len(page.rows) == 1 and client.stats.requests == 1 and len(client.limiters) == 1


# -- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("configured, expected", [
    (None, 10.0 * RATE_SAFETY),   # the documented rate with the safety margin
    (4.0, 4.0),                   # a configured rate_limit caps it
    (20.0, 10.0 * RATE_SAFETY),   # ... but never raises it
])
def test_a_new_budget_is_one_line_capped_by_the_configured_rate(configured, expected):
    client = _bitget(rate=configured)
    funding = client.limiter(FUNDING_BUDGET)
    assert funding.rate == pytest.approx(expected)
    assert funding is not client._limiter and funding.name == "bitget/funding-records"
    assert client.limiter(FUNDING_BUDGET) is funding


def test_the_main_budget_keeps_the_configured_pace():
    """``rate_limit`` replaces the main budget's default pace, up to the documented rate."""
    client = _bitget(rate=20.0)
    assert client.rate == 20.0
    assert client.limiter(BitgetClient.BUDGET) is client._limiter
    assert client.rate == 20.0


def test_a_second_key_of_one_account_has_budgets_of_its_own():
    """The tax key is another key: its budget never waits on the main key's limiters."""
    pool = LimiterPool()
    main, tax = _bitget(pool=pool), _bitget("bg-tax-key-000", pool)
    assert tax.limiter(TAX_BUDGET) is not main.limiter(TAX_BUDGET)
    assert tax.limiter(TAX_BUDGET).rate == pytest.approx(RATE_SAFETY)


def test_the_coinw_instrument_list_has_its_own_keyless_budget_in_the_pool():
    pool = LimiterPool()
    a, b = _coinw("cw-key-one-000", pool), _coinw("cw-key-two-000", pool, rate=2.0)
    assert a._public_limiter is b._public_limiter is pool.get("coinw", "", "public", 5.0)
    assert a._public_limiter not in (a._limiter, b._limiter)
    assert a._public_limiter.rate == 2.0 and a.rate == CoinwClient.BUDGET.rate * RATE_SAFETY
    assert _coinw()._public_limiter is not a._public_limiter  # another run, another pool


# -- from_account ------------------------------------------------------------------------------


def _account(exchange: str, **fields) -> Account:
    secrets = {"api_key": f"{exchange}-cfg-key-0123", "api_secret": SECRET}
    if exchange == "bitget":
        secrets["passphrase"] = PASSPHRASE
    return Account(name=f"{exchange}-acct", exchange=exchange, **{**secrets, **fields})


@pytest.mark.parametrize("cls", [BitgetClient, CoinwClient], ids=["bitget", "coinw"])
def test_from_account_applies_timeout_rate_and_base_url(cls):
    exchange = cls.EXCHANGE
    pool = LimiterPool()
    account = _account(exchange, base_url=f"http://127.0.0.1:9/{exchange}", rate_limit=2.5,
                       timeout=4.0)
    client = cls.from_account(account, limiters=pool)
    assert client.account == account.name and client.limiters is pool
    assert client._requester.retry == RetryPolicy(timeout=4.0)
    assert client._requester.base_url == account.base_url
    assert client.rate == 2.5
    assert client._limiter is pool.get(exchange, account.api_key, cls.BUDGET.name, 2.5)
    assert client.limiter(Budget("another-budget", 1.0)).rate == pytest.approx(RATE_SAFETY)
    assert client.limiter(Budget("a-fast-budget", 100.0)).rate == 2.5


@pytest.mark.parametrize("cls", [BitgetClient, CoinwClient], ids=["bitget", "coinw"])
def test_from_account_defaults(cls):
    client = cls.from_account(_account(cls.EXCHANGE))
    assert client._requester.retry == RetryPolicy()
    assert client._requester.base_url == cls.BASE_URL
    assert client.rate == cls.BUDGET.rate * RATE_SAFETY
    assert client.stats.requests == 0


def test_from_account_reads_each_exchanges_credentials():
    bitget = BitgetClient.from_account(_account("bitget", demo=True))
    assert bitget._credentials == BitgetCredentials("bitget-cfg-key-0123", SECRET, PASSPHRASE, demo=True)
    assert bitget.server_clock is not None and bitget._auth._clock is bitget.server_clock
    no_passphrase = _account("bitget", passphrase=None)
    assert BitgetClient.from_account(no_passphrase)._credentials.passphrase == ""
    coinw = CoinwClient.from_account(_account("coinw"))
    assert coinw._credentials == CoinwCredentials("coinw-cfg-key-0123", SECRET)
    assert coinw.server_clock is None


@pytest.mark.parametrize("cls, answer", [
    (BitgetClient, '{{"code":"40006","msg":"key {key} secret {secret} pass {passphrase}"}}'),
    (CoinwClient, '{{"code":6000,"msg":"key {key} secret {secret}"}}'),
], ids=["bitget", "coinw"])
async def test_from_account_redacts_every_credential(cls, answer):
    account = _account(cls.EXCHANGE)
    body = answer.format(key=account.api_key, secret=SECRET, passphrase=PASSPHRASE)
    script = Script(json_response(body))
    async with cls.from_account(account, http=script.http()) as client:
        with pytest.raises(FatalAccountError) as info:
            if cls is BitgetClient:
                await client.financial_records("SPOT")
            else:
                await client.deals_history("BTC")
    text = f"{info.value} {info.value.text}"
    assert "***" in text
    for secret in (account.api_key, SECRET, PASSPHRASE):
        assert secret not in text


async def test_from_account_shares_the_engines_http_client_and_stats():
    from cexledger.exchanges._http import RequestStats

    stats = RequestStats()
    script = Script(coinw_ok([]))
    async with script.http() as http:
        async with CoinwClient.from_account(_account("coinw"), stats, http=http) as client:
            await client.deals_history("BTC")
        assert not http.is_closed  # an injected client is the caller's to close
    assert client.stats is stats and stats.requests == 1 and len(script.requests) == 1


@pytest.mark.parametrize("exchange", ["bitget", "coinw"])
def test_from_account_builds_what_open_client_built(exchange):
    """The two ``open_client`` copies become one call: the same client, field for field."""
    account = _account(exchange, base_url="http://127.0.0.1:9", rate_limit=3.0, timeout=7.5)
    retry = RetryPolicy.with_timeout(account.timeout)
    if exchange == "bitget":
        creds = BitgetCredentials(account.api_key, account.api_secret, account.passphrase or "",
                                  demo=account.demo)
        by_hand = BitgetClient(account.name, creds, base_url=account.base_url, retry=retry,
                               rate=account.rate_limit)
        built = BitgetClient.from_account(account)
    else:
        creds = CoinwCredentials(account.api_key, account.api_secret)
        by_hand = CoinwClient(account.name, creds, base_url=account.base_url, retry=retry,
                              rate=account.rate_limit)
        built = CoinwClient.from_account(account)
    for client in (by_hand, built):
        assert client._credentials == creds
    fields = ("exchange", "account", "base_url", "codes", "retry", "_secrets")
    assert ([getattr(built._requester, f) for f in fields]
            == [getattr(by_hand._requester, f) for f in fields])
    assert built.rate == by_hand.rate == 3.0
    assert sorted(built._requester._secrets) == sorted(
        s for s in (account.api_key, SECRET, account.passphrase) if s)
