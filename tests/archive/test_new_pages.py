"""A stream that is filling: on PostgreSQL its next page is copied with no lookup first.

``Archive.write_page`` passes ``expect_new`` when the stream's previous page brought new
records; the page is then copied under a savepoint and falls back to the lookup when the
primary key finds a record already there. These tests check that the outcome never
depends on the guess (both backends), that the lookup is really skipped and really taken
again (PostgreSQL), and that no other error is mistaken for "already there".
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger.archive import Archive, WriteResult, writes
from cexledger.model import Kind, LedgerEntry

from .support import KEY, make_record

_PG = pytest.mark.parametrize("archive_url", ["postgresql"], indirect=True)


def _page(*ids: int, raw_of: dict[int, bytes] | None = None) -> list:
    raw_of = raw_of or {}
    return [make_record(i, 1_700_000_000_000 + i, raw=raw_of.get(i), amounts=(f"-{i}.5", "0.01")) for i in ids]


def test_a_filling_stream_meeting_known_records_writes_them_as_before(archive: Archive) -> None:
    changed = b'{"id":"5","state":"changed"}'
    assert archive.write_page(KEY, _page(1, 2, 3)) == WriteResult(3, 0, 0)
    assert archive.write_page(KEY, _page(4, 5)) == WriteResult(2, 0, 0)
    # known (3), changed (5) and new (6) in one page, the stream filling until now
    assert archive.write_page(KEY, _page(3, 5, 6, raw_of={5: changed})) == WriteResult(1, 1, 1)
    assert archive.write_page(KEY, _page(7, 7, 8)) == WriteResult(2, 0, 0)       # a repeated id
    assert archive.write_page(KEY, _page(9)) == WriteResult(1, 0, 0)

    assert archive.count_records() == 9
    assert archive.versions(KEY, "5") == [_page(5)[0].raw, changed]
    expected = [e for i in range(1, 10) for e in (_page(i, raw_of={5: changed})[0].entries)]
    assert sorted(archive.iter_entries(), key=lambda e: (int(e.record_id), e.seq)) == expected


@_PG
def test_the_lookup_is_skipped_while_a_stream_fills_and_taken_after_a_page_of_known_records(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[list[str]] = []
    real = writes._existing

    def counted(cur, sid, ids):  # type: ignore[no-untyped-def]
        lookups.append(list(ids))
        return real(cur, sid, ids)

    monkeypatch.setattr(writes, "_existing", counted)
    archive.write_page(KEY, _page(1, 2))        # the stream's first page here: looked up
    archive.write_page(KEY, _page(3, 4))        # filling: copied straight
    archive.write_page(KEY, _page(4, 5))        # 4 is there: the copy is undone, then looked up
    archive.write_page(KEY, _page(6))           # 5 was new: still filling, copied straight
    archive.write_page(KEY, _page(5, 6))        # all known: undone, looked up
    archive.write_page(KEY, _page(7))           # nothing new last time: looked up
    archive.write_page(KEY, _page(8))           # filling again: copied straight
    assert lookups == [["1", "2"], ["4", "5"], ["5", "6"], ["7"]]
    assert archive.count_records() == 8


@_PG
def test_a_record_another_writer_archived_meanwhile_is_found(archive_url: str) -> None:
    with Archive.open(archive_url) as mine, Archive.open(archive_url) as other:
        mine.write_page(KEY, _page(1))
        mine.write_page(KEY, _page(2))                          # mine: the stream is filling
        other.write_page(KEY, _page(3, raw_of={3: b'{"id":"3","v":1}'}))
        assert mine.write_page(KEY, _page(3, 4)) == WriteResult(1, 1, 0)
        assert mine.versions(KEY, "3") == [b'{"id":"3","v":1}', _page(3)[0].raw]
        assert mine.count_records() == 4


@_PG
def test_any_other_failure_of_a_straight_copy_is_raised_and_writes_nothing(archive: Archive) -> None:
    archive.write_page(KEY, _page(1))
    archive.write_page(KEY, _page(2))                           # filling
    bad = make_record(3)
    bad.entries[0] = LedgerEntry("someone-else", KEY.exchange, KEY.stream, "3", 0, 1, Kind.FEE, "USDT", Decimal(1))
    with pytest.raises(ValueError, match="does not belong"):
        archive.write_page(KEY, [make_record(4), bad])
    assert sorted(r.record_id for r in archive.iter_records()) == ["1", "2"]
    assert archive.write_page(KEY, _page(3, 4)) == WriteResult(2, 0, 0)
