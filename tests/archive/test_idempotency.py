"""Invariant 3: re-writing changes nothing; a changed record keeps its earlier versions."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cexledger.archive import Archive, WriteResult
from cexledger.model import StreamKey

from .support import KEY, make_record

_accounts = itertools.count()


def snapshot(archive: Archive, account: str) -> dict[str, Any]:
    """Everything the archive shows for one account."""
    records = list(archive.iter_records(account=account))
    return {
        "records": [(r.key, r.record_id, r.ts, r.raw, r.version) for r in records],
        "entries": list(archive.iter_entries(account=account)),
        "versions": {r.record_id: archive.versions(r.key, r.record_id) for r in records},
        "count": archive.count_records(account),
        "mutable": {r.key: archive.mutable_ids(r.key) for r in records},
    }


pages_strategy = st.lists(  # pages of (id, ts, mutable) drawn from a small id pool, so pages overlap
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5), st.booleans()), max_size=12),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pages=pages_strategy, order=st.randoms(use_true_random=False), guesses=st.lists(st.booleans(), min_size=12, max_size=12))
def test_rewriting_pages_in_any_order_changes_nothing(archive: Archive, pages: list[list[tuple[int, int, bool]]], order: Any,
                                                      guesses: list[bool]) -> None:
    """Whatever the writer's guess that a page is new (``expect_new``), right or wrong."""
    key = StreamKey(f"acct{next(_accounts)}", "coinw", "deals-history", "BTC")
    # One record per id (raw, ts, flag and entries fixed at its first draw): pages agree.
    records = {}
    for page in pages:
        for rid, ts, mutable in page:
            if rid not in records:
                records[rid] = make_record(2435521222632017955 + rid, ts, key=key, mutable=mutable,
                                           amounts=(f"-{rid}.000000000000000001", f"{ts}"))
    built = [[records[rid] for rid, _, _ in page] for page in pages]

    results = [archive.write_page(key, page, expect_new=guess) for page, guess in zip(built, guesses)]
    assert sum(r.new for r in results) == len(records)
    assert all(r.updated == 0 for r in results)
    before = snapshot(archive, key.account)
    assert before["count"] == len(records)

    shuffled = list(built)
    order.shuffle(shuffled)
    for page, guess in zip(shuffled, guesses[len(shuffled):]):
        result = archive.write_page(key, page, expect_new=guess)
        assert result == WriteResult(new=0, updated=0, unchanged=len({r.record_id for r in page}))
    assert snapshot(archive, key.account) == before


def test_changed_raw_keeps_the_previous_version_and_replaces_entries(archive: Archive) -> None:
    v1 = make_record(7, 1000, raw=b'{"id":7,"state":"open"}', amounts=("1.5", "-0.1"), mutable=True)
    v2 = make_record(7, 2000, raw=b'{"id":7,"state":"closed"}', amounts=("2.25",))
    assert archive.write_page(KEY, [v1]) == WriteResult(1, 0, 0)
    assert archive.mutable_ids(KEY) == {"7": 1000}

    assert archive.write_page(KEY, [v2]) == WriteResult(0, 1, 0)
    assert archive.versions(KEY, "7") == [v1.raw, v2.raw]
    [latest] = list(archive.iter_records())
    assert (latest.raw, latest.ts, latest.version) == (v2.raw, 2000, 2)
    assert list(archive.iter_entries()) == v2.entries
    assert archive.mutable_ids(KEY) == {}
    assert archive.count_records() == 1

    # Writing v2 again is a no-op; an exchange flipping back to v1 is one more version.
    assert archive.write_page(KEY, [v2]) == WriteResult(0, 0, 1)
    assert archive.write_page(KEY, [v1]) == WriteResult(0, 1, 0)
    assert archive.versions(KEY, "7") == [v1.raw, v2.raw, v1.raw]
    assert [r.version for r in archive.iter_records()] == [3]
    assert list(archive.iter_entries()) == v1.entries


def test_duplicate_ids_in_one_page_last_occurrence_wins(archive: Archive) -> None:
    a1 = make_record(1, raw=b'{"id":1,"v":"first"}')
    a2 = make_record(1, raw=b'{"id":1,"v":"last"}', amounts=("9",))
    b = make_record(2)
    assert archive.write_page(KEY, [a1, b, a2, b]) == WriteResult(2, 0, 0)
    assert archive.versions(KEY, "1") == [a2.raw]
    assert [e.amount for e in archive.iter_entries() if e.record_id == "1"] == [a2.entries[0].amount]

    # Against stored rows: a duplicate pair that ends on the stored bytes is unchanged.
    assert archive.write_page(KEY, [a1, a2]) == WriteResult(0, 0, 1)
    assert archive.write_page(KEY, [a2, a1]) == WriteResult(0, 1, 0)
    assert archive.versions(KEY, "1") == [a2.raw, a1.raw]


def test_same_raw_with_a_new_mutable_flag_only_updates_the_flag(archive: Archive) -> None:
    open_row = make_record(5, 10, mutable=True)
    archive.write_page(KEY, [open_row, make_record(6, 11)])
    assert archive.mutable_ids(KEY) == {"5": 10}
    settled = make_record(5, 10, mutable=False)
    assert archive.write_page(KEY, [settled]) == WriteResult(0, 0, 1)
    assert archive.mutable_ids(KEY) == {}
    assert archive.versions(KEY, "5") == [open_row.raw]


def test_same_record_id_in_two_streams_are_two_records(archive: Archive) -> None:
    other = StreamKey(KEY.account, KEY.exchange, KEY.stream, "SPOT")
    archive.write_page(KEY, [make_record(1, raw=b"futures")])
    archive.write_page(other, [make_record(1, key=other, raw=b"spot")])
    assert [(r.key.partition, r.raw) for r in archive.iter_records()] == [("SPOT", b"spot"), ("USDT-FUTURES", b"futures")]
    assert archive.versions(KEY, "1") == [b"futures"]
    assert len(list(archive.iter_entries())) == 2


def test_large_page_spanning_several_lookup_chunks(archive: Archive) -> None:
    page = [make_record(i, i) for i in range(1300)]
    assert archive.write_page(KEY, page) == WriteResult(1300, 0, 0)
    assert archive.write_page(KEY, page[::-1]) == WriteResult(0, 0, 1300)
    changed = [make_record(i, i, raw=b"v2") for i in range(0, 1300, 2)]
    assert archive.write_page(KEY, changed + page[1::2]) == WriteResult(0, 650, 650)
    assert archive.count_records() == 1300
