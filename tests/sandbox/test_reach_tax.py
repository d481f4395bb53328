"""Bitget tax records in the sandbox: 366 days in 7-day windows, the tax key, 1 request/s,
ids, cursors, and Classic Account mode on every UTA endpoint."""

from __future__ import annotations

from collections import Counter

import pytest

from cexledger import _json

from .support import DAY_MS, data_of, now_ms, page_rows, rows_of
from .test_reach_funding import burst

CATEGORIES = ("SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER")
TAX_PATH = "/api/v3/tax/records"
FIELDS = ["id", "coin", "type", "amount", "fee", "balance", "ts"]


def fetch_tax_window(sandbox, category: str, start: int, end: int, limit: int) -> list[bytes]:
    """All raw rows of one tax window, each next page asked with the last row's id."""
    variant = sandbox.state.variant
    rows: list[bytes] = []
    cursor, seen = None, set()
    for _ in range(10_000):
        query = f"bizType={category}&startTime={start}&endTime={end}&limit={limit}"
        if cursor:
            query += f"&cursor={cursor}"
        response = sandbox.tax(query)
        assert response.status_code == 200, response.text
        page = page_rows(response)
        if not page:
            assert data_of(response) == (None if variant else [])
            return rows
        assert len(page) <= limit
        rows += page
        if len(page) < limit:
            return rows
        cursor = _json.loads(page[-1])["id"]
        assert cursor not in seen
        seen.add(cursor)
    raise AssertionError("paging did not end")


def tax_windows(sandbox, days: int = 367) -> list[tuple[int, int]]:
    """<= 7-day windows from ``days`` ago to now, in the dialect's bounds."""
    now = now_ms()
    start, out = now - days * DAY_MS, []
    while start <= now:
        end = min(start + 7 * DAY_MS, now + 60_000)
        out.append((start, end))
        start = end if sandbox.state.variant else end + 1
    return out


def fetch_category(sandbox, category: str, limit: int) -> list[bytes]:
    return [r for s, e in tax_windows(sandbox) for r in fetch_tax_window(sandbox, category, s, e, limit)]


def by_id(rows: list[bytes]) -> list[bytes]:
    return sorted(rows, key=lambda r: int(_json.loads(r)["id"]))


@pytest.fixture(scope="module")
def deep(request):
    """Per dialect, a sandbox with a long history: many rows older than 90 and than 366 days."""
    from cexledger.sandbox import SandboxConfig, SandboxServer

    from .conftest import Running

    servers = {}
    for dialect in ("standard", "variant"):
        servers[dialect] = Running(SandboxServer(SandboxConfig(
            records=1200, old_records=600, history_days=500, rate_limit=False,
            dialect=dialect)).start())
    yield servers
    for sandbox in servers.values():
        sandbox.close()
        sandbox.server.stop()


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_paging_a_year_equals_truth_per_category(deep, dialect):
    sandbox = deep[dialect]
    total = 0
    for category in CATEGORIES:
        fetched = fetch_category(sandbox, category, limit=40)
        ids = [_json.loads(r)["id"] for r in fetched]
        assert len(ids) == len(set(ids))
        truth = sandbox.truth_raw("bitget", "bitget-1", "tax-records", category)
        assert by_id(fetched) == truth
        total += len(truth)
    everything = sandbox.truth_raw("bitget", "bitget-1", "tax-records")
    assert total == len(everything)
    rows = [_json.loads(r) for r in everything]
    assert all(list(r) == FIELDS and all(isinstance(v, str) for v in r.values()) for r in rows)
    now = now_ms()
    ages = [now - int(r["ts"]) for r in rows]
    assert max(ages) < 366 * DAY_MS          # rows outside the reach are never served
    assert sum(a > 90 * DAY_MS for a in ages) > 300   # ... but far more than 90 days are
    book = sandbox.state.bitget["bitget-1"]
    assert any(now - ts > 366 * DAY_MS for ledger in book.ledgers.values() for ts in ledger.ts)


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_tax_rows_are_the_financial_records_ids_by_dialect(deep, dialect):
    sandbox = deep[dialect]
    financial = {}
    for row in sandbox.truth("bitget", "bitget-1"):
        financial[row["id"]] = row
    tax = sandbox.truth("bitget", "bitget-1", "tax-records")
    recent = [r for r in tax if now_ms() - int(r["ts"]) < 89 * DAY_MS]
    assert len(recent) > 500
    by_content = {(r["ts"], r["amount"], r["balance"]): r for r in financial.values()}
    for row in recent:
        twin = by_content[(row["ts"], row["amount"], row["balance"])]
        assert (row["coin"], row["type"], row["fee"]) == (twin["coin"], twin["type"], twin["fee"])
        assert (row["id"] == twin["id"]) == (dialect == "standard")
    if dialect == "variant":
        assert not {r["id"] for r in tax} & set(financial)


def test_order_and_cursor_semantics(either):
    variant = either.state.variant
    now = now_ms()
    window = f"bizType=USDT-FUTURES&startTime={now - 7 * DAY_MS}&endTime={now}"
    whole = page_rows(either.tax(window + "&limit=30"))
    assert len(whole) == 30
    ts = [int(_json.loads(r)["ts"]) for r in whole]
    assert ts == sorted(ts, reverse=not variant)
    first = page_rows(either.tax(window + "&limit=10"))
    cursor = _json.loads(first[-1])["id"]
    second = page_rows(either.tax(window + f"&limit=20&cursor={cursor}"))
    assert first + second == whole          # strictly after the cursor row, in served order
    assert data_of(either.tax(window + "&limit=10")) is not None
    # an id of no tax record of this account and category: a parameter error
    other = either.truth("bitget", "bitget-1", "tax-records", "SPOT")[0]["id"]
    for bad in ("123", other):
        answer = either.tax(window + f"&cursor={bad}")
        assert _json.loads(answer.content)["code"] == "40017"
        assert answer.status_code == (200 if variant else 400)
    if variant:  # the financial record's id is not a tax cursor there
        financial = either.truth("bitget", "bitget-1", "financial-records", "USDT-FUTURES")[-1]["id"]
        assert _json.loads(either.tax(window + f"&cursor={financial}").content)["code"] == "40017"


def test_parameter_errors(either):
    now = now_ms()
    status = 200 if either.state.variant else 400
    window = f"startTime={now - DAY_MS}&endTime={now}"

    def code(query: str) -> str:
        response = either.tax(query)
        assert response.status_code == status, response.text
        return _json.loads(response.content)["code"]

    assert code(window) == "40017"                               # no bizType
    assert code("bizType=spot&" + window) == "40017"             # case-sensitive
    assert code("bizType=FUNDING&" + window) == "40017"
    assert code(f"bizType=SPOT&endTime={now}") == "40017"        # no startTime
    assert code(f"bizType=SPOT&startTime={now - DAY_MS}") == "40017"   # no endTime
    assert code(f"bizType=SPOT&startTime={now}&endTime={now - 1}") == "40017"
    assert code(f"bizType=SPOT&startTime={now - 7 * DAY_MS - 1}&endTime={now}") == "00001"
    assert code(f"bizType=SPOT&{window}&limit=0") == code(f"bizType=SPOT&{window}&limit=a") == "40017"
    exactly_7 = either.tax(f"bizType=SPOT&startTime={now - 7 * DAY_MS}&endTime={now}")
    assert exactly_7.status_code == 200
    # older than the reach: accepted, the rows there simply are not served
    old = either.tax(f"bizType=SPOT&startTime={now - 400 * DAY_MS}&endTime={now - 395 * DAY_MS}")
    assert old.status_code == 200 and page_rows(old) == []
    over = either.tax(f"bizType=SPOT&{window}&limit=501")
    if either.state.variant:
        assert over.status_code == 200
    else:
        assert _json.loads(over.content)["code"] == "40017"


def test_limit_default_and_maximum_500(make_sandbox):
    for dialect in ("standard", "variant"):
        sandbox = make_sandbox(records=6000, dense_share=0.9, rate_limit=False, dialect=dialect)
        ts = Counter(int(r["ts"]) // (7 * DAY_MS)
                     for r in sandbox.truth("bitget", "bitget-1", "tax-records", "USDT-FUTURES"))
        week = max(ts, key=ts.__getitem__)
        assert ts[week] > 500
        query = f"bizType=USDT-FUTURES&startTime={week * 7 * DAY_MS}&endTime={(week + 1) * 7 * DAY_MS}"
        assert len(page_rows(sandbox.tax(query))) == 500
        if dialect == "variant":
            assert len(page_rows(sandbox.tax(query + "&limit=900"))) == 500


def test_tax_key_separation(standard):
    now = now_ms()
    query = f"bizType=SPOT&startTime={now - DAY_MS}&endTime={now}"
    assert standard.tax(query).status_code == 200
    normal = standard.tax(query, tax=False)
    assert normal.status_code == 400 and _json.loads(normal.content)["code"] == "40014"
    for answer in (standard.bitget("category=SPOT", tax=True), standard.funding("limit=1", tax=True)):
        assert answer.status_code == 400 and _json.loads(answer.content)["code"] == "40014"
    account = standard.accounts["bitget-1"]
    assert {"tax_api_key", "tax_api_secret", "tax_passphrase"} <= set(account)
    assert len({account["api_key"], account["tax_api_key"]}) == 2
    # the tax key's own passphrase and secret, checked like the normal key's
    headers = standard.bitget_headers(query, path=TAX_PATH, tax=True)
    wrong_pass = standard.http.get(f"{TAX_PATH}?{query}",
                                   headers=dict(headers, **{"ACCESS-PASSPHRASE": account["passphrase"]}))
    assert _json.loads(wrong_pass.content)["code"] == "40012"
    wrong_secret = standard.http.get(f"{TAX_PATH}?{query}", headers=standard.bitget_headers(
        query, path=TAX_PATH, tax=True, secret=account["api_secret"]))
    assert _json.loads(wrong_secret.content)["code"] == "40009"


def test_tax_key_rotation_and_injection(make_sandbox):
    sandbox = make_sandbox(records=100, rate_limit=False)
    now = now_ms()
    query = f"bizType=SPOT&startTime={now - DAY_MS}&endTime={now}"
    rotated = sandbox.post("/_sandbox/keys", {"exchange": "bitget", "account": "bitget-1", "tax": True})
    assert rotated["tax_api_key"] != sandbox.accounts["bitget-1"]["tax_api_key"]
    sandbox.accounts["rotated"] = rotated
    assert sandbox.tax(query, account="rotated").status_code == 200
    assert sandbox.tax(query).status_code == 200   # the earlier tax key stays valid
    sandbox.post("/_sandbox/inject", {"exchange": "bitget", "account": "bitget-1",
                                      "kind": "rate_limited", "retry_after": 2, "tax": True})
    assert sandbox.bitget("category=SPOT&limit=1").status_code == 200   # not the normal key's
    limited = sandbox.tax(query)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    log = sandbox.http.get("/_sandbox/requests", params={"account": "bitget-1",
                                                         "path": TAX_PATH}).json()["requests"]
    assert [e["status"] for e in log] == ["200", "429"]


async def test_one_request_per_second_its_own_budget(make_sandbox):
    sandbox = make_sandbox(records=100)
    over = await burst(sandbox, TAX_PATH, 3, tax=True)
    statuses = Counter(r.status_code for r in over)
    assert statuses[200] >= 1 and statuses[429] >= 1 and statuses[200] + statuses[429] == 3
    body = _json.loads(next(r for r in over if r.status_code == 429).content)
    assert body["code"] == "429"
    # the tax budget is spent; the normal key's endpoints answer
    assert sandbox.bitget("category=SPOT&limit=1").status_code == 200
    assert sandbox.funding("limit=1").status_code == 200


def test_append_and_inject_as_tax_records(make_sandbox):
    sandbox = make_sandbox(records=200, rate_limit=False, dialect="variant")
    ids = sandbox.post("/_sandbox/append", {"exchange": "bitget", "account": "bitget-1", "count": 2,
                                            "stream": "tax-records", "instrument": "OTHER"})["ids"]
    tax_ids = {r["id"] for r in sandbox.truth("bitget", "bitget-1", "tax-records", "OTHER")}
    assert set(ids) <= tax_ids
    raw = '{"id":"1","coin":"USDT","type":"X","amount":"not a number"}'
    injected = sandbox.post("/_sandbox/inject-row", {"exchange": "bitget", "account": "bitget-1",
                                                     "raw": raw, "stream": "tax-records"})["id"]
    now = now_ms()
    page = page_rows(sandbox.tax(f"bizType=SPOT&startTime={now - DAY_MS}&endTime={now + 60_000}"))
    assert page[-1] == raw.encode()   # variant: oldest first, the new row last
    # the same movement stays a generated row among the financial records
    assert raw.encode() not in sandbox.truth_raw("bitget", "bitget-1")
    assert injected not in {r["id"] for r in sandbox.truth("bitget", "bitget-1")}


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_classic_mode_answers_40084_on_every_uta_endpoint(make_sandbox, dialect):
    sandbox = make_sandbox(records=100, rate_limit=False, dialect=dialect, bitget_accounts=2,
                           classic_accounts=("bitget-2",))
    now = now_ms()
    tax_query = f"bizType=SPOT&startTime={now - DAY_MS}&endTime={now}"

    def calls(account):
        return (sandbox.bitget("category=SPOT", account=account), sandbox.funding("", account=account),
                sandbox.tax(tax_query, account=account))

    status = 200 if dialect == "variant" else 400
    for answer in calls("bitget-2"):
        body = _json.loads(answer.content)
        assert answer.status_code == status
        assert body["code"] == "40084" and body["data"] is None
        assert body["msg"] == "You are in Classic Account mode, and the UTA API is not supported at this time"
    assert [a.status_code for a in calls("bitget-1")] == [200] * 3
    settings = sandbox.post("/_sandbox/settings", {"classic_accounts": ["bitget-1"]})
    assert settings["classic_accounts"] == ["bitget-1"]
    assert [_json.loads(a.content)["code"] for a in calls("bitget-1")] == ["40084"] * 3
    assert [a.status_code for a in calls("bitget-2")] == [200] * 3
    unknown = sandbox.http.post("/_sandbox/settings", json={"classic_accounts": ["coinw-1"]})
    assert unknown.status_code == 400


def test_determinism_from_the_seed(make_sandbox):
    t0 = now_ms()
    one = make_sandbox(records=300, seed=9, t0_ms=t0).state
    two = make_sandbox(records=300, seed=9, t0_ms=t0).state
    other = make_sandbox(records=300, seed=10, t0_ms=t0).state
    truth = one.truth("bitget", "bitget-1", "tax-records")
    assert truth and truth == two.truth("bitget", "bitget-1", "tax-records")
    assert truth != other.truth("bitget", "bitget-1", "tax-records")
    assert one.accounts == two.accounts and one.accounts != other.accounts


def test_tax_secrets_stay_out_of_repr(standard):
    for account in standard.state.accounts:
        if account.exchange == "bitget":
            assert account.tax_api_secret and account.tax_api_secret not in repr(account)
            assert account.tax_passphrase and account.tax_passphrase not in repr(account)
            assert account.tax_api_secret.startswith("sbx-secret-")  # found by the leak searches


def test_versions_per_stream(variant):
    params = {"exchange": "bitget", "account": "bitget-1"}
    for stream in ("funding-records", "tax-records"):
        row = variant.truth_raw("bitget", "bitget-1", stream)[0]
        row_id = _json.loads(row)["id"]
        answer = variant.http.get("/_sandbox/versions", params=dict(params, id=row_id, stream=stream))
        assert answer.status_code == 200 and rows_of(answer.content, "versions") == [row]
    # a tax id of the variant is no financial record's id
    tax_id = variant.truth("bitget", "bitget-1", "tax-records")[-1]["id"]
    assert variant.http.get("/_sandbox/versions", params=dict(params, id=tax_id)).status_code == 404
