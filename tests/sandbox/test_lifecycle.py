"""Determinism, the ``serve`` entry point, and secrets that never leak."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import httpx

from cexledger.sandbox import SandboxConfig, SandboxServer, SandboxState

from .support import Sandbox, now_ms

def test_same_seed_same_truth_and_credentials():
    T0 = now_ms() - 60_000
    a = SandboxState(SandboxConfig(seed=7, t0_ms=T0, records=500, bitget_accounts=2, coinw_accounts=2))
    b = SandboxState(SandboxConfig(seed=7, t0_ms=T0, records=500, bitget_accounts=2, coinw_accounts=2))
    c = SandboxState(SandboxConfig(seed=8, t0_ms=T0, records=500, bitget_accounts=2, coinw_accounts=2))
    assert [x.as_json() for x in a.accounts] == [x.as_json() for x in b.accounts]
    for exchange in ("bitget", "coinw"):
        for account in (f"{exchange}-1", f"{exchange}-2"):
            assert len(a.truth(exchange, account)) > 400
            assert a.truth(exchange, account) == b.truth(exchange, account)
            assert a.truth(exchange, account) != c.truth(exchange, account)
    assert a.accounts[0].api_secret != c.accounts[0].api_secret


def test_same_seed_same_truth_over_http():
    config = SandboxConfig(seed=5, t0_ms=now_ms(), records=300)
    with SandboxServer(config) as one, SandboxServer(config) as two:
        assert one.port != two.port
        for exchange in ("bitget", "coinw"):
            params = {"exchange": exchange, "account": f"{exchange}-1"}
            assert httpx.get(f"{one.url}/_sandbox/truth", params=params).content == \
                httpx.get(f"{two.url}/_sandbox/truth", params=params).content


def test_secrets_stay_out_of_repr():
    state = SandboxState(SandboxConfig(records=10))
    for account in state.accounts:
        assert account.api_secret not in repr(account)
        assert not account.passphrase or account.passphrase not in repr(account)


def test_serve_prints_one_line_and_stops_on_sigterm():
    code = ("import asyncio\nfrom cexledger.sandbox import SandboxConfig, serve\n"
            "asyncio.run(serve(SandboxConfig(records=200, faults=0.3, seed=2)))\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=30), "no output from serve()"
        line = proc.stdout.readline()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.split()[-1]
        sandbox = Sandbox(url)
        for _ in range(15):  # some succeed, some fault, some fail auth: none may log a secret
            for call in (lambda: sandbox.bitget("category=SPOT"), lambda: sandbox.coinw("instrument=BTC"),
                         lambda: sandbox.bitget("category=SPOT", **{"ACCESS-SIGN": "bad"})):
                try:
                    call()
                except httpx.HTTPError:
                    pass
        secrets = [s for a in sandbox.accounts.values() for s in (a["api_secret"], a.get("passphrase")) if s]
        sandbox.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == ""  # the listening line was the only stdout
    everything = line + out + err
    assert "sbx-secret" not in everything and "sbx-pass" not in everything
    assert not [s for s in secrets if s in everything]


def test_server_start_and_stop_are_clean():
    server = SandboxServer(SandboxConfig(records=10))
    with server:
        assert httpx.get(f"{server.url}/_sandbox/accounts").status_code == 200
    started = time.monotonic()
    server.stop()  # idempotent
    assert time.monotonic() - started < 1
    try:
        httpx.get(f"{server.url}/_sandbox/accounts", timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("server still answering after stop")
