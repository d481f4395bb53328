"""Politeness and robustness of the HTTP layer, end to end (issue 8, items 13, 14, 16, 17):
the real CLI against the real sandbox over HTTP."""

from __future__ import annotations

import pytest

from cexledger.exchanges._retry import MAX_RETRY_AFTER

from .test_bitget_e2e import assert_archive_equals_truth

#: A safety net only (the assertions are on the outcome): far above the expected seconds.
NET = 600


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("cexledger: error:")]


def _log(sb, exchange: str, account: str) -> list[dict]:
    return sb.http.get("/_sandbox/requests", params={"exchange": exchange, "account": account}).json()["requests"]


# -- 13 ----------------------------------------------------------------------------------------


def test_a_trickling_answer_hits_the_accounts_timeout_and_the_sync_finishes(sandbox_factory, cli_for):
    # every answer to this key trickles, one byte every 0.5 s: each byte comes sooner than the
    # 1-second timeout (httpx's is per read), the whole answer would take an hour
    sb = sandbox_factory("--records", "200", "--coinw-accounts", "0", "--trickle-s", "0.5")
    sb.post("/_sandbox/inject", {"exchange": "bitget", "account": "bitget-1", "kind": "trickle",
                                 "count": 10_000})
    cli = cli_for(sb, timeout=1, categories=["SPOT"])
    proc = cli.run("sync", timeout=NET)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = _error_lines(proc.stderr)
    assert errors and all("timed out (no complete answer within 1 s)" in line for line in errors), proc.stderr
    assert all(entry["kind"] == "trickle" for entry in _log(sb, "bitget", "bitget-1"))


# -- 14 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("wait, http_date", [(10.0, False), (3.0, True)], ids=["seconds", "http-date"])
def test_no_request_of_the_key_arrives_before_retry_after(sandbox_factory, cli_for, wait, http_date):
    # 10 s: longer than the retry backoff's cap (8 s), which used to cut the wait short
    sb = sandbox_factory("--records", "40", "--bitget-accounts", "0", "--instruments", "BTC")
    sb.post("/_sandbox/inject", {"exchange": "coinw", "account": "coinw-1", "kind": "rate_limited",
                                 "retry_after": wait, "http_date": http_date})
    cli = cli_for(sb, instruments=["BTC"])
    cli.run("sync", check=True, timeout=NET)
    assert_archive_equals_truth(sb, cli, "coinw")

    log = _log(sb, "coinw", "coinw-1")
    limited = [e for e in log if e["kind"] == "rate_limited"]
    assert len(limited) == 1 and limited[0]["status"] in ("200", "429")
    later = [e for e in log if e["arrived"] > limited[0]["answered"]]
    assert later, "the rate-limited request was never retried"
    # the sandbox's own clock: the first request after the answer came Retry-After later at least
    gap = min(e["arrived"] for e in later) - limited[0]["answered"]
    assert gap >= wait, f"a request arrived {gap:.3f} s after Retry-After: {wait} s"


def test_bitget_retries_a_rate_limited_request_only_after_retry_after(sandbox_factory, cli_for):
    """Streams run concurrently here, so the check is on the refused request's own retry."""
    wait = 3.0
    sb = sandbox_factory("--records", "300", "--coinw-accounts", "0")
    sb.post("/_sandbox/inject", {"exchange": "bitget", "account": "bitget-1", "kind": "rate_limited",
                                 "retry_after": wait, "http_date": True})
    cli = cli_for(sb)
    cli.run("sync", check=True, timeout=NET)
    assert_archive_equals_truth(sb, cli)

    log = _log(sb, "bitget", "bitget-1")
    [limited] = [e for e in log if e["kind"] == "rate_limited"]
    again = [e for e in log if e["query"] == limited["query"] and e is not limited]
    assert again and min(e["arrived"] for e in again) - limited["answered"] >= wait


def test_a_retry_after_above_the_maximum_stops_the_stream_with_one_line(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "40", "--bitget-accounts", "0", "--instruments", "BTC")
    sb.post("/_sandbox/inject", {"exchange": "coinw", "account": "coinw-1", "kind": "rate_limited",
                                 "retry_after": 600})
    cli = cli_for(sb, instruments=["BTC"])
    proc = cli.run("sync", timeout=NET)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    wanted = f"the exchange asked to wait 600 s (more than {MAX_RETRY_AFTER:.0f} s): stopped; run again later"
    assert any(wanted in line for line in _error_lines(proc.stderr)), proc.stderr
    assert len([e for e in _log(sb, "coinw", "coinw-1") if e["kind"] == "rate_limited"]) == 1


# -- 16 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange, limit", [("bitget", "20"), ("coinw", "5")])
def test_a_rate_limit_above_the_documented_one_is_refused_before_any_request(
        sandbox_factory, cli_for, exchange, limit):
    sb = sandbox_factory("--records", "40")
    account = sb.accounts(exchange)[0]
    cli = cli_for(sb, accounts=[dict(account, rate_limit=1000)])
    proc = cli.run("sync", timeout=NET)
    assert proc.returncode == 1 and proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("cexledger: error: ")
    assert f"account {account['name']!r}" in line and "1000" in line
    assert f"documented limit of {limit} requests per second" in line
    assert sb.stats()["requests"] == 0


# -- 17 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [45_000, -45_000], ids=["server-ahead", "server-behind"])
def test_bitget_syncs_when_the_servers_clock_is_45_s_off(sandbox_factory, cli_for, offset_ms):
    sb = sandbox_factory("--records", "1500", "--coinw-accounts", "0",
                         "--clock-offset-ms", str(offset_ms))
    cli = cli_for(sb)
    proc = cli.run("sync", timeout=NET)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert assert_archive_equals_truth(sb, cli) > 1000
    # the server really refused this machine's own clock before the offset was learned
    assert sb.stats()["by_status"].get("400", 0) >= 1
