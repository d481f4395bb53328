"""Invariant 4: a page's records, entries, checkpoint and coverage commit together or not at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger.archive import Archive, WriteResult, coverage
from cexledger.errors import ArchiveError
from cexledger.model import Kind, LedgerEntry, StreamKey

from .support import KEY, make_record


class Boom(Exception):
    """The simulated crash."""


def _raise(*args: object) -> None:
    raise Boom


@pytest.fixture
def failing_cover(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the coverage step do its inserts and then fail, as a crash mid-transaction would."""
    real_add = coverage.add

    def add_then_fail(*args: object) -> None:
        real_add(*args)  # type: ignore[arg-type]
        raise Boom

    monkeypatch.setattr(coverage, "add", add_then_fail)


def test_failure_inside_the_transaction_leaves_nothing_of_the_page(archive: Archive, failing_cover: None) -> None:
    with pytest.raises(Boom):
        archive.write_page(KEY, [make_record(1), make_record(2)], slot="w1", state={"cursor": "2"}, cover=(0, 100))
    assert archive.count_records() == 0
    assert list(archive.iter_records()) == []
    assert list(archive.iter_entries()) == []
    assert archive.checkpoints() == []
    assert archive.coverage(KEY) == []
    assert archive.streams() == []


def test_after_a_failed_page_a_retry_writes_it_whole(archive: Archive, monkeypatch: pytest.MonkeyPatch, failing_cover: None) -> None:
    with pytest.raises(Boom):
        archive.write_page(KEY, [make_record(1)], slot="w1", state={"cursor": "1"}, cover=(0, 100))
    monkeypatch.undo()
    # The stream row made by the failed transaction is gone; the archive must not reuse its id.
    assert archive.write_page(KEY, [make_record(1)], slot="w1", state={"cursor": "1"}, cover=(0, 100)) == WriteResult(1, 0, 0)
    assert archive.count_records() == 1
    assert [(c.slot, c.state) for c in archive.checkpoints()] == [("w1", {"cursor": "1"})]
    assert archive.coverage(KEY) == [(0, 100)]


def test_failed_update_keeps_the_previous_state_of_an_existing_stream(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2 = make_record(1, raw=b"v1"), make_record(1, raw=b"v2", amounts=("7",))
    archive.write_page(KEY, [v1], slot="w1", state={"page": 1}, cover=(0, 10))
    before = (list(archive.iter_entries()), archive.checkpoints(), archive.streams())

    monkeypatch.setattr(coverage, "add", _raise)
    with pytest.raises(Boom):
        archive.write_page(KEY, [v2, make_record(2)], slot="w1", state={"page": 2}, cover=(10, 20))
    assert archive.versions(KEY, "1") == [b"v1"]
    assert (list(archive.iter_entries()), archive.checkpoints(), archive.streams()) == before


def test_done_deletes_the_checkpoint_in_the_same_transaction(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    archive.write_page(KEY, [make_record(1)], slot="w1", state={"page": 1})
    archive.write_page(KEY, [make_record(2)], slot="w2", state={"page": 1})
    monkeypatch.setattr(coverage, "add", _raise)
    with pytest.raises(Boom):
        archive.write_page(KEY, [make_record(3)], slot="w1", done=True, cover=(0, 5))
    assert [c.slot for c in archive.checkpoints()] == ["w1", "w2"]
    monkeypatch.undo()
    archive.write_page(KEY, [make_record(3)], slot="w1", done=True, cover=(0, 5))
    assert [c.slot for c in archive.checkpoints()] == ["w2"]
    assert archive.count_records() == 3


def test_a_database_error_mid_page_is_an_archive_error_and_rolls_back(archive: Archive) -> None:
    bad = make_record(2)
    entry = bad.entries[0]
    bad.entries.append(LedgerEntry(entry.account, entry.exchange, entry.stream, "2", entry.seq, 1, Kind.FEE, "USDT", Decimal(1)))
    with pytest.raises(ArchiveError) as caught:
        archive.write_page(KEY, [make_record(1), bad], slot="w", state={}, cover=(0, 1))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("cannot write to archive ")
    assert archive.count_records() == 0 and archive.checkpoints() == [] and archive.coverage(KEY) == []


def test_slot_state_and_cover_arguments_are_checked(archive: Archive) -> None:
    for bad in [(5, 5), (6, 5), (0.0, 1), (True, 3)]:
        with pytest.raises(ValueError, match="cover"):
            archive.write_page(KEY, [], cover=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slot"):
        archive.write_page(KEY, [], state={"a": 1})
    with pytest.raises(ValueError, match="slot"):
        archive.write_page(StreamKey("x", "y", "z", "w"), [], done=True)
    assert archive.streams() == []
