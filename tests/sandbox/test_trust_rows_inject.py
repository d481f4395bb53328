"""``POST /_sandbox/inject-row``: one row served as exactly the given bytes, in truth and pages."""

from __future__ import annotations

from .support import page_rows


def test_injected_rows_are_served_and_true_byte_for_byte(make_sandbox):
    sandbox = make_sandbox(records=60, rate_limit=False)
    bitget = b'{"id":"1","ts":"99999999999999999999","amount":1E+1001 }'
    coinw = b'{"id":7,"createdDate":5,"netProfit":1E+1001,"status":"closed"}'
    rid = sandbox.post("/_sandbox/inject-row", {"exchange": "bitget", "account": "bitget-1",
                                            "raw": bitget.decode(), "partition": "MARGIN"})["id"]
    assert isinstance(rid, str)
    sandbox.post("/_sandbox/inject-row", {"exchange": "coinw", "account": "coinw-1",
                                      "raw": coinw.decode(), "partition": "eth"})
    assert bitget in sandbox.truth_raw("bitget", "bitget-1")
    assert coinw in sandbox.truth_raw("coinw", "coinw-1")
    assert bitget in page_rows(sandbox.bitget("category=MARGIN&limit=100"))
    assert bitget not in page_rows(sandbox.bitget("category=SPOT&limit=100"))
    assert coinw in page_rows(sandbox.coinw("instrument=ETH&pageSize=100"))


def test_inject_refuses_what_it_cannot_place(make_sandbox):
    sandbox = make_sandbox(records=10, rate_limit=False)
    post = sandbox.http.post
    base = {"exchange": "bitget", "account": "bitget-1", "raw": "{}"}
    assert post("/_sandbox/inject-row", json=dict(base, raw=5)).status_code == 400
    assert post("/_sandbox/inject-row", json=dict(base, partition="FUTURES")).status_code == 400
    assert post("/_sandbox/inject-row", json=dict(base, account="nobody")).status_code == 404
    assert post("/_sandbox/inject-row", json={"exchange": "bitget"}).status_code == 400
