"""Invariant 5: coverage is exactly the union of the covered ranges, sorted and disjoint."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cexledger.archive import Archive
from cexledger.model import StreamKey

from .support import KEY

_partitions = itertools.count()


def union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Reference: merge half-open intervals that overlap or touch."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


intervals_strategy = st.lists(
    st.tuples(st.integers(0, 300), st.integers(1, 40)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(intervals=intervals_strategy)
def test_coverage_is_the_union_of_covered_intervals(archive: Archive, intervals: list[tuple[int, int]]) -> None:
    key = StreamKey("acct", "bitget", "financial-records", f"p{next(_partitions)}")
    for interval in intervals:
        archive.write_page(key, [], cover=interval)
    stored = archive.coverage(key)
    assert stored == union(intervals)
    points = {p for start, end in intervals for p in range(start, end)}
    assert {p for start, end in stored for p in range(start, end)} == points
    assert all(a < b < c for (_, a), (b, c) in zip(stored, stored[1:]))  # disjoint, not touching, sorted


def test_touching_intervals_merge_and_gaps_stay(archive: Archive) -> None:
    archive.write_page(KEY, [], cover=(10, 20))
    archive.write_page(KEY, [], cover=(20, 30))
    assert archive.coverage(KEY) == [(10, 30)]
    archive.write_page(KEY, [], cover=(31, 40))
    archive.write_page(KEY, [], cover=(0, 9))
    assert archive.coverage(KEY) == [(0, 9), (10, 30), (31, 40)]
    archive.write_page(KEY, [], cover=(12, 13))  # inside: nothing changes
    assert archive.coverage(KEY) == [(0, 9), (10, 30), (31, 40)]
    archive.write_page(KEY, [], cover=(5, 35))  # bridges all three
    assert archive.coverage(KEY) == [(0, 40)]


def test_millisecond_timestamps_and_separate_streams(archive: Archive) -> None:
    other = StreamKey(KEY.account, KEY.exchange, KEY.stream, "SPOT")
    day = 86_400_000
    archive.write_page(KEY, [], cover=(1_700_000_000_000, 1_700_000_000_000 + 30 * day))
    archive.write_page(other, [], cover=(1, 2))
    assert archive.coverage(KEY) == [(1_700_000_000_000, 1_700_000_000_000 + 30 * day)]
    assert archive.coverage(other) == [(1, 2)]
    assert archive.coverage(StreamKey("nobody", "x", "y", "z")) == []
