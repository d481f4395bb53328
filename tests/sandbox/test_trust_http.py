"""The sandbox's skewed clock, injected answers and request log (issue 8, items 13, 14, 17)."""

from __future__ import annotations

import email.utils

import pytest

from cexledger import _json

from .support import now_ms

Q = "category=SPOT&limit=5"


@pytest.mark.parametrize("offset", [45_000, -45_000])
def test_a_skewed_server_checks_timestamps_against_its_own_clock(make_sandbox, offset):
    sandbox = make_sandbox(records=50, rate_limit=False, clock_offset_ms=offset)
    refused = sandbox.bitget(Q)  # signed with this machine's clock: 45 s off the server's
    body = _json.loads(refused.content)
    assert body["code"] == "40008"
    assert abs(body["requestTime"] - (now_ms() + offset)) < 10_000  # the server's own time
    server_time = now_ms() + offset
    headers = sandbox.bitget_headers(Q, ts=server_time)
    accepted = sandbox.http.get(f"/api/v3/account/financial-records?{Q}", headers=headers)
    assert _json.loads(accepted.content)["code"] == "00000"
    # CoinW checks the same clock
    coinw = _json.loads(sandbox.coinw("instrument=BTC&page=1&pageSize=5").content)
    assert coinw["code"] == 6000


def test_injected_rate_limit_answers_carry_retry_after_and_are_logged(make_sandbox):
    sandbox = make_sandbox(records=50, rate_limit=False)
    queued = sandbox.http.post("/_sandbox/inject", json={
        "exchange": "bitget", "account": "bitget-1", "kind": "rate_limited", "retry_after": 12,
        "count": 1}).json()
    assert queued == {"queued": 1}
    sandbox.http.post("/_sandbox/inject", json={
        "exchange": "bitget", "account": "bitget-1", "kind": "rate_limited", "retry_after": 7,
        "http_date": True})
    first, second, third = (sandbox.bitget(Q) for _ in range(3))
    assert first.status_code == 429 and first.headers["Retry-After"] == "12"
    when = email.utils.parsedate_to_datetime(second.headers["Retry-After"]).timestamp()
    assert 7 < when - now_ms() / 1000 <= 8.5
    assert third.status_code == 200 and "Retry-After" not in third.headers

    log = sandbox.http.get("/_sandbox/requests",
                           params={"exchange": "bitget", "account": "bitget-1"}).json()["requests"]
    assert [e["kind"] for e in log] == ["rate_limited", "rate_limited", None]
    assert [e["status"] for e in log] == ["429", "429", "200"]
    assert all(e["query"] == Q and e["answered"] >= e["arrived"] for e in log)
    assert sandbox.http.get("/_sandbox/requests",
                            params={"exchange": "coinw", "account": "coinw-1"}).json() == {"requests": []}


def test_a_trickled_answer_is_the_real_answer_byte_by_byte(make_sandbox):
    sandbox = make_sandbox(records=50, rate_limit=False, trickle_s=0.001)
    plain = sandbox.bitget(Q)
    sandbox.http.post("/_sandbox/inject", json={"exchange": "bitget", "account": "bitget-1",
                                                "kind": "trickle"})
    trickled = sandbox.bitget(Q)
    strip = lambda r: {k: v for k, v in _json.loads(r.content).items() if k != "requestTime"}  # noqa: E731
    assert trickled.status_code == 200 and strip(trickled) == strip(plain)


@pytest.mark.parametrize("payload, status", [
    ({"exchange": "bitget", "account": "bitget-1", "kind": "explode"}, 400),
    ({"exchange": "bitget", "account": "bitget-1", "kind": "rate_limited", "retry_after": -1}, 400),
    ({"exchange": "bitget", "account": "bitget-1", "kind": "rate_limited", "retry_after": "soon"}, 400),
    ({"exchange": "coinw", "account": "bitget-1", "kind": "trickle"}, 404),
    ({"exchange": "bitget", "account": "nobody", "kind": "trickle"}, 404),
])
def test_bad_injections_are_refused(standard, payload, status):
    assert standard.http.post("/_sandbox/inject", json=payload).status_code == status
