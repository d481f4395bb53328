"""Bitget's funding wallet in the sandbox: paging equals truth, windows, limits, ids, faults."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from decimal import Decimal

import httpx

from cexledger import _json

from .support import BITGET_PATH, DAY_MS, FUNDING_PATH, TAX_PATH, data_of, now_ms, page_rows

FIELDS = ["id", "coin", "groupType", "type", "amount", "balance", "ts"]


def fetch_funding(sandbox, start: int, end: int, limit: int = 100, extra: str = "") -> list[bytes]:
    """All raw rows of one funding window by cursor; checks each page's cursor and shape."""
    variant = sandbox.state.variant
    rows: list[bytes] = []
    cursor, seen = None, set()
    for _ in range(10_000):
        query = f"startTime={start}&endTime={end}&limit={limit}{extra}"
        if cursor:
            query += f"&cursor={cursor}"
        response = sandbox.funding(query)
        assert response.status_code == 200, response.text
        data, page = data_of(response), page_rows(response)
        if not page:
            assert data == ({"list": []} if variant else {"list": None, "cursor": None})
            return rows
        assert len(page) <= limit
        rows += page
        cursor = data.get("cursor")
        if variant:
            if not cursor:
                return rows
            assert cursor == _json.loads(page[-1])["id"]
        else:  # opaque, on every non-empty page
            assert cursor and cursor.isdigit() and cursor != _json.loads(page[-1])["id"]
        assert cursor not in seen
        seen.add(cursor)
    raise AssertionError("paging did not end")


def windows(sandbox) -> list[tuple[int, int]]:
    now = now_ms()
    start, out = now - 90 * DAY_MS + 60_000, []
    while start <= now:
        end = min(start + 30 * DAY_MS, now + 60_000)
        out.append((start, end))
        start = end if sandbox.state.variant else end + 1  # variant: bounds exclusive
    return out


def fetch_all(sandbox, limit: int) -> list[bytes]:
    return [r for start, end in windows(sandbox) for r in fetch_funding(sandbox, start, end, limit)]


def by_id(rows: list[bytes]) -> list[bytes]:
    return sorted(rows, key=lambda r: int(_json.loads(r)["id"]))


def test_paging_to_the_end_equals_truth_in_both_dialects(either):
    fetched = fetch_all(either, limit=7)
    ids = [_json.loads(r)["id"] for r in fetched]
    assert len(ids) == len(set(ids))
    truth = either.truth_raw("bitget", "bitget-1", "funding-records")
    assert len(truth) == 100  # records // 20 inside the 90 days
    assert by_id(fetched) == truth
    # older movements exist but are never served
    assert len(either.state.bitget["bitget-1"].funding) > len(truth)


def test_rows_shape_empty_types_and_numbers_by_dialect(either):
    rows = either.truth("bitget", "bitget-1", "funding-records")
    assert all(list(r) == FIELDS and all(isinstance(v, str) for v in r.values()) for r in rows)
    assert any(r["type"] == "" for r in rows)
    assert {r["type"] for r in rows} >= {"deposit", "withdraw", "transfer_in", "transfer_out"}
    assert all(int(r["id"]) > 2**53 for r in rows)
    padded = all(len(r["amount"].partition(".")[2]) >= 8 for r in rows)
    assert padded == either.state.variant


def test_ids_do_not_grow_with_ts(either):
    rows = either.truth("bitget", "bitget-1", "funding-records")
    in_time = [int(r["id"]) for r in sorted(rows, key=lambda r: int(r["ts"]))]
    assert in_time != sorted(in_time)
    page = page_rows(either.funding("limit=100"))
    ts = [int(_json.loads(r)["ts"]) for r in page]
    assert ts == sorted(ts, reverse=not either.state.variant)  # ordered by time, not by id
    ids = [int(_json.loads(r)["id"]) for r in page]
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)


def test_balance_chain_per_coin(either):
    rows = [_json.loads(r) for r in fetch_all(either, limit=100)]
    rows.sort(key=lambda r: int(r["ts"]))
    last: dict[str, Decimal] = {}
    checked = 0
    for row in rows:
        coin, amount, balance = row["coin"], Decimal(row["amount"]), Decimal(row["balance"])
        if coin in last:
            assert last[coin] + amount == balance, row
            checked += 1
        last[coin] = balance
        assert balance >= 0
    assert checked > 80


def test_window_limit_and_parameter_errors(either):
    now = now_ms()
    status = 200 if either.state.variant else 400

    def code(query: str) -> str:
        response = either.funding(query)
        assert response.status_code == status, response.text
        return _json.loads(response.content)["code"]

    assert code(f"startTime={now - 31 * DAY_MS}&endTime={now}") == "00001"
    assert code(f"startTime={now - 95 * DAY_MS}&endTime={now - 80 * DAY_MS}") == "40705"
    assert code(f"startTime={now}&endTime={now - 1}") == "40017"
    assert code("limit=0") == code("limit=x") == code("cursor=12ab") == "40017"
    assert code("cursor=123456") == "40017"  # no row of this account
    exactly_30 = either.funding(f"startTime={now - 30 * DAY_MS}&endTime={now}")
    assert exactly_30.status_code == 200
    if not either.state.variant:
        assert code("limit=101") == "40017"


def test_default_limit_by_dialect(make_sandbox):
    for dialect, default in (("standard", 100), ("variant", 50)):
        sandbox = make_sandbox(records=100, funding_records=1000, rate_limit=False, dialect=dialect)
        assert len(page_rows(sandbox.funding(""))) == default
    # the variant's other legal choice: a limit over 100 is silently 50
    assert len(page_rows(sandbox.funding("limit=101"))) == 50


def test_cursor_continues_strictly_after_its_row_and_filters(standard):
    first = standard.funding("limit=5")
    cursor = data_of(first)["cursor"]
    second = page_rows(standard.funding(f"limit=5&cursor={cursor}"))
    whole = page_rows(standard.funding("limit=10"))
    assert page_rows(first) + second == whole
    # a row id is accepted as a cursor too, like financial records
    last_id = _json.loads(page_rows(first)[-1])["id"]
    assert page_rows(standard.funding(f"limit=5&cursor={last_id}")) == second
    deposits = [_json.loads(r) for r in page_rows(standard.funding("type=deposit&coin=usdt"))]
    assert deposits and all(r["type"] == "deposit" and r["coin"] == "USDT" for r in deposits)


def test_append_inject_and_truth_streams(make_sandbox):
    sandbox = make_sandbox(records=200, rate_limit=False)
    before = sandbox.truth_raw("bitget", "bitget-1", "funding-records")
    financial = sandbox.truth_raw("bitget", "bitget-1")
    ids = sandbox.post("/_sandbox/append", {"exchange": "bitget", "account": "bitget-1",
                                            "count": 2, "stream": "funding-records"})["ids"]
    raw = '{"id":"77","coin":"USDT","groupType":"deposit","type":"deposit","amount":"1e3"}'
    injected = sandbox.post("/_sandbox/inject-row", {"exchange": "bitget", "account": "bitget-1",
                                                     "raw": raw, "stream": "funding-records"})["id"]
    after = sandbox.truth_raw("bitget", "bitget-1", "funding-records")
    assert len(after) == len(before) + 3 and raw.encode() in after
    newest = page_rows(sandbox.funding("limit=3"))
    assert newest[0] == raw.encode()
    assert [_json.loads(r)["id"] for r in newest[1:]] == ids[::-1]
    assert sandbox.truth_raw("bitget", "bitget-1") == financial  # another stream: unchanged
    bad = sandbox.http.get("/_sandbox/truth", params={"exchange": "bitget", "account": "bitget-1",
                                                      "stream": "nope"})
    assert bad.status_code == 400


def test_cursor_loop_fault_names_the_funding_partition(make_sandbox):
    sandbox = make_sandbox(records=200, rate_limit=False)
    first = data_of(sandbox.funding("limit=3"))["cursor"]
    sandbox.post("/_sandbox/settings", {"bitget_cursor_loop": "FUNDING"})
    looped = sandbox.funding(f"limit=3&cursor={first}")
    assert page_rows(looped) == page_rows(sandbox.funding("limit=3"))
    assert data_of(looped)["cursor"] != first
    # financial records are not affected
    assert data_of(sandbox.bitget("category=SPOT&limit=3"))["cursor"]


async def burst(sandbox, path: str, n: int, tax: bool = False) -> list[httpx.Response]:
    """``n`` concurrent signed requests to ``path`` (one connection each)."""
    query = "limit=1" + ("&category=SPOT" if path == BITGET_PATH else "")
    if path == TAX_PATH:
        now = now_ms()
        query = f"bizType=SPOT&startTime={now - DAY_MS}&endTime={now}&limit=1"
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=sandbox.url, timeout=30, limits=limits) as client:
        calls = [client.get(f"{path}?{query}",
                            headers=sandbox.bitget_headers(query, path=path, tax=tax))
                 for _ in range(n)]
        return list(await asyncio.gather(*calls))


async def test_rate_limit_10_per_second_its_own_budget(make_sandbox):
    sandbox = make_sandbox(records=100)
    below = await burst(sandbox, FUNDING_PATH, 10)
    assert [r.status_code for r in below] == [200] * 10
    # the funding budget is spent; financial records have their own
    assert sandbox.bitget("category=SPOT&limit=1").status_code == 200
    over = await burst(make_sandbox(records=100), FUNDING_PATH, 14)
    statuses = Counter(r.status_code for r in over)
    assert statuses[429] >= 1 and statuses[200] >= 10 and statuses[200] + statuses[429] == 14
    body = _json.loads(next(r for r in over if r.status_code == 429).content)
    assert body["code"] == "429" and body["data"] is None


async def test_three_endpoints_three_budgets(make_sandbox):
    sandbox = make_sandbox(records=100)
    answers = await asyncio.gather(burst(sandbox, BITGET_PATH, 20), burst(sandbox, FUNDING_PATH, 10),
                                   burst(sandbox, TAX_PATH, 1, tax=True))
    assert [r.status_code for rs in answers for r in rs] == [200] * 31


def test_injected_answers_faults_log_and_rotated_keys(make_sandbox):
    sandbox = make_sandbox(records=100, rate_limit=False)
    sandbox.post("/_sandbox/inject", {"exchange": "bitget", "account": "bitget-1",
                                      "kind": "rate_limited", "retry_after": 3})
    limited = sandbox.funding("limit=1")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert sandbox.funding("limit=1").status_code == 200
    log = sandbox.http.get("/_sandbox/requests", params={"exchange": "bitget", "account": "bitget-1",
                                                         "path": FUNDING_PATH}).json()["requests"]
    assert [(e["status"], e["kind"]) for e in log] == [("429", "rate_limited"), ("200", None)]
    sandbox.post("/_sandbox/stats/reset", {})
    sandbox.post("/_sandbox/settings", {"faults": 1.0})
    for _ in range(3):
        try:
            sandbox.funding("limit=1")
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # a dropped connection is one of the faults
    assert sandbox.http.get("/_sandbox/stats").json()["faults"] == 3
    sandbox.post("/_sandbox/settings", {"faults": 0})
    rotated = sandbox.post("/_sandbox/keys", {"exchange": "bitget", "account": "bitget-1"})
    sandbox.accounts["rotated"] = rotated
    response = sandbox.funding("limit=1", account="rotated")
    assert response.status_code == 200 and page_rows(response) == page_rows(sandbox.funding("limit=1"))


def test_determinism_from_the_seed(make_sandbox):
    t0 = now_ms()
    one = make_sandbox(records=300, seed=5, t0_ms=t0).state
    two = make_sandbox(records=300, seed=5, t0_ms=t0).state
    other = make_sandbox(records=300, seed=6, t0_ms=t0).state
    truth = one.truth("bitget", "bitget-1", "funding-records")
    assert truth and truth == two.truth("bitget", "bitget-1", "funding-records")
    assert truth != other.truth("bitget", "bitget-1", "funding-records")
    # the funding wallet has its own RNG: the financial records are those of a sandbox
    # without any funding rows
    bare = make_sandbox(records=300, seed=5, t0_ms=t0, funding_records=0).state
    assert bare.truth("bitget", "bitget-1") == one.truth("bitget", "bitget-1")
    assert bare.truth("bitget", "bitget-1", "funding-records") == []


def test_per_coin_chain_over_the_whole_store(standard):
    funding = standard.state.bitget["bitget-1"].funding
    balance: dict[str, int] = defaultdict(int)
    for coin, _group, _type, amount, after in funding.rows:
        balance[coin] += amount
        assert balance[coin] == after >= 0


def test_rows_sharing_a_ts_page_without_loss(make_sandbox):
    sandbox = make_sandbox(records=100, funding_records=10, rate_limit=False)
    ids = sandbox.post("/_sandbox/append", {"exchange": "bitget", "account": "bitget-1",
                                            "count": 40, "stream": "funding-records"})["ids"]
    funding = sandbox.state.bitget["bitget-1"].funding
    times = [funding.ts[funding.position(int(i))] for i in ids]
    assert len(set(times)) < 40
    fetched = fetch_funding(sandbox, min(times), max(times) + 1, limit=3)
    fetched_ids = [_json.loads(r)["id"] for r in fetched]
    assert len(fetched_ids) == len(set(fetched_ids)) and set(ids) <= set(fetched_ids)
