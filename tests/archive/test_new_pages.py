"""``write_page(..., expect_new=True)``: on PostgreSQL the page is copied with no lookup first.

The sync engine passes it when the stream's previous page in the run brought new records
(``NewPages``); the page is then copied under a savepoint and falls back to the lookup when
the primary key finds a record already there. These tests check that the outcome never
depends on the guess (both backends), that the lookup is really skipped and really taken
(PostgreSQL), and that no other error is mistaken for "already there".
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger.archive import Archive, NewPages, WriteResult, writes
from cexledger.model import Kind, LedgerEntry, StreamKey

from .support import KEY, make_record

_PG = pytest.mark.parametrize("archive_url", ["postgresql"], indirect=True)


def _page(*ids: int, raw_of: dict[int, bytes] | None = None) -> list:
    raw_of = raw_of or {}
    return [make_record(i, 1_700_000_000_000 + i, raw=raw_of.get(i), amounts=(f"-{i}.5", "0.01")) for i in ids]


@pytest.mark.parametrize("expect_new", [True, False])
def test_pages_expected_new_that_are_not_are_written_as_any_page(archive: Archive, expect_new: bool) -> None:
    changed = b'{"id":"5","state":"changed"}'

    def write(page: list) -> WriteResult:
        return archive.write_page(KEY, page, expect_new=expect_new)

    assert write(_page(1, 2, 3)) == WriteResult(3, 0, 0)
    assert write(_page(4, 5)) == WriteResult(2, 0, 0)
    assert write(_page(3, 5, 6, raw_of={5: changed})) == WriteResult(1, 1, 1)   # known, changed, new
    assert write(_page(7, 7, 8)) == WriteResult(2, 0, 0)                        # a repeated id
    assert write(_page(9)) == WriteResult(1, 0, 0)

    assert archive.count_records() == 9
    assert archive.versions(KEY, "5") == [_page(5)[0].raw, changed]
    expected = [e for i in range(1, 10) for e in (_page(i, raw_of={5: changed})[0].entries)]
    assert sorted(archive.iter_entries(), key=lambda e: (int(e.record_id), e.seq)) == expected


@_PG
def test_the_lookup_is_skipped_for_a_page_expected_new_and_taken_when_one_is_known(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[list[str]] = []
    real = writes._existing

    def counted(cur, sid, ids):  # type: ignore[no-untyped-def]
        lookups.append(list(ids))
        return real(cur, sid, ids)

    monkeypatch.setattr(writes, "_existing", counted)
    archive.write_page(KEY, _page(1, 2))                       # not expected new: looked up
    archive.write_page(KEY, _page(3, 4), expect_new=True)      # copied straight
    archive.write_page(KEY, _page(4, 5), expect_new=True)      # 4 is there: undone, looked up
    assert lookups == [["1", "2"], ["4", "5"]]
    assert archive.count_records() == 5


def test_a_run_expects_a_new_page_after_a_page_that_brought_new_records() -> None:
    other = StreamKey(KEY.account, KEY.exchange, KEY.stream, "SPOT")
    guess = NewPages()
    assert not guess.expected(KEY)
    guess.written(KEY, WriteResult(3, 0, 0))
    assert guess.expected(KEY) and not guess.expected(other)
    guess.written(KEY, WriteResult(0, 0, 0))                   # an empty page says nothing
    assert guess.expected(KEY)
    guess.written(KEY, WriteResult(1, 0, 2))                   # some new: still filling
    assert guess.expected(KEY)
    guess.written(KEY, WriteResult(0, 1, 1))                   # nothing new: a re-sync's page
    assert not guess.expected(KEY)
    assert not NewPages().expected(KEY)                         # a new run starts with no guess


@_PG
def test_a_record_another_writer_archived_meanwhile_is_found(archive_url: str) -> None:
    with Archive.open(archive_url) as mine, Archive.open(archive_url) as other:
        mine.write_page(KEY, _page(1))
        other.write_page(KEY, _page(3, raw_of={3: b'{"id":"3","v":1}'}))
        assert mine.write_page(KEY, _page(3, 4), expect_new=True) == WriteResult(1, 1, 0)
        assert mine.versions(KEY, "3") == [b'{"id":"3","v":1}', _page(3)[0].raw]
        assert mine.count_records() == 3


@_PG
def test_any_other_failure_of_a_straight_copy_is_raised_and_writes_nothing(archive: Archive) -> None:
    archive.write_page(KEY, _page(1, 2))
    bad = make_record(3)
    bad.entries[0] = LedgerEntry("someone-else", KEY.exchange, KEY.stream, "3", 0, 1, Kind.FEE, "USDT", Decimal(1))
    with pytest.raises(ValueError, match="does not belong"):
        archive.write_page(KEY, [make_record(4), bad], expect_new=True)
    assert sorted(r.record_id for r in archive.iter_records()) == ["1", "2"]
    assert archive.write_page(KEY, _page(3, 4), expect_new=True) == WriteResult(2, 0, 0)
