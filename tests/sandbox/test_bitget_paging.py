"""Bitget paging: every row exactly once, end-of-paging shapes, order and window edges."""

from __future__ import annotations

from collections import Counter

import pytest

from cexledger import _json

from .support import DAY_MS, data_of, now_ms, page_rows

CATEGORIES = ("SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER")


def fetch_window(sandbox, category: str, start: int, end: int, limit: int = 100) -> list[bytes]:
    """All raw rows of one window by cursor; fails on a repeated cursor or a bad page shape."""
    variant = sandbox.state.variant
    rows: list[bytes] = []
    cursor = None
    seen_cursors = set()
    for _ in range(10_000):
        query = f"category={category}&startTime={start}&endTime={end}&limit={limit}"
        if cursor:
            query += f"&cursor={cursor}"
        response = sandbox.bitget(query)
        assert response.status_code == 200, response.text
        data = data_of(response)
        page = page_rows(response)
        if not page:
            assert data == ({"list": []} if variant else {"list": None, "cursor": None})
            return rows
        rows += page
        if variant:
            cursor = data.get("cursor")
            assert cursor != "", "variant never sends an empty cursor"
            if not cursor:
                return rows
            assert cursor == _json.loads(page[-1])["id"]
        else:
            # as live: every non-empty page, the last one too, carries an opaque cursor
            cursor = data["cursor"]
            assert cursor and cursor.isdigit()
            assert cursor != _json.loads(page[-1])["id"]
        assert cursor not in seen_cursors
        seen_cursors.add(cursor)
    raise AssertionError("paging did not end")


def windows(sandbox) -> list[tuple[int, int]]:
    """Non-overlapping <= 30-day windows covering the servable range, in the dialect's terms."""
    now = now_ms()
    start = now - 90 * DAY_MS + 60_000
    out = []
    while start <= now:
        end = min(start + 30 * DAY_MS, now + 60_000)
        out.append((start, end))
        start = end if sandbox.state.variant else end + 1  # variant: endTime exclusive
    return out


def test_full_paging_equals_truth_byte_for_byte(either):
    fetched: list[bytes] = []
    for category in CATEGORIES:
        for start, end in windows(either):
            fetched += fetch_window(either, category, start, end)
    ids = [_json.loads(r)["id"] for r in fetched]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates
    truth = either.truth_raw("bitget", "bitget-1")
    assert len(truth) > 1900
    assert sorted(fetched, key=lambda r: int(_json.loads(r)["id"])) == truth


def test_same_ts_cluster_of_250_plus_pages_without_loss(either):
    truth = either.truth("bitget", "bitget-1")
    by_ts = Counter((r["category"], r["ts"]) for r in truth)
    (category, ts), size = by_ts.most_common(1)[0]
    assert size >= 250
    ts = int(ts)
    fetched = fetch_window(either, category, ts - 1, ts + 1, limit=100)
    cluster = {r["id"] for r in truth if r["ts"] == str(ts) and r["category"] == category}
    got = [_json.loads(r)["id"] for r in fetched]
    assert len(got) == len(set(got)) == len(cluster)
    assert set(got) == cluster


def test_order_and_cursor_semantics(either):
    variant = either.state.variant
    end = now_ms()
    response = either.bitget(f"category=USDT-FUTURES&startTime={end - 30 * DAY_MS}&endTime={end}&limit=100")
    rows = [_json.loads(r) for r in page_rows(response)]
    keys = [(int(r["ts"]), int(r["id"])) for r in rows]
    assert keys == sorted(keys, reverse=not variant)
    cursor = data_of(response)["cursor"]
    assert (cursor == rows[-1]["id"]) is variant      # standard: opaque, as live
    after = either.bitget(f"category=USDT-FUTURES&startTime={end - 30 * DAY_MS}&endTime={end}&limit=100&cursor={cursor}")
    nxt = [(int(r["ts"]), int(r["id"])) for r in map(_json.loads, page_rows(after))]
    assert nxt and (nxt[0] < keys[-1] if not variant else nxt[0] > keys[-1])


def test_standard_end_of_paging_shapes(standard):
    none = standard.bitget("category=SPOT&coin=NOSUCHCOIN")
    assert b'"data":{"list":null,"cursor":null}' in none.content
    last = standard.bitget("category=OTHER&type=SOME_NEW_TYPE_2026&limit=100")
    data = data_of(last)
    # as live: the last page still carries a cursor, and following it gives an empty page
    assert data["list"] and data["cursor"].isdigit()
    exhausted = standard.bitget(f"category=OTHER&type=SOME_NEW_TYPE_2026&limit=100&cursor={data['cursor']}")
    assert b'"data":{"list":null,"cursor":null}' in exhausted.content
    # a row id still works as a cursor (ccxt pages the live API by the last row's id)
    by_row_id = standard.bitget(f"category=OTHER&type=SOME_NEW_TYPE_2026&limit=100&cursor={data['list'][-1]['id']}")
    assert b'"data":{"list":null,"cursor":null}' in by_row_id.content
    unknown = standard.bitget("category=OTHER&cursor=12345")
    assert _json.loads(unknown.content)["code"] == "40017"
    assert data_of(standard.bitget("category=OTHER&type=SOME_NEW_TYPE_2026&cursor="))["list"] == data["list"]


def test_variant_end_of_paging_shapes(variant):
    none = variant.bitget("category=SPOT&coin=NOSUCHCOIN")
    assert b'"data":{"list":[]}' in none.content
    last = data_of(variant.bitget("category=OTHER&type=SOME_NEW_TYPE_2026&limit=50"))
    assert last["list"] and "cursor" not in last
    middle = data_of(variant.bitget("category=USDT-FUTURES&limit=5"))
    assert middle["cursor"] == middle["list"][-1]["id"]


def test_bounds_inclusive_in_standard_exclusive_in_variant(either):
    variant = either.state.variant
    t0 = either.state.t0
    boundary = t0 - 30 * DAY_MS
    ids_at = {r["id"] for r in either.truth("bitget", "bitget-1")
              if r["ts"] == str(boundary) and r["category"] == "SPOT"}
    assert ids_at
    before = fetch_window(either, "SPOT", boundary - DAY_MS, boundary)
    after = fetch_window(either, "SPOT", boundary, boundary + DAY_MS)
    before_ids = {_json.loads(r)["id"] for r in before}
    after_ids = {_json.loads(r)["id"] for r in after}
    # standard: both bounds inclusive; variant: both exclusive (the row on the boundary is
    # in neither window: a client must overlap its requests to be safe with such a server)
    assert (ids_at <= after_ids) is (not variant)
    assert (ids_at <= before_ids) is (not variant)
    assert not variant or not (ids_at & (before_ids | after_ids))


@pytest.mark.parametrize("coin", ["USDT", "usdt"])
def test_coin_and_type_filters(standard, coin):
    rows = [_json.loads(r) for r in page_rows(standard.bitget(f"category=SPOT&coin={coin}&limit=100"))]
    assert rows and all(r["coin"] == "USDT" for r in rows)
    rows = [_json.loads(r) for r in page_rows(standard.bitget("category=SPOT&type=TRANSFER_IN&limit=100"))]
    assert rows and all(r["type"] == "TRANSFER_IN" for r in rows)
