"""Issue 8, the archive's side: a refused database is never changed, byte for byte; a damaged
SQLite file is refused in one line with what to do; read-only opens; whole writes; the count
of records that CSV and Parquet exports have no row for."""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cexledger.archive import Archive, migrate
from cexledger.errors import ArchiveError
from cexledger.export import write_csv, write_jsonl, write_parquet
from cexledger.model import Record, StreamKey

from .support import KEY, make_record

OTHER = StreamKey("other", "coinw", "deals-history", "BTC")


def build_archive(path: Path, records: int = 400, *, journal: str = "wal") -> None:
    """A real archive of ``records`` Bitget records (raw padded, so it spans many pages)."""
    with Archive.open(f"sqlite:///{path}") as archive:
        for start in range(0, records, 200):
            page = [make_record(i, 1_700_000_000_000 + i, raw=b'{"id":"%d","pad":"%s"}' % (i, b"x" * 200))
                    for i in range(start, min(records, start + 200))]
            archive.write_page(KEY, page, cover=(1_700_000_000_000 + start, 1_700_000_000_000 + start + 200))
    if journal != "wal":
        with sqlite3.connect(path) as conn:
            assert conn.execute(f"PRAGMA journal_mode={journal}").fetchone() == (journal,)
        conn.close()


def corrupt_a_records_page(path: Path) -> None:
    """Write garbage over one leaf page of the records table, as a failing disk would."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'records' AND pagetype = 'leaf' ORDER BY pageno")]
    conn.close()
    assert len(pages) > 4
    with path.open("r+b") as file:
        file.seek((pages[len(pages) // 2] - 1) * page_size)
        file.write(bytes(range(256)) * (page_size // 256))


def make_newer(path: Path) -> None:
    build_archive(path, 10, journal="delete")
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999'")
    conn.close()


def make_foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total TEXT)")
        conn.execute("INSERT INTO invoices (total) VALUES ('12.50')")
    conn.close()


def make_corrupt(path: Path) -> None:
    build_archive(path, journal="delete")
    corrupt_a_records_page(path)


def make_not_a_database(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)  # a header, then garbage


REFUSALS: dict[str, tuple[Callable[[Path], None], str]] = {
    "newer": (make_newer, "made by a newer cexledger"),
    "foreign": (make_foreign, "is not a cexledger archive"),
    "corrupt": (make_corrupt, "damaged"),
    "not-a-database": (make_not_a_database, "damaged"),
}


def refusal(url: str, **kwargs: object) -> str:
    with pytest.raises(ArchiveError) as caught:
        with Archive.open(url, **kwargs) as archive:   # a read-only open may only fail on reading
            list(archive.iter_records())
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("kind", sorted(REFUSALS))
@pytest.mark.parametrize("mode", ["write", "read-only"])
def test_a_refused_database_is_not_changed_byte_for_byte(tmp_path: Path, kind: str, mode: str) -> None:
    path = tmp_path / "archive.db"
    make, reason = REFUSALS[kind]
    make(path)
    before = path.read_bytes()
    for _ in range(2):   # refused every time
        message = refusal(f"sqlite:///{path}", **({"read_only": True} if mode == "read-only" else {}))
        assert reason in message, message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.db"]   # no -wal, -shm, -journal


def test_a_newer_rollback_journal_archive_keeps_its_journal_mode(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    make_newer(path)
    refusal(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_a_damaged_archive_is_refused_before_a_write_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    build_archive(path)
    corrupt_a_records_page(path)
    conn = sqlite3.connect(path)   # the damage is real: SQLite's own check says so
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ArchiveError) as caught:
        Archive.open(f"sqlite:///{path}")
    message = str(caught.value)
    assert message.startswith(f"cannot open archive sqlite:///{path}: integrity check failed")
    assert "Restore it from a backup" in message and f"sqlite3 {path} .recover" in message
    assert path.read_bytes() == before


def test_reading_a_damaged_page_gives_the_same_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    build_archive(path)
    corrupt_a_records_page(path)
    with Archive.open(f"sqlite:///{path}", read_only=True) as archive:   # no check: opening is cheap
        with pytest.raises(ArchiveError) as caught:
            list(archive.iter_records())
    message = str(caught.value)
    assert message.startswith(f"cannot read archive sqlite:///{path}: database disk image is malformed")
    assert "damaged" in message and ".recover" in message and "\n" not in message


def test_a_read_only_open_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    build_archive(path, journal="delete")
    before = path.read_bytes()
    with Archive.open(f"sqlite:///{path}", read_only=True) as archive:
        assert archive.count_records() == 400
        with pytest.raises(ArchiveError, match="readonly"):
            archive.write_page(KEY, [make_record("new")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.db"]


def test_a_read_only_open_refuses_writes_on_either_backend(archive_url: str) -> None:
    with Archive.open(archive_url) as archive:
        archive.write_page(KEY, [make_record(1)])
    with Archive.open(archive_url, read_only=True) as archive:
        assert archive.count_records() == 1
        assert [r.record_id for r in archive.iter_records()] == ["1"]
        for writer in (write_jsonl, write_csv, write_parquet):   # exports read as they always do
            assert writer(archive, io.BytesIO()) == 1
        with pytest.raises(ArchiveError, match="(?i)read-only|readonly"):
            archive.write_page(KEY, [make_record(2)])
        assert archive.count_records() == 1


def test_a_read_only_open_creates_nothing_for_a_missing_archive(tmp_path: Path) -> None:
    path = tmp_path / "new" / "archive.db"
    with pytest.raises(ArchiveError, match="no archive at"):
        Archive.open(f"sqlite:///{path}", read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_count_without_entries_counts_records_without_entries(archive: Archive) -> None:
    kept_raw = [Record(f"raw{i}", 1_700_000_000_000 + i, b'{"id":"raw%d","ts":"bad"}' % i) for i in range(3)]
    archive.write_page(KEY, [make_record(1), make_record(2, amounts=("1", "-0.1", "0.2")), *kept_raw])
    other = [make_record(5, key=OTHER), Record("raw9", 1, b"{}")]
    archive.write_page(OTHER, other)
    assert archive.count_without_entries() == 4
    assert archive.count_without_entries(account="main") == 3
    assert archive.count_without_entries(exchange="coinw") == 1
    assert archive.count_without_entries(account="main", exchange="coinw") == 0
    archive.write_page(KEY, [make_record("raw0")])   # a new version that is understood
    assert archive.count_without_entries(account="main") == 2


class ShortWrites(io.RawIOBase):
    """A raw file that takes at most ``limit`` bytes per call, as a pipe or a filling disk does."""

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        taken = bytes(data[: self.limit])
        self.data += taken
        return len(taken)


@pytest.mark.parametrize("writer", [write_jsonl, write_csv, write_parquet], ids=["jsonl", "csv", "parquet"])
def test_exports_write_every_byte_through_short_writes(tmp_path: Path, writer: Callable[..., int]) -> None:
    path = tmp_path / "archive.db"
    build_archive(path, 1000)
    with Archive.open(f"sqlite:///{path}", read_only=True) as archive:
        whole = io.BytesIO()
        writer(archive, whole)
        raw = ShortWrites(1000)   # as sys.stdout.buffer is under PYTHONUNBUFFERED=1: no buffer
        writer(archive, raw)
        buffered = ShortWrites(1000)
        out = io.BufferedWriter(buffered, buffer_size=256)
        writer(archive, out)
        out.flush()
    assert len(whole.getvalue()) > 5_000   # many short writes
    assert bytes(raw.data) == whole.getvalue()
    assert bytes(buffered.data) == whole.getvalue()


def test_short_writes_then_a_failure_raise_it(tmp_path: Path) -> None:
    class Full(ShortWrites):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.data:
                raise OSError(28, os.strerror(28))
            return super().write(data)

    path = tmp_path / "archive.db"
    build_archive(path, 1000)
    with Archive.open(f"sqlite:///{path}", read_only=True) as archive:
        with pytest.raises(OSError) as caught:
            write_jsonl(archive, Full(4096))
    assert caught.value.errno == 28
