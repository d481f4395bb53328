"""CoinW deals history: auth, exact numbers in the raw bytes, paging to the truth, filters."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from cexledger import _json

from .support import COINW_PATH, now_ms, page_rows

INSTRUMENTS = ("BTC", "ETH", "SOL", "1000PEPE")


def body_of(response):
    assert response.status_code == 200
    return _json.loads(response.content)


def fetch_instrument(sandbox, instrument: str, page_size: int = 100, extra: str = "") -> list[bytes]:
    rows: list[bytes] = []
    for page in range(1, 1000):
        response = sandbox.coinw(f"instrument={instrument}&page={page}&pageSize={page_size}{extra}")
        assert body_of(response)["code"] == 0
        got = page_rows(response)
        if not got:
            return rows
        rows += got
    raise AssertionError("paging did not end")


def test_paging_every_instrument_gives_the_truth(either):
    fetched = [r for inst in INSTRUMENTS for r in fetch_instrument(either, inst.lower())]
    ids = [_json.loads(r)["id"] for r in fetched]
    assert len(ids) == len(set(ids))
    truth = either.truth_raw("coinw", "coinw-1")
    assert len(truth) > 1900
    # int(): the variant writes some ids as strings (as CoinW does on other endpoints)
    assert sorted(fetched, key=lambda r: int(_json.loads(r)["id"])) == truth


def test_newest_first_and_page_sizes(either):
    variant = either.state.variant
    rows = [_json.loads(r) for r in page_rows(either.coinw("instrument=BTC"))]
    assert len(rows) == (10 if variant else 20)
    keys = [(r["createdDate"], int(r["id"])) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert len(page_rows(either.coinw("instrument=BTC&pageSize=500"))) == (50 if variant else 100)
    second = [_json.loads(r) for r in page_rows(either.coinw("instrument=BTC&page=2&pageSize=5"))]
    first = [_json.loads(r) for r in page_rows(either.coinw("instrument=BTC&page=1&pageSize=10"))]
    assert second == first[5:10]


def test_raw_bytes_keep_big_ids_and_exact_numbers(standard):
    raw = page_rows(standard.coinw("instrument=BTC&pageSize=100"))
    # as recorded from CoinW: a trigger order's row has triggerPrice/triggerType and no
    # hedgeId/indexPrice/settlementId
    trigger_only = {"triggerPrice", "triggerType"}
    not_on_trigger = {"hedgeId", "indexPrice", "settlementId"}
    for row in raw:
        text = row.decode()
        trigger = '"triggerType"' in text
        for key in ("id", "hedgeId", "openId", "orderId"):
            if trigger and key in not_on_trigger:
                assert f'"{key}"' not in text
                continue
            match = re.search(rf'"{key}":(\d+)[,}}]', text)
            assert match, f"{key} must be a bare JSON integer"
            assert len(match.group(1)) == 19 and int(match.group(1)) > 2**53
        for key in ("closePrice", "openPrice", "indexPrice", "margin", "netProfit", "baseSize", "fundingSettle",
                    *(("triggerPrice",) if trigger else ())):
            if trigger and key in not_on_trigger:
                continue
            assert re.search(rf'"{key}":-?\d', text), f"{key} must be a JSON number"
        for key in ("fee", "feeRate", "fundingFee"):
            assert re.search(rf'"{key}":"-?\d', text), f"{key} must be a JSON string"
        for key in ("createdDate", "updatedDate", "userId", *(() if trigger else ("settlementId",))):
            assert re.search(rf'"{key}":\d+[,}}]', text)
    doc_keys = ["baseSize", "closePrice", "closedPiece", "contractType", "createdDate", "currentPiece",
                "direction", "fee", "feeRate", "fundingFee", "fundingSettle", "hedgeId", "id", "indexPrice",
                "instrument", "isProfession", "leverage", "liquidateBy", "margin", "netProfit", "openId",
                "openPrice", "orderId", "orderPrice", "orderStatus", "originalType", "positionMargin",
                "positionModel", "processStatus", "quantity", "quantityUnit", "settlementId", "source",
                "status", "takerMaker", "thirdOrderId", "totalPiece", "updatedDate", "userId"]
    rows = [_json.loads(r) for r in raw]
    assert any(list(r) == doc_keys for r in rows)
    trigger_keys = sorted(set(doc_keys) - not_on_trigger | trigger_only)
    assert any(list(r) == trigger_keys for r in rows)
    for r in rows:
        expected = trigger_keys if "triggerType" in r else doc_keys
        assert [k for k in expected if k != "thirdOrderId"] == [k for k in r if k != "thirdOrderId"]
        if "triggerType" in r:
            assert r["originalType"] in ("plan", "planTrigger")
            assert r["triggerType"] == (0 if r["originalType"] == "plan" else 1)
    assert {r["status"] for r in standard.truth("coinw", "coinw-1")} == {"open", "close", "vcancel"}


def test_variant_spelling(variant):
    response = variant.coinw("instrument=BTC&pageSize=50")
    body = body_of(response)
    assert "total" not in body["data"]
    rows = page_rows(response)
    assert body["data"]["nextId"] == int(_json.loads(rows[-1])["id"])
    assert body["data"]["prevId"] == int(_json.loads(rows[0])["id"])
    truth = b"".join(variant.truth_raw("coinw", "coinw-1"))
    assert re.search(rb'"fee":-?\d', truth), "variant fee is a JSON number"
    assert b'"thirdOrderId":null' in truth
    assert re.search(rb'"id":"\d+"', truth) and re.search(rb'"id":\d+', truth), "some ids strings, some numbers"
    assert re.search(rb'":\d(\.\d+)?E-\d+[,}]', truth), "variant writes tiny numbers like 1E-8"


def test_instrument_case_insensitive_and_unknown_is_empty(standard):
    assert page_rows(standard.coinw("instrument=btc")) == page_rows(standard.coinw("instrument=BTC"))
    pepe = page_rows(standard.coinw("instrument=1000pepe"))
    assert pepe and pepe == page_rows(standard.coinw("instrument=1000PEPE"))
    body = body_of(standard.coinw("instrument=XRP"))
    assert body == {"code": 0, "data": {"nextId": 0, "prevId": 0, "rows": [], "total": 0}, "msg": ""}


@pytest.mark.parametrize(("query", "code"), [("page=1", 402), ("instrument=", 402),
                                             ("instrument=BTC&positionModel=7", 402),
                                             ("instrument=BTC&page=x", 402)])
def test_parameter_errors(standard, query, code):
    body = body_of(standard.coinw(query))
    assert body["code"] == code and body["data"] is None and body["msg"]


def test_auth_errors(standard):
    query = "instrument=BTC"
    good = standard.coinw_headers(query)
    assert body_of(standard.http.get(f"{COINW_PATH}?{query}", headers=good))["code"] == 0
    cases = [
        ({k: v for k, v in good.items() if k != "sign"}, 6000),
        ({k: v for k, v in good.items() if k != "timestamp"}, 6000),
        (standard.coinw_headers(query, ts=now_ms() - 31_000), 6000),
        (standard.coinw_headers(query, ts=now_ms() + 31_000), 6000),
        ({**good, "api_key": "0" * 32}, 6001),
        (standard.coinw_headers(query, secret="wrong"), 6001),
        (standard.coinw_headers("instrument=ETH"), 6001),  # signed another query
    ]
    for headers, code in cases:
        body = body_of(standard.http.get(f"{COINW_PATH}?{query}", headers=headers))
        assert body["code"] == code and body["data"] is None, headers


def test_filters_and_the_unreliable_total(standard):
    truth = standard.truth("coinw", "coinw-1")
    btc = [r for r in truth if r["instrument"] == "BTC"]
    cross = fetch_instrument(standard, "BTC", extra="&positionModel=1")
    assert {_json.loads(r)["id"] for r in cross} == {r["id"] for r in btc if r["positionModel"] == 1}

    served = [_json.loads(r) for r in fetch_instrument(standard, "BTC", extra="&originType=planTrigger")]
    assert all(r["originalType"] == "planTrigger" or r["orderStatus"] in ("finish", "part") for r in served)
    assert any(r["originalType"] != "planTrigger" for r in served), "filled rows ignore originType"
    expected = {r["id"] for r in btc if r["originalType"] == "planTrigger" or r["orderStatus"] in ("finish", "part")}
    assert {r["id"] for r in served} == expected
    total = body_of(standard.coinw("instrument=BTC&originType=planTrigger"))["data"]["total"]
    assert total == sum(r["originalType"] == "planTrigger" for r in btc) != len(served)
    assert body_of(standard.coinw("instrument=BTC"))["data"]["total"] == len(btc)


def test_public_instrument_list(standard):
    response = standard.http.get("/v1/perpumPublic/instruments")
    body = _json.loads(response.content)
    assert body["code"] == 0 and body["msg"] == ""
    names = [i["name"] for i in body["data"]]
    assert set(INSTRUMENTS) < set(names) and {"XRP", "DOGE"} <= set(names)
    assert all(i["base"] == i["name"].lower() and i["quote"] == "usdt" for i in body["data"])
    traded = Counter(r["instrument"] for r in standard.truth("coinw", "coinw-1"))
    assert set(traded) == set(INSTRUMENTS)
