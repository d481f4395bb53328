"""Migration 0003 on an SQLite older than 3.35 (no ``DROP COLUMN``): the entries table is
copied without ``fee``, its rows, key and indexes kept."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from cexledger.archive import Archive
from cexledger.archive.migrate import HEAD

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "archives" / "schema-0002.db"


def _entries(path: Path) -> tuple[list[str], list[tuple], list[str]]:
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(entries)")]
        rows = conn.execute("SELECT stream_id, record_id, seq, amount FROM entries ORDER BY 1, 2, 3").fetchall()
        indexes = sorted(row[1] for row in conn.execute("PRAGMA index_list(entries)"))
        indexes += sorted(str(row[2:5]) for row in conn.execute("PRAGMA foreign_key_list(entries)"))
    return columns, rows, indexes


def test_an_sqlite_without_drop_column_copies_the_table(tmp_path: Path, monkeypatch) -> None:
    old = tmp_path / "old.db"
    shutil.copy(FIXTURE, old)
    before_columns, before_rows, before_indexes = _entries(old)
    assert "fee" in before_columns
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))   # Ubuntu 20.04's
    with Archive.open(f"sqlite:///{old}"):
        pass
    columns, rows, indexes = _entries(old)
    assert columns == [c for c in before_columns if c != "fee"]
    assert rows == before_rows                     # every entry kept (re-derived later)
    assert indexes == before_indexes               # primary key, ix_entries_order, the key to records
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT version_num FROM cexledger_alembic_version").fetchone() == (HEAD,)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
