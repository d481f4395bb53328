"""Bitget authentication and parameter checks, each error code as documented."""

from __future__ import annotations

import pytest

from cexledger import _json

from .support import BITGET_PATH, DAY_MS, data_of, now_ms

Q = "category=SPOT&limit=5"


def code_of(response) -> str:
    body = _json.loads(response.content)
    assert set(body) == {"code", "msg", "requestTime", "data"}
    assert isinstance(body["requestTime"], int)
    return body["code"]


def test_correct_signature_accepted(standard):
    response = standard.bitget(Q)
    assert response.status_code == 200
    body = _json.loads(response.content)
    assert body["code"] == "00000" and body["msg"] == "success"
    assert len(body["data"]["list"]) == 5


def test_query_is_signed_exactly_as_sent_not_resorted(standard):
    # keys deliberately unsorted and percent-encoded: the signature covers the raw string
    query = "limit=3&category=USDT-FUTURES&coin=%55SDT"
    assert code_of(standard.bitget(query)) == "00000"
    resorted = "category=USDT-FUTURES&coin=%55SDT&limit=3"
    headers = standard.bitget_headers(resorted)
    response = standard.http.get(f"{BITGET_PATH}?{query}", headers=headers)
    assert (response.status_code, code_of(response)) == (400, "40009")


def test_demo_trading_header_accepted(standard):
    assert code_of(standard.bitget(Q, paptrading="1")) == "00000"


@pytest.mark.parametrize(("header", "value", "code"), [
    ("ACCESS-KEY", None, "40001"),
    ("ACCESS-SIGN", None, "40002"),
    ("ACCESS-SIGN", "", "40003"),
    ("ACCESS-PASSPHRASE", None, "40011"),
    ("ACCESS-TIMESTAMP", None, "40005"),
    ("ACCESS-TIMESTAMP", "12ab", "40005"),
    ("ACCESS-KEY", "bg_not_a_key", "40006"),
    ("ACCESS-PASSPHRASE", "wrong-passphrase", "40012"),
    ("ACCESS-SIGN", "AAAA", "40009"),
])
def test_header_errors(standard, header, value, code):
    headers = standard.bitget_headers(Q)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    response = standard.http.get(f"{BITGET_PATH}?{Q}", headers=headers)
    assert response.status_code == 400
    assert code_of(response) == code
    assert data_of(response) is None


def test_signature_with_wrong_secret(standard):
    headers = standard.bitget_headers(Q, secret="not-the-secret")
    assert code_of(standard.http.get(f"{BITGET_PATH}?{Q}", headers=headers)) == "40009"


@pytest.mark.parametrize(("offset_s", "code"), [(-25, "00000"), (25, "00000"), (-35, "40008"), (35, "40008")])
def test_timestamp_tolerance_30s(standard, offset_s, code):
    headers = standard.bitget_headers(Q, ts=now_ms() + offset_s * 1000)
    assert code_of(standard.http.get(f"{BITGET_PATH}?{Q}", headers=headers)) == code


def test_variant_errors_are_http_200(variant):
    headers = variant.bitget_headers(Q)
    del headers["ACCESS-KEY"]
    response = variant.http.get(f"{BITGET_PATH}?{Q}", headers=headers)
    assert (response.status_code, code_of(response)) == (200, "40001")


@pytest.mark.parametrize("category", ["SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER"])
def test_every_documented_category_accepted(standard, category):
    response = standard.bitget(f"category={category}&limit=1")
    assert code_of(response) == "00000"
    assert data_of(response)["list"]


@pytest.mark.parametrize("query", [
    "", "limit=5", "category=spot", "category=FUTURES", "category=", "category=SPOT&limit=0",
    "category=SPOT&limit=101", "category=SPOT&limit=ten", "category=SPOT&limit=-1",
    "category=SPOT&startTime=yesterday", "category=SPOT&endTime=1.5e12",
    "category=SPOT&cursor=123", "category=SPOT&cursor=abc",
])
def test_parameter_verification_failed(standard, query):
    response = standard.bitget(query)
    assert code_of(response) == "40017"
    assert _json.loads(response.content)["msg"] == "parameter verification failed"


def test_end_before_start_rejected(standard):
    now = now_ms()
    assert code_of(standard.bitget(f"category=SPOT&startTime={now - DAY_MS}&endTime={now - 2 * DAY_MS}")) == "40017"


def test_window_over_30_days_is_00001_and_exactly_30_days_is_allowed(either):
    end = now_ms() - DAY_MS
    too_long = either.bitget(f"category=SPOT&startTime={end - 30 * DAY_MS - 1}&endTime={end}")
    body = _json.loads(too_long.content)
    assert body["code"] == "00001"
    assert body["msg"] == "startTime and endTime interval cannot be greater than 30 days"
    exact = either.bitget(f"category=SPOT&startTime={end - 30 * DAY_MS}&endTime={end}")
    assert code_of(exact) == "00000"


def test_start_older_than_90_days_is_40705(either):
    start = now_ms() - 90 * DAY_MS - 60_000
    assert code_of(either.bitget(f"category=SPOT&startTime={start}&endTime={start + DAY_MS}")) == "40705"
    inside = start + 120_000
    assert code_of(either.bitget(f"category=SPOT&startTime={inside}&endTime={inside + DAY_MS}")) == "00000"


def test_limit_clamped_to_50_in_variant(variant):
    data = data_of(variant.bitget("category=USDT-FUTURES&limit=100"))
    assert len(data["list"]) == 50
    assert len(data_of(variant.bitget("category=USDT-FUTURES"))["list"]) == 50
    assert len(data_of(variant.bitget("category=USDT-FUTURES&limit=7"))["list"]) == 7


def test_signature_covers_the_raw_encoding(standard):
    # the same logical query with a different encoding is a different signed string
    query = "category=USDT-FUTURES&coin=USDT"
    headers = standard.bitget_headers(query)
    response = standard.http.get(f"{BITGET_PATH}?category=USDT%2DFUTURES&coin=USDT", headers=headers)
    assert code_of(response) == "40009"
