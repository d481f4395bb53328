"""``cexledger.open()``: entries, tables, raw records and status of a real archive (the CLI's
demo sync of the sandbox), compared with what the CLI's own exports and status say."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import cexledger
from cexledger.ledger.filters import to_ms
from tests.library.conftest import csv_rows, jsonl_lines


def _text(value: Decimal | None) -> str:
    return "" if value is None else format(value, "f")


def _entry_row(e: cexledger.LedgerEntry) -> tuple:
    return (e.ts, e.account, e.exchange, e.stream, e.category or "", e.symbol or "", e.coin or "",
            e.kind.value, e.amount, e.balance, e.exchange_type or "", e.record_id, e.seq)


def _csv_row(r: dict[str, str]) -> tuple:
    return (int(r["ts_ms"]), r["account"], r["exchange"], r["stream"], r["category"], r["symbol"],
            r["coin"], r["kind"], Decimal(r["amount"]), Decimal(r["balance"]) if r["balance"] else None,
            r["exchange_type"], r["record_id"], int(r["seq"]))


def _arrow_row(r: dict) -> tuple:
    ts = int(r["time"].timestamp() * 1000)
    return (ts, r["account"], r["exchange"], r["stream"], r["category"] or "", r["symbol"] or "",
            r["coin"] or "", r["kind"], r["amount"], r["balance"], r["exchange_type"] or "",
            r["record_id"], r["seq"])


def test_entries_are_the_csv_exports_rows(demo_archive: Path, demo_csv) -> None:
    with cexledger.open(demo_archive) as led:
        entries = [_entry_row(e) for e in led.entries()]
    assert entries == [_csv_row(r) for r in demo_csv]
    assert {r[2] for r in entries} == {"bitget", "coinw"}
    assert {r[3] for r in entries} >= {"financial-records", "funding-records", "tax-records", "deals-history"}


def test_to_arrow_is_exact_decimal128_equal_to_the_entries(demo_archive: Path) -> None:
    with cexledger.open(str(demo_archive)) as led:
        table = led.to_arrow()
        entries = [_entry_row(e) for e in led.entries()]
    assert table.schema.field("amount").type == pa.decimal128(38, 18)
    assert table.schema.field("balance").type == pa.decimal128(38, 18)
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert [_arrow_row(r) for r in table.to_pylist()] == entries
    amounts = [r[8] for r in entries if r[8]]
    # the sandbox's extremes: an amount of 1E-18 and one with 8 integer and 18 decimal digits
    tiny = min(amounts, key=abs)
    assert tiny.as_tuple().exponent == -18 and abs(tiny) == Decimal("1E-18")
    huge = max((a for a in amounts if a.as_tuple().exponent == -18), key=abs)
    assert len(huge.as_tuple().digits) >= 26
    arrow_amounts = table.column("amount").to_pylist()
    assert tiny in arrow_amounts and huge in arrow_amounts


def test_to_pandas_holds_decimal_objects_and_utc_times(demo_archive: Path, demo_csv) -> None:
    with cexledger.open(demo_archive) as led:
        df = led.to_pandas(exchange="coinw")
    rows = [r for r in demo_csv if r["exchange"] == "coinw"]
    assert len(df) == len(rows) > 0
    assert all(type(a) is Decimal for a in df["amount"])
    assert list(df["amount"]) == [Decimal(r["amount"]) for r in rows]
    assert str(df["time"].dtype) == "datetime64[ms, UTC]"
    assert [int(t.timestamp() * 1000) for t in df["time"]] == [int(r["ts_ms"]) for r in rows]


def test_to_polars_has_decimal_columns(demo_archive: Path, demo_csv) -> None:
    import polars as pl

    with cexledger.open(demo_archive) as led:
        frame = led.to_polars(kind="fee")
    rows = [r for r in demo_csv if r["kind"] == "fee"]
    assert frame.schema["amount"] == pl.Decimal(38, 18)
    assert frame.height == len(rows) > 0
    assert frame["amount"].to_list() == [Decimal(r["amount"]) for r in rows]


@pytest.mark.parametrize("method", ["to_pandas", "to_polars"])
def test_a_missing_extra_names_what_to_install(demo_archive: Path, monkeypatch, method: str) -> None:
    module = method.removeprefix("to_")
    monkeypatch.setitem(sys.modules, module, None)      # import fails as if not installed
    with cexledger.open(demo_archive) as led, pytest.raises(cexledger.MissingExtraError) as caught:
        getattr(led, method)()
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, cexledger.CexledgerError)
    assert f"pip install 'cexledger[{module}]'" in str(caught.value)


def test_filters_select_exactly_what_the_csv_export_selects(demo_archive: Path, demo_csv) -> None:
    times = sorted({int(r["ts_ms"]) for r in demo_csv})
    since, until = times[len(times) // 4], times[3 * len(times) // 4]     # entries stand on both
    since_text = datetime.fromtimestamp(since / 1000, timezone.utc).isoformat(timespec="milliseconds")
    with cexledger.open(demo_archive) as led:
        for given in (since, since_text, datetime.fromtimestamp(since / 1000, timezone.utc)):
            got = [_entry_row(e) for e in led.entries(since=given, until=until)]
            want = [_csv_row(r) for r in demo_csv if since <= int(r["ts_ms"]) < until]
            assert got == want
            assert got[0][0] == since and got[-1][0] < until       # half-open, boundaries exact
        cli = csv_rows(demo_archive, "--since", since_text, "--until", str(date(2100, 1, 1)))
        assert [_entry_row(e) for e in led.entries(since=since_text, until=date(2100, 1, 1))] == \
            [_csv_row(r) for r in cli]
        day = date.fromtimestamp(times[len(times) // 2] / 1000)
        one_day = [e for e in led.entries(since=day, until=date.fromordinal(day.toordinal() + 1))]
        assert one_day and all(to_ms(day) <= e.ts < to_ms(day) + 86_400_000 for e in one_day)
        for account in {r["account"] for r in demo_csv}:
            assert [_entry_row(e) for e in led.entries(account=account)] == \
                [_csv_row(r) for r in demo_csv if r["account"] == account]
        for kind in ("fee", "FEE", cexledger.Kind.FEE):
            assert [_entry_row(e) for e in led.entries(kind=kind, exchange="BitGet")] == \
                [_csv_row(r) for r in demo_csv if r["kind"] == "fee" and r["exchange"] == "bitget"]
        arrow = led.to_arrow(kind="transfer", since=since, until=until)
        assert arrow.num_rows == sum(1 for r in demo_csv if r["kind"] == "transfer" and since <= int(r["ts_ms"]) < until)
        assert not [r for r in demo_csv if r["kind"] == "deposit" and r["exchange"] == "coinw"]
        empty = led.to_arrow(kind="deposit", exchange="coinw")      # no such entry: typed, empty
        assert empty.num_rows == 0 and empty.schema == arrow.schema


@pytest.mark.parametrize("call, words", [
    (dict(kind="fees"), ["kind 'fees' does not exist", "realized_pnl"]),
    (dict(account="nobody"), ["no account 'nobody' in the archive", "bitget-1", "coinw-1"]),
    (dict(exchange="kraken"), ["unknown exchange 'kraken'", "bitget, coinw"]),
    (dict(since="last year"), ["since: 'last year' is not a time", "2026-01-01"]),
    (dict(since="2027-01-01", until="2026-01-01"), ["since must be before until"]),
    (dict(account="bitget-1", exchange="coinw"), ["holds bitget history, not coinw",
                                                  "give only one of account= and exchange="]),
])
def test_bad_selections_say_what_exists_in_library_terms(demo_archive: Path, call, words) -> None:
    with cexledger.open(demo_archive) as led:
        for method in (led.entries, led.to_arrow, led.records):
            args = {k: v for k, v in call.items() if method != led.records or k != "kind"}
            if args != call:
                continue
            with pytest.raises(cexledger.ConfigError) as caught:
                method(**args)      # raised by the call, not at the first row
            text = str(caught.value)
            assert all(w in text for w in words), text
            assert "--" not in text and "\n" not in text


def test_records_are_the_jsonl_exports_raw_rows(demo_archive: Path) -> None:
    lines = jsonl_lines(demo_archive)
    with cexledger.open(demo_archive) as led:
        records = list(led.records())
        coinw = list(led.records(exchange="coinw"))
        ts = sorted(r.ts for r in records)
        since, until = ts[len(ts) // 3], ts[2 * len(ts) // 3]
        window = list(led.records(since=since, until=until))
    assert [(r.account, r.exchange, r.stream, r.record_id) for r in records] == \
        [(line["account"], line["exchange"], line["stream"], line["id"]) for line in lines]
    assert [r.json() for r in records] == [line["raw"] for line in lines]     # exact decimals
    assert all(isinstance(r.raw, bytes) for r in records)
    assert coinw == [r for r in records if r.exchange == "coinw"] and coinw
    assert window == [r for r in records if since <= r.ts < until]


def test_status_lists_every_stream_as_the_archive_holds_it(demo_archive: Path) -> None:
    from cexledger.archive import Archive

    with cexledger.open(demo_archive) as led:
        status = led.status()
        only = led.status("coinw-1")
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        summaries = archive.streams()
    assert [(s.account, s.exchange, s.stream, s.partition, s.records, s.oldest_ts, s.newest_ts, s.coverage)
            for s in status] == [(s.key.account, s.key.exchange, s.key.stream, s.key.partition, s.records, s.oldest_ts, s.newest_ts, tuple(map(tuple, s.coverage)))
                                 for s in summaries]
    assert {s.retention_days for s in status if s.stream == "tax-records"} == {366}
    assert {s.retention_days for s in status if s.stream == "financial-records"} == {90}
    assert all(s.safe_days > 30 and s.warning is None and not s.outdated for s in status)
    def timeless(rows):      # safe days count from now
        return [(s.account, s.stream, s.partition, s.records, s.coverage) for s in rows]

    assert timeless(only) == timeless([s for s in status if s.account == "coinw-1"]) and only
    with pytest.raises(cexledger.ConfigError, match="no account 'x' in the archive"):
        led2 = cexledger.open(demo_archive)
        try:
            led2.status("x")
        finally:
            led2.close()


def test_status_warns_as_the_cli_does_when_history_is_about_to_leave(tmp_path: Path, demo_archive: Path) -> None:
    """A stream whose coverage ends 80 days ago: the warning status prints, with the library's fix."""
    import shutil
    import sqlite3

    copy = tmp_path / "old.db"
    shutil.copy(demo_archive, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE coverage SET end_ms = start_ms + 1000")
    with cexledger.open(copy) as led:
        warned = [s for s in led.status() if s.warning]
    assert warned
    assert all("leaves" in s.warning and "cexledger.sync(" in s.warning and s.safe_days < 30 for s in warned)


def test_reading_changes_nothing_and_cannot_write(demo_archive: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "a.db"
    shutil.copy(demo_archive, copy)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    with cexledger.open(copy) as led:
        list(led.entries()), led.to_arrow(), list(led.records()), led.status()
        with led._archive._engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only|query_only"):
            conn.exec_driver_sql("DELETE FROM entries")
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db"]


def test_importing_cexledger_stays_lazy_and_every_public_name_resolves() -> None:
    code = ("import sys, cexledger; loaded = [m for m in sys.modules if m.startswith('cexledger.')];"
            "assert loaded == [], loaded;"
            "[getattr(cexledger, n) for n in cexledger.__all__];"
            "assert callable(cexledger.open) and cexledger.open.__name__ == 'open_ledger'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
