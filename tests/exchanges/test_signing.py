"""Signatures equal an independently computed HMAC, over exactly what is sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from cexledger.exchanges.bitget import BitgetCredentials, sign as bitget_sign
from cexledger.exchanges.coinw import CoinwCredentials, sign as coinw_sign

from .conftest import PASSPHRASE, SECRET, Script, bitget_ok, coinw_ok, json_response


def reference_sign(secret: str, prehash: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), prehash.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def test_sign_matches_reference_hmac_for_fixed_prehash():
    prehash = "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT"
    expected = reference_sign("my-secret", prehash)
    assert bitget_sign("my-secret", prehash) == expected
    coinw_prehash = "1701944491793GET/v1/fapi/getStopProfit?orderId=1&instrument=BTC&openId=0"
    assert coinw_sign("my-secret", coinw_prehash) == reference_sign("my-secret", coinw_prehash)


async def test_bitget_signs_the_exact_sorted_query_it_sends(make_bitget):
    script = Script(bitget_ok([b'{"id":"1","ts":"1","amount":"1","type":"X"}'], b"null"))
    client = make_bitget(script)
    await client.financial_records(
        "USDT-FUTURES", start_ms=1745000000000, end_ms=1745853486185, cursor="122222", limit=50
    )
    request = script.requests[0]
    raw_path = request.url.raw_path.decode()
    path, _, query = raw_path.partition("?")
    assert path == "/api/v3/account/financial-records"
    keys = [pair.split("=")[0] for pair in query.split("&")]
    assert keys == sorted(keys) == ["category", "cursor", "endTime", "limit", "startTime"]
    assert query == "category=USDT-FUTURES&cursor=122222&endTime=1745853486185&limit=50&startTime=1745000000000"
    ts = request.headers["ACCESS-TIMESTAMP"]
    assert ts.isdigit() and len(ts) == 13
    assert request.headers["ACCESS-SIGN"] == reference_sign(SECRET, ts + "GET" + path + "?" + query)
    assert request.headers["ACCESS-KEY"] == client._auth._credentials.api_key
    assert request.headers["ACCESS-PASSPHRASE"] == PASSPHRASE
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["locale"] == "en-US"
    assert "paptrading" not in request.headers
    # what went on the wire is what was signed
    assert urlsplit(str(request.url)).query == query


async def test_bitget_demo_sets_paptrading_and_first_page_has_no_cursor(make_bitget):
    script = Script(bitget_ok(None, b"null"))
    client = make_bitget(script, demo=True)
    await client.financial_records("SPOT")
    request = script.requests[0]
    assert request.headers["paptrading"] == "1"
    assert request.url.raw_path == b"/api/v3/account/financial-records?category=SPOT&limit=100"
    ts = request.headers["ACCESS-TIMESTAMP"]
    prehash = ts + "GET" + "/api/v3/account/financial-records?category=SPOT&limit=100"
    assert request.headers["ACCESS-SIGN"] == reference_sign(SECRET, prehash)


async def test_coinw_signs_query_in_sent_order(make_coinw):
    script = Script(coinw_ok([]))
    client = make_coinw(script)
    await client.deals_history("btc", page=2, page_size=50, origin_type="plan", position_model=1)
    request = script.requests[0]
    raw_path = request.url.raw_path.decode()
    assert raw_path == (
        "/v1/perpum/orders/deals/history?instrument=BTC&page=2&pageSize=50&originType=plan&positionModel=1"
    )
    ts = request.headers["timestamp"]
    assert ts.isdigit() and len(ts) == 13
    assert request.headers["sign"] == reference_sign(SECRET, ts + "GET" + raw_path)
    assert request.headers["api_key"] == client._auth._credentials.api_key


async def test_coinw_instruments_are_not_signed(make_coinw):
    script = Script(json_response('{"code":0,"data":[],"msg":""}'))
    client = make_coinw(script)
    assert await client.instruments() == []
    assert "sign" not in script.requests[0].headers
    assert "api_key" not in script.requests[0].headers


def test_credentials_repr_masks_secrets():
    bitget = BitgetCredentials("bg_abcdef123456", SECRET, PASSPHRASE, demo=True)
    coinw = CoinwCredentials("cw_abcdef123456", SECRET)
    for text in (repr(bitget), str(bitget), repr(coinw), str(coinw)):
        assert SECRET not in text
        assert PASSPHRASE not in text
        assert "abcdef123456" not in text
