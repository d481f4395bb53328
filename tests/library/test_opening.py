"""``cexledger.open()`` never creates an archive and says what to do in library terms; it
reads PostgreSQL as SQLite; entries an older cexledger derived are refused until
``cexledger.reparse()``."""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import cexledger
from cexledger.ledger.columns import AmountRangeError, entry_table
from tests.library.conftest import csv_rows, run_cli

FIXTURE = Path(__file__).parent.parent / "fixtures" / "archives" / "schema-0002.db"


def _library_terms(text: str) -> None:
    assert "--" not in text and "`cexledger " not in text and "\n" not in text, text


@pytest.mark.parametrize("where", ["missing.db", "no/such/dir/archive.db"])
def test_a_missing_archive_is_refused_and_not_created(tmp_path: Path, where: str) -> None:
    path = tmp_path / where
    for given in (path, str(path), f"sqlite:///{path}"):
        with pytest.raises(cexledger.NoArchiveError) as caught:
            cexledger.open(given)
        text = str(caught.value)
        assert text.startswith(f"no archive at {path}") and "cexledger.sync(config=..., db=...)" in text
        _library_terms(text)
    assert list(tmp_path.iterdir()) == []          # no file, no directory


def test_an_empty_postgresql_database_is_no_archive_and_stays_empty(postgres_url: str) -> None:
    import psycopg

    with pytest.raises(cexledger.NoArchiveError, match="cexledger.sync"):
        cexledger.open(postgres_url)
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_what_is_not_an_archive_is_refused_in_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(cexledger.ArchiveError, match="not a cexledger archive"):
        cexledger.open(other)
    for empty in ("", "  "):
        with pytest.raises(cexledger.ConfigError, match="db is empty"):
            cexledger.open(empty)


def test_an_archive_of_a_newer_cexledger_is_refused(tmp_path: Path, demo_archive: Path) -> None:
    copy = tmp_path / "newer.db"
    shutil.copy(demo_archive, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE cexledger_alembic_version SET version_num = '9999'")
    with pytest.raises(cexledger.ArchiveError) as caught:
        cexledger.open(copy)
    assert "made by a newer cexledger" in str(caught.value) and "upgrade cexledger" in str(caught.value)


def test_postgresql_archive_reads_as_the_cli_exports_it(postgres_url: str) -> None:
    run_cli(postgres_url, "demo", "--records", "150", "--seed", "4")
    rows = csv_rows(postgres_url)
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with cexledger.open(plain) as led:
        entries = list(led.entries())
        table = led.to_arrow()
        status = led.status()
    assert [(e.ts, e.account, e.record_id, e.seq, e.amount) for e in entries] == \
        [(int(r["ts_ms"]), r["account"], r["record_id"], int(r["seq"]), Decimal(r["amount"])) for r in rows]
    assert table.num_rows == len(rows) > 0
    assert table.column("amount").to_pylist() == [e.amount for e in entries]
    assert {s.exchange for s in status} == {"bitget", "coinw"}


def test_outdated_entries_are_refused_until_reparse(tmp_path: Path) -> None:
    copy = tmp_path / "v2.db"
    shutil.copy(FIXTURE, copy)
    with cexledger.open(copy) as led:
        for read in (led.entries, led.to_arrow, led.to_pandas, led.to_polars):
            with pytest.raises(cexledger.OutdatedEntriesError) as caught:
                read()
            assert "cexledger.reparse(db)" in str(caught.value)
            _library_terms(str(caught.value))
        assert any(s.outdated for s in led.status())
        raw_before = [(r.record_id, r.raw) for r in led.records()]     # raw reads are unaffected
    assert raw_before
    result = cexledger.reparse(copy)
    assert result.records == len(raw_before) and result.changed > 0
    with cexledger.open(copy) as led:
        assert not any(s.outdated for s in led.status())
        entries = list(led.entries())
        assert [(r.record_id, r.raw) for r in led.records()] == raw_before
        assert led.to_arrow().num_rows == len(entries) > 0
    assert {e.kind.value for e in entries} >= {"fee"}


def test_reparse_refuses_what_it_cannot_do_in_library_terms(tmp_path: Path, demo_archive: Path) -> None:
    with pytest.raises(cexledger.NoArchiveError) as caught:
        cexledger.reparse(tmp_path / "none.db")
    assert "cexledger.sync(" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    copy = tmp_path / "a.db"
    shutil.copy(demo_archive, copy)
    with pytest.raises(cexledger.ConfigError, match=r"no account 'zz' in the archive \(archived: bitget-1, coinw-1\)"):
        cexledger.reparse(copy, account="zz")


def test_an_amount_beyond_decimal_38_18_is_a_library_error(tmp_path: Path, demo_archive: Path) -> None:
    copy = tmp_path / "wide.db"
    shutil.copy(demo_archive, copy)
    wide = Decimal("123456789012345678901.5")        # 21 integer digits
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE entries SET amount = ? WHERE rowid = (SELECT min(rowid) FROM entries "
                     "WHERE stream_id = (SELECT id FROM streams WHERE exchange = 'coinw' LIMIT 1))",
                     (str(wide),))
    with cexledger.open(copy) as led:
        with pytest.raises(AmountRangeError) as caught:
            led.to_arrow(exchange="coinw")
        text = str(caught.value)
        assert text.startswith("an amount does not fit decimal(38, 18) exactly") and "entries()" in text
        _library_terms(text)
        assert wide in [e.amount for e in led.entries(exchange="coinw")]     # entries() hold it exactly
        assert led.to_arrow(exchange="bitget").num_rows > 0


def test_twenty_integer_and_eighteen_decimal_digits_fit() -> None:
    value = "12345678901234567890.123456789012345678"
    columns = {"ts": pa.array([1], pa.int64()), "seq": pa.array([0], pa.int32()),
               "amount": pa.array([value]), "balance": pa.array([None], pa.string())}
    columns.update({name: pa.array(["x"]) for name in
                    ("account", "exchange", "stream", "category", "symbol", "coin", "kind", "exchange_type", "record_id")})
    assert entry_table(columns, "").column("amount").to_pylist() == [Decimal(value)]


def test_close_stops_open_iterators_and_later_calls(demo_archive):
    led = cexledger.open(demo_archive)
    entries, records = led.entries(), led.records()
    first = next(entries)
    next(records)
    led.close()
    assert list(entries) == [] and list(records) == []     # stopped, no rows read after close
    with pytest.raises(cexledger.LedgerClosedError, match="closed"):
        led.entries()
    with pytest.raises(cexledger.LedgerClosedError):
        led.status()
    led.close()                                              # twice is fine
    with cexledger.open(demo_archive) as again:            # the archive itself is untouched
        assert next(again.entries()) == first
