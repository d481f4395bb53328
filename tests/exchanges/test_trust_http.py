"""The shared HTTP machinery: total deadline, Retry-After in full, the server's clock (issue 8,
items 13, 14 and 17)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cexledger.errors import FatalAccountError, FatalStreamError
from cexledger.exchanges._retry import (
    FIRST_CONNECT_ATTEMPTS,
    MAX_RETRY_AFTER,
    RetryPolicy,
    parse_retry_after,
)
from cexledger.exchanges._server_clock import ServerClock

from .conftest import Script, bitget_ok, coinw_ok, json_response

ROW = b'{"id":"1","ts":"1745853486185","amount":"1"}'
NO_JITTER = RetryPolicy(attempts=3, base=0.0, cap=8.0, timeout=5.0)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- 14: Retry-After ---------------------------------------------------------------------------


def test_parse_retry_after_reads_seconds_and_http_dates():
    now = 1_445_412_470.0  # Wed, 21 Oct 2015 07:27:50 GMT
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after(" 3.5 ", now) == 3.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0.0  # already past
    for unreadable in ("-1", "soon", "", "nan", "inf"):
        assert parse_retry_after(unreadable, now) is None


@pytest.mark.parametrize("status, body", [
    (429, '{"code":"429","msg":"Too Many Requests","data":null}'),
    (503, "<html>maintenance</html>"),
])
async def test_retry_after_holds_the_limiter_back_in_full(make_bitget, monkeypatch, status, body):
    # the old code waited min(Retry-After, backoff cap): 8 s of the 12 asked for
    script = Script(json_response(body, status, **{"Retry-After": "12"}), bitget_ok([ROW], b"null"))
    client = make_bitget(script, retry=NO_JITTER)
    penalties: list[float] = []
    monkeypatch.setattr(client._limiter, "penalize", penalties.append)
    page = await client.financial_records("SPOT")
    assert len(page.rows) == 1 and len(script.requests) == 2
    assert penalties == [12.0]


async def test_retry_after_as_an_http_date(make_coinw, monkeypatch):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    limited = json_response(b'{"code":29001,"msg":"API access frequently","data":null}', 429,
                            **{"Retry-After": when})
    script = Script(limited, coinw_ok([], b"0"))
    client = make_coinw(script, retry=NO_JITTER)
    penalties: list[float] = []
    monkeypatch.setattr(client._limiter, "penalize", penalties.append)
    await client.deals_history("BTC", page=1)
    assert len(penalties) == 1 and 28.0 < penalties[0] <= 30.0


async def test_retry_after_above_the_maximum_stops_the_stream(make_bitget, monkeypatch):
    script = Script(json_response("Too Many Requests", 429, **{"Retry-After": "600"}), bitget_ok(None))
    client = make_bitget(script, retry=NO_JITTER)
    penalties: list[float] = []
    monkeypatch.setattr(client._limiter, "penalize", penalties.append)
    with pytest.raises(FatalStreamError) as info:
        await client.financial_records("SPOT")
    assert (f"the exchange asked to wait 600 s (more than {MAX_RETRY_AFTER:.0f} s): stopped; "
            "run again later") in str(info.value)
    assert len(script.requests) == 1 and penalties == []
    assert client.stats.failures == 1


async def test_retry_after_holds_the_keys_limiter_for_every_stream(make_bitget):
    """The hold is the shared limiter's: any stream's next request of the key waits for it."""
    script = Script(json_response("Too Many Requests", 429, **{"Retry-After": "30"}))
    client = make_bitget(script, retry=RetryPolicy(attempts=1, base=0.0, cap=0.0))
    with pytest.raises(FatalStreamError, match="gave up after 1 attempts"):
        await client.financial_records("SPOT")
    assert client._limiter._hold_until - time.monotonic() > 25.0


# -- 13: one deadline per attempt --------------------------------------------------------------


class _Trickle(httpx.AsyncByteStream):
    def __init__(self, body: bytes, pause: float) -> None:
        self.body, self.pause = body, pause

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(len(self.body)):
            await asyncio.sleep(self.pause)
            yield self.body[i:i + 1]


class _TrickleTransport(httpx.AsyncBaseTransport):
    """Every answer is a valid page, one byte at a time: no single read is ever slow."""

    def __init__(self, body: bytes, pause: float) -> None:
        self.body, self.pause, self.requests = body, pause, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(200, headers={"content-length": str(len(self.body))},
                              stream=_Trickle(self.body, self.pause))


@pytest.mark.parametrize("reached", [False, True])
async def test_a_trickling_answer_times_out_as_a_whole(reached):
    from cexledger.exchanges.bitget import BitgetClient, BitgetCredentials

    body = b'{"code":"00000","msg":"success","requestTime":1,"data":{"list":null}}'
    transport = _TrickleTransport(body, 0.05)  # ~3.5 s per answer, each read 50 ms
    async with httpx.AsyncClient(transport=transport) as http:
        client = BitgetClient("main", BitgetCredentials("bg-trickle", "s", "p"),
                              base_url="https://bitget.test", http=http, rate=10_000.0,
                              retry=RetryPolicy(attempts=4, base=0.0, cap=0.0, timeout=0.3))
        client._requester._reached = reached
        with pytest.raises(FatalStreamError, match=r"timed out \(no complete answer within 0.3 s\)"):
            await client.financial_records("SPOT")
    # a client that never had an answer gives up as soon as on an unreachable host
    assert transport.requests == (4 if reached else FIRST_CONNECT_ATTEMPTS)


# -- 17: the server's clock --------------------------------------------------------------------


def test_server_clock_takes_the_midpoint_of_the_round_trip():
    clock = ServerClock()
    assert clock.offset_ms == 0
    clock.observe(server_ms=10_500, sent_ms=1_000, received_ms=1_200)
    assert clock.offset_ms == 10_500 - 1_100


@pytest.mark.parametrize("form", ["number", "string"])
async def test_bitget_signs_with_the_servers_clock(make_bitget, form):
    ahead = _now_ms() + 45_000
    stamp = str(ahead) if form == "number" else f'"{ahead}"'
    first = json_response('{"code":"00000","msg":"success","requestTime":%s,"data":null}' % stamp)
    script = Script(first, bitget_ok(None))
    client = make_bitget(script)
    await client.financial_records("SPOT")
    assert abs(client.server_clock.offset_ms - 45_000) < 10_000
    await client.financial_records("SPOT")
    signed = int(script.requests[1].headers["ACCESS-TIMESTAMP"])
    assert abs(signed - (_now_ms() + 45_000)) < 10_000  # the server's time, not this machine's


async def test_bitget_40008_learns_the_offset_and_retries(make_bitget):
    behind = _now_ms() - 45_000
    expired = json_response(
        '{"code":"40008","msg":"Request timestamp expired","requestTime":%d,"data":null}' % behind, 400)
    script = Script(expired, bitget_ok([ROW], b"null"))
    client = make_bitget(script)
    page = await client.financial_records("SPOT")
    assert len(page.rows) == 1 and len(script.requests) == 2
    first, retried = (int(r.headers["ACCESS-TIMESTAMP"]) for r in script.requests)
    assert 35_000 < first - retried < 55_000
    assert client.stats.retries == 1 and client.stats.failures == 0


async def test_bitget_40008_under_the_corrected_clock_stops_the_account(make_bitget):
    """Refused again although signed with the server's clock: the clock is not the cause, so
    no more signed refusals are sent (a key that keeps being refused risks a ban)."""
    behind = _now_ms() - 45_000

    def expired() -> object:
        return json_response('{"code":"40008","msg":"Request timestamp expired","requestTime":%d,'
                             '"data":null}' % behind, 400)

    script = Script(expired(), expired(), expired(), expired())
    with pytest.raises(FatalAccountError, match="clock"):
        await make_bitget(script).financial_records("SPOT")
    assert len(script.requests) == 2


async def test_bitget_40008_with_an_unreadable_server_time_stops_the_account(make_bitget):
    expired = json_response('{"code":"40008","msg":"expired","requestTime":"soon","data":null}', 400)
    script = Script(expired)
    with pytest.raises(FatalAccountError, match="clock"):
        await make_bitget(script).financial_records("SPOT")
    assert len(script.requests) == 1
