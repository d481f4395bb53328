"""Bitget window planning: the last 90 days covered with no gap and no overlap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cexledger.exchanges import _windows
from cexledger.exchanges._windows import EDGE_MARGIN_MS, OVERLAP_MS, _Trail, subtract
from cexledger.exchanges.bitget.streams import FINANCIAL

RETENTION_MS = FINANCIAL.retention_ms
WINDOW_MS = FINANCIAL.window_ms - 1     # the window grid: the longest span less 1 ms
PAGE_LIMIT = 100


def wanted_range(now):
    return _windows.wanted_range(now, RETENTION_MS)


def plan_gaps(now, coverage, in_progress):
    return _windows.plan_gaps(now, coverage, in_progress, retention_ms=RETENTION_MS, grid_ms=WINDOW_MS)


def plan_windows(start, end):
    return _windows.plan_windows(start, end, WINDOW_MS)


def split_remainder(trail, start, end, **kwargs):
    return _windows.split_remainder(trail, start, end, PAGE_LIMIT, **kwargs)

NOW = st.integers(min_value=1_600_000_000_000, max_value=2_000_000_000_000)


def assert_partition(windows, start, end):
    assert windows, "no windows"
    assert windows[0][0] == start and windows[-1][1] == end
    for (s1, e1), (s2, e2) in zip(windows, windows[1:]):
        assert e1 == s2, "gap or overlap between windows"
    for s, e in windows:
        assert 0 < e - s <= WINDOW_MS
        assert e - (s - 1) <= 30 * 86_400_000, "requested as [s-1, e]: must not exceed 30 days"


@given(NOW)
def test_fresh_plan_covers_retention_exactly(now):
    start, end = wanted_range(now)
    assert end - start == RETENTION_MS - EDGE_MARGIN_MS
    windows = plan_gaps(now, [], [])
    assert_partition(windows, start, end)
    assert len(windows) <= 4
    for s, e in windows[:-1]:
        assert e % WINDOW_MS == 0, "inner boundaries sit on the 30-day grid"


@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=1, max_value=200 * 86_400_000))
def test_plan_windows_partition(start, length):
    assert_partition(plan_windows(start, start + length), start, start + length)


@given(NOW, st.lists(st.tuples(st.integers(0, RETENTION_MS), st.integers(1, RETENTION_MS // 3)), max_size=6))
def test_gaps_and_coverage_partition_the_wanted_range(now, spans):
    start, end = wanted_range(now)
    coverage = sorted((start + a, min(end, start + a + b)) for a, b in spans)
    merged = []
    for s, e in coverage:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    gaps = plan_gaps(now, merged, [])
    # the newest OVERLAP of coverage is re-read; everything else is read exactly once
    held = list(merged)
    if held:
        s, e = held[-1]
        held[-1] = (s, max(s, min(e, end) - OVERLAP_MS))
    pieces = sorted([w for w in gaps] + [(max(s, start), min(e, end)) for s, e in held if min(e, end) > max(s, start)])
    total = sum(e - s for s, e in pieces)
    assert total == end - start
    for (s1, e1), (s2, e2) in zip(pieces, pieces[1:]):
        assert e1 <= s2, "a range would be fetched twice"
    for s, e in gaps:
        assert e - s <= WINDOW_MS


def test_subtract():
    assert subtract([(0, 10)], [(2, 4), (6, 7)]) == [(0, 2), (4, 6), (7, 10)]
    assert subtract([(0, 10)], [(-5, 20)]) == []


def trail(*pages):
    t = _Trail()
    for page in pages:
        t.extend(list(page))
    return t


def test_split_newest_first_keeps_edge_timestamp_in_remainder():
    end = 30 * 86_400_000
    page = list(range(end - 1, end - 1 - 100 * 60_000, -60_000))   # one row a minute
    covered, parts = split_remainder(trail(page), 0, end)
    edge = page[-1]
    assert covered == (edge + 1, end)
    assert parts[0][0] == 0 and parts[-1][1] == edge + 1
    assert all(b > a for a, b in parts) and all(p[1] == q[0] for p, q in zip(parts, parts[1:]))


def test_split_after_several_pages_covers_all_pages_read():
    end = 30 * 86_400_000
    first = list(range(end - 1, end - 1 - 100 * 1000, -1000))
    second = list(range(first[-1], first[-1] - 100 * 1000, -1000))    # starts on the edge ms
    t = trail(first, second)
    assert t.rows == 200 and t.order == -1
    covered, parts = split_remainder(t, 0, end, max_parts=3)
    assert covered == (second[-1] + 1, end) and len(parts) == 3


def test_split_oldest_first():
    page = list(range(0, 100 * 60_000, 60_000))
    covered, parts = split_remainder(trail(page), 0, 30 * 86_400_000)
    assert covered == (0, page[-1])
    assert parts[0][0] == page[-1] and parts[-1][1] == 30 * 86_400_000


def test_no_split_for_same_timestamp_unordered_sparse_or_no_room():
    assert split_remainder(trail([5] * 100), 0, 10**9) is None
    assert split_remainder(trail([1, 3, 2] * 30), 0, 10**9) is None
    assert split_remainder(trail(range(100, 0, -1), range(200, 100, -1)), 0, 10**9) is None  # order flipped
    sparse = range(10**9 - 1, 10**9 - 1 - 100 * 10**6, -10**6)
    assert split_remainder(trail(sparse), 10**9 - 200 * 10**6, 10**9) is None
    dense = range(10**9 - 1, 10**9 - 101, -1)
    assert split_remainder(trail(dense), 0, 10**9, max_parts=1) is None


def test_status_safe_days_counts_holes():
    from cexledger.retention import first_uncovered, safe_days
    from cexledger.archive import StreamSummary
    from cexledger.model import StreamKey

    day = 86_400_000
    now = 1_800_000_000_000
    key = StreamKey("a", "bitget", "financial-records", "SPOT")
    whole = StreamSummary(key, 5, now - 80 * day, now - day, [(now - 90 * day + 600_000, now)], now)
    assert round(safe_days(whole, now)) == 90
    holed = StreamSummary(key, 5, now - 80 * day, now - day,
                          [(now - 90 * day + 600_000, now - 70 * day), (now - 60 * day, now)], now)
    assert round(safe_days(holed, now)) == 20          # the hole at -70 d expires in 20 days
    assert first_uncovered([(0, 5), (5, 9), (12, 20)], 0, 30) == 9
