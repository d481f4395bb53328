"""The test hook: accounts, truth, append, mutate, versions, churn, stats and settings."""

from __future__ import annotations

import time
from decimal import Decimal, localcontext

from cexledger import _json

from .support import page_rows, rows_of
from .test_coinw import fetch_instrument


def test_accounts_listing(make_sandbox):
    sandbox = make_sandbox(records=50, bitget_accounts=2, coinw_accounts=3)
    accounts = sandbox.http.get("/_sandbox/accounts").json()["accounts"]
    assert [a["name"] for a in accounts] == ["bitget-1", "bitget-2", "coinw-1", "coinw-2", "coinw-3"]
    for account in accounts:
        assert account["api_secret"].startswith(f"sbx-secret-1-{account['name']}-")
        assert len(account["api_secret"]) > 60
        assert ("passphrase" in account) is (account["exchange"] == "bitget")
    assert sandbox.coinw("instrument=BTC", account="coinw-3").status_code == 200
    assert _json.loads(sandbox.bitget("category=SPOT", account="bitget-2").content)["code"] == "00000"


def test_truth_is_served_bytes_sorted_by_id(standard):
    truth = standard.truth_raw("bitget", "bitget-1")
    ids = [int(_json.loads(r)["id"]) for r in truth]
    assert ids == sorted(ids)
    served = page_rows(standard.bitget("category=SPOT&limit=100"))
    assert served and set(served) <= set(truth)
    assert standard.state.truth("bitget", "bitget-1") == truth
    coinw = standard.truth_raw("coinw", "coinw-1")
    assert set(page_rows(standard.coinw("instrument=ETH&pageSize=100"))) <= set(coinw)


def test_unknown_and_malformed_requests(standard):
    assert standard.http.get("/_sandbox/truth", params={"exchange": "bitget", "account": "nobody"}).status_code == 404
    assert standard.http.get("/_sandbox/truth", params={"exchange": "kraken", "account": "bitget-1"}).status_code == 404
    assert standard.http.get("/_sandbox/truth").status_code == 400
    assert standard.http.post("/_sandbox/append", content=b"[1]").status_code == 400
    assert standard.http.post("/_sandbox/append", json={"exchange": "bitget", "account": "bitget-1",
                                                        "count": -1}).status_code == 400
    assert standard.http.post("/_sandbox/settings", json={"colour": "red"}).status_code == 400
    assert standard.http.post("/_sandbox/settings", json={"faults": 2}).status_code == 400
    assert standard.http.get("/_sandbox/versions", params={
        "exchange": "coinw", "account": "coinw-1", "id": "1"}).status_code == 404


def test_bitget_append_continues_chains_and_is_served_first(make_sandbox):
    sandbox = make_sandbox(records=300, rate_limit=False)
    before = sandbox.truth_raw("bitget", "bitget-1")
    ids = sandbox.post("/_sandbox/append", {"exchange": "bitget", "account": "bitget-1", "count": 40})["ids"]
    assert len(ids) == 40 and all(isinstance(i, str) for i in ids)
    after = [_json.loads(r) for r in sandbox.truth_raw("bitget", "bitget-1")]
    assert len(after) == len(before) + 40
    assert [r["id"] for r in after[-40:]] == ids
    with localcontext() as ctx:
        ctx.prec = 200
        last: dict[tuple[str, str], Decimal] = {}
        for row in after:
            key = (row["category"], row["coin"])
            if key in last:
                assert Decimal(row["balance"]) == last[key] + Decimal(row["amount"]) + Decimal(row["fee"])
            last[key] = Decimal(row["balance"])
    newest = after[-1]
    category = "MARGIN" if newest["category"] == "Margin" else newest["category"]
    first_page = page_rows(sandbox.bitget(f"category={category}&limit=1"))
    assert _json.loads(first_page[0])["id"] == newest["id"]
    assert sandbox.state.append("bitget", "bitget-1", 2) and len(sandbox.state.truth("bitget", "bitget-1")) == len(after) + 2


def test_coinw_append_mutate_and_versions(make_sandbox):
    sandbox = make_sandbox(records=400, rate_limit=False)
    before = {_json.loads(r)["id"]: r for r in sandbox.truth_raw("coinw", "coinw-1")}
    new = sandbox.post("/_sandbox/append", {"exchange": "coinw", "account": "coinw-1", "count": 3,
                                             "instrument": "sol"})["ids"]
    assert all(isinstance(i, int) and i > 2**53 for i in new)
    newest = [_json.loads(r) for r in page_rows(sandbox.coinw("instrument=SOL&pageSize=3"))]
    assert [r["id"] for r in newest] == new[::-1]

    closed = sandbox.post("/_sandbox/mutate", {"exchange": "coinw", "account": "coinw-1", "count": 4})["ids"]
    assert len(closed) == 4
    truth = {_json.loads(r)["id"]: _json.loads(r) for r in sandbox.truth_raw("coinw", "coinw-1")}
    for row_id in closed:
        response = sandbox.http.get("/_sandbox/versions", params={
            "exchange": "coinw", "account": "coinw-1", "id": str(row_id)})
        raw_versions = rows_of(response.content, "versions")
        assert raw_versions == sandbox.state.versions("coinw", "coinw-1", row_id)
        versions = [_json.loads(v) for v in raw_versions]
        assert len(versions) == 2
        old, cur = versions
        assert old["status"] == "open" and old["orderStatus"] in ("part", "unFinish")
        assert cur["status"] == "close" and cur["orderStatus"] == "finish"
        assert cur["currentPiece"] == 0 and cur["closedPiece"] == cur["totalPiece"]
        assert cur["updatedDate"] >= old["updatedDate"] and cur["closePrice"] > 0
        assert truth[row_id] == cur
        if row_id in before:
            assert _json.loads(before[row_id]) == old
    open_left = sum(r["status"] == "open" for r in truth.values())
    closed_all = sandbox.state.mutate("coinw", "coinw-1", 10_000)
    assert len(closed_all) == open_left
    assert sandbox.state.mutate("coinw", "coinw-1", 5) == []


def test_churn_inserts_rows_while_a_client_pages(make_sandbox):
    sandbox = make_sandbox(records=600, rate_limit=False, churn=1.0, dense_share=0.9)
    before = {_json.loads(r)["id"] for r in sandbox.truth_raw("coinw", "coinw-1")}
    paged = [_json.loads(r)["id"] for r in fetch_instrument(sandbox, "BTC", page_size=20)]
    after = {_json.loads(r)["id"] for r in sandbox.truth_raw("coinw", "coinw-1")}
    assert len(after) > len(before), "rows arrived during paging"
    assert len(paged) > len(set(paged)), "insertions at the top shift rows onto the next page"
    assert set(paged) <= after
    sandbox.post("/_sandbox/settings", {"churn": 0})
    settled = sorted(fetch_instrument(sandbox, "BTC", page_size=20), key=lambda r: _json.loads(r)["id"])
    assert settled == [r for r in sandbox.truth_raw("coinw", "coinw-1") if b'"instrument":"BTC"' in r]


def test_stats_count_every_exchange_request(make_sandbox):
    sandbox = make_sandbox(records=50)
    sandbox.post("/_sandbox/stats/reset", {})
    sandbox.bitget("category=SPOT")
    sandbox.bitget("category=nope")
    sandbox.coinw("instrument=BTC")
    sandbox.http.get("/v1/perpumPublic/instruments")
    stats = sandbox.http.get("/_sandbox/stats").json()
    assert stats["requests"] == 3
    assert stats["by_path"] == {"/api/v3/account/financial-records": 2, "/v1/perpum/orders/deals/history": 1}
    assert stats["by_key"][sandbox.accounts["bitget-1"]["api_key"]] == 2
    assert stats["by_status"] == {"200": 2, "400": 1}
    sandbox.post("/_sandbox/stats/reset", {})
    assert sandbox.http.get("/_sandbox/stats").json()["requests"] == 0


def test_settings_change_at_runtime(make_sandbox):
    sandbox = make_sandbox(records=50)
    answer = sandbox.post("/_sandbox/settings", {"faults": 0.5, "latency_ms": 10, "rate_limit": False,
                                                 "churn": 0.25})
    assert answer == {"latency_ms": 10, "faults": 0.5, "rate_limit": False, "churn": 0.25,
                      "bitget_cursor_loop": None, "coinw_page_cycle": None, "coinw_page_clamp": None,
                      "hold": False, "classic_accounts": []}
    assert sandbox.state.settings.faults == 0.5


def test_live_growth_flag(make_sandbox):
    sandbox = make_sandbox(records=50, append_every=0.05, append_count=3)
    start = {e: len(sandbox.state.truth(e, f"{e}-1")) for e in ("bitget", "coinw")}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait for a condition, bounded
        grown = {e: len(sandbox.state.truth(e, f"{e}-1")) for e in start}
        if all(grown[e] >= start[e] + 6 for e in start):
            break
        time.sleep(0.02)
    assert all(grown[e] >= start[e] + 6 and (grown[e] - start[e]) % 3 == 0 for e in start)
