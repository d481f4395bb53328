"""One place classifies outcomes: codes, HTTP statuses, transport failures, retries."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from cexledger.errors import FatalAccountError, FatalStreamError, RetriableError
from cexledger.exchanges._limits import LimiterPool
from cexledger.exchanges._retry import FIRST_CONNECT_ATTEMPTS, RATE_LIMIT_PENALTY_SLOTS, RetryPolicy
from cexledger.exchanges.bitget import BitgetClient, BitgetCredentials
from cexledger.exchanges.bitget.streams import FINANCIAL
from cexledger.exchanges.coinw import CoinwClient, CoinwCredentials

from .conftest import PASSPHRASE, SECRET, Script, bitget_ok, coinw_ok, json_response, normalized

ROW = b'{"id":"1","ts":"1745853486185","amount":"1"}'
BITGET_ACCOUNT = ["40001", "40002", "40003", "40005", "40006",
                  "40009", "40011", "40012", "40014", "40018"]  # fmt: skip
BITGET_STREAM = ["00001", "40017", "40704", "40705", "99999", "12345"]
COINW_ACCOUNT = [6000, 6001, 6003]
COINW_STREAM = [402, 7777]


def bitget_error(code: str | int, status: int = 200, key: str = "msg", text: str = "refused") -> httpx.Response:
    code_json = f'"{code}"' if isinstance(code, str) else str(code)
    return json_response(f'{{"code":{code_json},"{key}":"{text}","requestTime":1,"data":null}}', status)


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("code", BITGET_ACCOUNT + [int(c) for c in BITGET_ACCOUNT[:2]])
async def test_bitget_account_codes(make_bitget, code, status):
    script = Script(bitget_error(code, status))
    client = make_bitget(script)
    with pytest.raises(FatalAccountError) as info:
        await client.financial_records("SPOT")
    exc = info.value
    assert exc.code == str(code) and exc.account == "main" and exc.exchange == "bitget"
    assert exc.status == status and exc.path == "/api/v3/account/financial-records"
    assert "'main'" in str(exc) and str(code) in str(exc) and "refused" in str(exc)
    assert len(script.requests) == 1  # never retried
    assert client.stats.failures == 1


async def test_bitget_40008_hints_at_the_clock(make_bitget):
    # without the server's time in the answer the offset cannot be learned: the account stops
    body = '{"code":"40008","msg":"Request timestamp expired","data":null}'
    script = Script(json_response(body, 400))
    with pytest.raises(FatalAccountError, match="clock"):
        await make_bitget(script).financial_records("SPOT")
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("code", BITGET_STREAM)
async def test_bitget_stream_codes(make_bitget, code, status):
    script = Script(bitget_error(code, status, key="message"))
    with pytest.raises(FatalStreamError) as info:
        await make_bitget(script).financial_records("SPOT")
    assert info.value.code == code
    assert info.value.text == "refused"  # from "message" as well as "msg"
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [200, 429])
@pytest.mark.parametrize("code", ["429", 429, "25004"])
async def test_bitget_rate_limit_codes_retry_and_penalize(make_bitget, monkeypatch, code, status):
    script = Script(bitget_error(code, status), bitget_ok([ROW], b"null"))
    client = make_bitget(script, retry=RetryPolicy(attempts=4, base=0.0, cap=0.5))
    penalties: list[float] = []
    monkeypatch.setattr(client._limiter, "penalize", penalties.append)
    page = await client.financial_records("SPOT")
    assert len(page.rows) == 1
    assert penalties == [pytest.approx(RATE_LIMIT_PENALTY_SLOTS / client._limiter.rate)]
    counts = client.stats.as_dict()
    assert counts.pop("round_trip") > 0
    assert counts == {"requests": 2, "retries": 1, "rate_limited": 1, "failures": 0}


async def test_retry_after_sets_the_penalty(make_bitget, monkeypatch):
    script = Script(json_response("Too Many Requests", 429, **{"Retry-After": "0.2"}), bitget_ok(None))
    client = make_bitget(script, retry=RetryPolicy(attempts=3, base=0.0, cap=5.0))
    penalties: list[float] = []
    monkeypatch.setattr(client._limiter, "penalize", penalties.append)
    await client.financial_records("SPOT")
    assert penalties == [0.2]


TRANSIENT = {
    "http-429": json_response("<html>slow down</html>", 429),
    "http-500": json_response('{"code":"50000","msg":"system error"}', 500),
    "http-502": json_response("<html>Bad Gateway</html>", 502),
    "http-503-empty": json_response(b"", 503),
    "truncated": json_response(b'{"code":"00000","msg":"success","data":{"list":[{"id":"1"'),
    "not-json": json_response(b"<html>maintenance</html>"),
    "no-code": json_response(b'{"msg":"success","data":{"list":[]}}'),
    "bad-shape": json_response(b'{"code":"00000","data":{"list":{"id":"1"}}}'),
    "timeout": httpx.ReadTimeout("timed out"),
    "dropped": httpx.RemoteProtocolError("Server disconnected without sending a response."),
    "reset": httpx.ReadError("[Errno 104] Connection reset by peer"),
}


@pytest.mark.parametrize("failure", list(TRANSIENT.values()), ids=list(TRANSIENT))
async def test_transient_failures_are_retried_then_succeed(make_bitget, failure):
    script = Script(failure, failure, bitget_ok([ROW], b"null"))
    client = make_bitget(script)
    page = await client.financial_records("SPOT")
    records, _ = normalized(page, FINANCIAL, "SPOT")
    assert [r.record_id for r in records] == ["1"]
    assert len(script.requests) == 3
    assert client.stats.retries == 2 and client.stats.failures == 0


@pytest.mark.parametrize("failure", list(TRANSIENT.values()), ids=list(TRANSIENT))
async def test_exhausted_attempts_give_fatal_stream_error(make_bitget, failure):
    script = Script(failure)
    client = make_bitget(script, retry=RetryPolicy(attempts=3, base=0.0, cap=0.0))
    with pytest.raises(FatalStreamError, match="gave up after 3 attempts") as info:
        await client.financial_records("SPOT")
    assert isinstance(info.value.__cause__, RetriableError)
    assert len(script.requests) == 3
    assert client.stats.as_dict()["failures"] == 1


async def test_unreachable_host_on_first_request_retries_only_a_few_times(make_bitget):
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"))
    client = make_bitget(script, retry=RetryPolicy(attempts=8, base=0.0, cap=0.0))
    with pytest.raises(FatalStreamError, match="cannot connect"):
        await client.financial_records("SPOT")
    assert len(script.requests) == FIRST_CONNECT_ATTEMPTS < 8


async def test_connection_refused_after_success_gets_every_attempt(make_bitget):
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    script = Script(bitget_ok(None), *[refused] * 5, bitget_ok([ROW], b"null"))
    client = make_bitget(script, retry=RetryPolicy(attempts=8, base=0.0, cap=0.0))
    await client.financial_records("SPOT")
    page = await client.financial_records("SPOT")
    assert len(page.rows) == 1 and len(script.requests) == 7


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (json_response("Unauthorized", 401), FatalAccountError),
        (json_response("Forbidden", 403), FatalAccountError),
        (json_response("Not Found", 404), FatalStreamError),
        (json_response('{"code":"00000","msg":"success","data":null}', 400), FatalStreamError),
    ],
)
async def test_http_statuses_without_a_known_code(make_bitget, response, error):
    script = Script(response)
    with pytest.raises(error):
        await make_bitget(script).financial_records("SPOT")
    assert len(script.requests) == 1


async def test_errors_never_contain_secrets(make_bitget):
    echo = f"signature error for secret {SECRET} passphrase {PASSPHRASE}"
    client = make_bitget(Script(bitget_error("40009", 400, text=echo)))
    with pytest.raises(FatalAccountError) as info:
        await client.financial_records("SPOT")
    exc = info.value
    for text in (str(exc), repr(exc), exc.text or "", str(exc.args)):
        assert SECRET not in text and PASSPHRASE not in text
        assert "ACCESS-SIGN" not in text
    assert "40009" in str(exc) and "'main'" in str(exc)


def _echo_key(header: str, code: str, status: int = 400) -> Callable[[httpx.Request], httpx.Response]:
    """A server that echoes the API key it received (as some exchanges do) in its error."""

    def answer(request: httpx.Request) -> httpx.Response:
        key = request.headers[header]
        return json_response(f'{{"code":"{code}","msg":"apikey {key} does not exist"}}', status)

    return answer


async def test_bitget_error_never_contains_the_api_key(make_bitget):
    script = Script(_echo_key("ACCESS-KEY", "40006"))
    client = make_bitget(script)
    with pytest.raises(FatalAccountError) as info:
        await client.financial_records("SPOT")
    key = script.requests[0].headers["ACCESS-KEY"]
    exc = info.value
    for text in (str(exc), repr(exc), exc.text or ""):
        assert key not in text
    assert "apikey *** does not exist" in str(exc)


async def test_coinw_error_never_contains_the_api_key(make_coinw):
    script = Script(_echo_key("api_key", "6000"))
    with pytest.raises(FatalAccountError) as info:
        await make_coinw(script).deals_history("BTC")
    key = script.requests[0].headers["api_key"]
    assert key not in str(info.value) and key not in repr(info.value)
    assert "apikey *** does not exist" in str(info.value)


async def test_short_credentials_are_not_scrubbed_from_words():
    """Redacting a 1-character secret would turn "request" into "reque***t"."""
    script = Script(bitget_error("40009", 400, text="request signature invalid"))
    creds = BitgetCredentials("k", "s", "e")
    client = BitgetClient("main", creds, base_url="https://bitget.test", http=script.http(),
                          retry=RetryPolicy(attempts=1), rate=10_000.0)
    with pytest.raises(FatalAccountError) as info:
        await client.financial_records("SPOT")
    assert info.value.text == "request signature invalid"
    assert "request signature invalid" in str(info.value)


async def test_gave_up_error_keeps_no_secret(make_bitget):
    script = Script(json_response(f'{{"code":"429","msg":"slow {SECRET}"}}', 429))
    with pytest.raises(FatalStreamError) as info:
        await make_bitget(script).financial_records("SPOT")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


# --- CoinW -----------------------------------------------------------------------------


def coinw_error(code: int | str, status: int = 200, body: str | None = None) -> httpx.Response:
    code_json = f'"{code}"' if isinstance(code, str) else str(code)
    return json_response(body or f'{{"code":{code_json},"msg":"denied"}}', status)


@pytest.mark.parametrize("status", [200, 401])
@pytest.mark.parametrize("code", COINW_ACCOUNT + ["6001"])
async def test_coinw_account_codes(make_coinw, code, status):
    script = Script(coinw_error(code, status))
    with pytest.raises(FatalAccountError) as info:
        await make_coinw(script).deals_history("BTC")
    assert info.value.code == str(code)
    assert "'futures'" in str(info.value) and str(code) in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("code", COINW_STREAM)
async def test_coinw_stream_codes(make_coinw, code, status):
    script = Script(coinw_error(code, status))
    with pytest.raises(FatalStreamError):
        await make_coinw(script).deals_history("BTC")
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "limited",
    [
        coinw_error(29001, 200),
        coinw_error("29001", 429),
        coinw_error(0, 429, '{"code":29001,"message":"API access frequently","retry":true,"success":false}'),
        coinw_error(0, 200, '{"code":"29001","message":"API access frequently","retry":true,"success":false}'),
    ],
)
async def test_coinw_rate_limit_retries(make_coinw, limited):
    script = Script(limited, coinw_ok([]))
    client = make_coinw(script)
    page = await client.deals_history("BTC")
    assert len(page.rows) == 0
    assert client.stats.rate_limited == 1 and client.stats.retries == 1


async def test_coinw_string_success_code(make_coinw):
    script = Script(json_response('{"code":"0","data":{"rows":[]},"msg":""}'))
    assert (await make_coinw(script).deals_history("ETH")).rows == []


def test_one_limiter_per_key_and_budget():
    creds = BitgetCredentials("shared-key-for-limiter-test", SECRET, PASSPHRASE)
    pool = LimiterPool()
    first = BitgetClient("a", creds, http=Script(bitget_ok(None)).http(), limiters=pool)
    second = BitgetClient("a-again", creds, http=Script(bitget_ok(None)).http(), limiters=pool)
    assert first._limiter is second._limiter  # every stream of a key shares one budget
    assert first._limiter.rate == BitgetClient.BUDGET.rate * 0.97
    assert first._limiter is pool.get("bitget", creds.api_key, "financial-records", 19.4)
    assert pool.get("bitget", creds.api_key, "fills", 19.0) is not first._limiter
    assert pool.get("bitget", "other-key", "financial-records", 19.0) is not first._limiter
    coinw = CoinwClient("c", CoinwCredentials(creds.api_key, SECRET), http=Script(coinw_ok([])).http(),
                        limiters=pool)
    assert coinw._limiter is not first._limiter
    assert coinw._limiter.rate == CoinwClient.BUDGET.rate * 0.97
