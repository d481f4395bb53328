"""The ledger rule on SQLite and PostgreSQL: Bitget's tax records and financial records hold
the same movements per account and category; the entry exports (CSV, Parquet) count each
once (``archive.queries.ledger_excluded``), the raw JSONL export keeps every record.

The archive is built with ``Archive.write_page`` as syncs write it: tax records over 300
days, financial records over the newest 90 with a hole in their coverage and a window that
stopped half-way, ids equal to the tax ids for some movements and different for others, a
second category, a second account and the funding wallet.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from cexledger import _json
from cexledger.archive import Archive
from cexledger.exchanges import ledger_shadows
from cexledger.export import write_csv, write_jsonl, write_parquet
from cexledger.model import Kind, LedgerEntry, Record, StreamKey
from cexledger.reparse import stamp

DAY = 86_400_000
NOW = 1_790_000_000_000
FINANCIAL, TAX, FUNDING = "financial-records", "tax-records", "funding-records"


@dataclass(frozen=True)
class Move:
    """One movement of the ground truth."""

    account: str
    wallet: str        # a category, or FUNDING
    ts: int
    coin: str
    amount: Decimal


def _record(key: StreamKey, rid: str, move: Move) -> Record:
    entry = LedgerEntry(key.account, key.exchange, key.stream, rid, 0, move.ts, Kind.TRANSFER, move.coin,
                        move.amount, None, None if key.partition == "FUNDING" else key.partition,
                        None, "transfer")
    raw = b'{"id":"%s","coin":"%s","amount":"%s","ts":"%d"}' % (rid.encode(), move.coin.encode(),
                                                                str(move.amount).encode(), move.ts)
    return Record(rid, move.ts, raw, [entry])


def _write(archive: Archive, key: StreamKey, rows: list[tuple[str, Move]], cover: tuple[int, int] | None) -> None:
    """Pages of 50 rows; the last page marks ``cover`` (as a window's last page does); the
    stream is stamped as built by today's normalizer (as a sync does)."""
    pages = [rows[i:i + 50] for i in range(0, len(rows), 50)] or [[]]
    for n, page in enumerate(pages):
        archive.write_page(key, [_record(key, rid, m) for rid, m in page],
                           cover=cover if n == len(pages) - 1 else None)
    stamp(archive, key)


def _amount(i: int) -> Decimal:
    return Decimal(f"{(-1) ** i * (i + 1)}.{i:018d}")     # 18 decimals, both signs


@dataclass
class Built:
    truth: list[Move]          # every movement, once
    tax_total: int             # tax-records entries archived
    hole: tuple[int, int]      # a hole in main's USDT-FUTURES financial coverage
    half: tuple[int, int]      # main's USDT-FUTURES financial window that stopped half-way


def build(archive: Archive) -> Built:
    truth: list[Move] = []
    tax_total = 0
    fin_start = NOW - 90 * DAY
    hole = (NOW - 45 * DAY, NOW - 40 * DAY)
    half = (NOW - 60 * DAY, NOW - 55 * DAY)

    def category(account: str, cat: str, coin: str, *, financial: bool, offset: int) -> None:
        nonlocal tax_total
        moves = [Move(account, cat, NOW - 300 * DAY + i * DAY // 2 + offset, coin, _amount(i + offset))
                 for i in range(600)]                     # two a day over 300 days
        truth.extend(moves)
        tax_key = StreamKey(account, "bitget", TAX, cat)
        _write(archive, tax_key, [(f"t{offset}-{i}", m) for i, m in enumerate(moves)], (NOW - 300 * DAY, NOW))
        tax_total += len(moves)
        if not financial:
            return
        fin_key = StreamKey(account, "bitget", FINANCIAL, cat)
        # the same movements, newest 90 days; even ones under the tax id, odd ones under another
        inside = [(i, m) for i, m in enumerate(moves) if m.ts >= fin_start]
        rows = [(f"t{offset}-{i}" if i % 2 == 0 else f"f{offset}-{i}", m) for i, m in inside]
        in_hole = [r for r in rows if hole[0] <= r[1].ts < hole[1]]
        in_half = [r for r in rows if half[0] <= r[1].ts < half[1]]
        done = [r for r in rows if r not in in_hole and r not in in_half]
        _write(archive, fin_key, [r for r in done if r[1].ts < half[0]], (fin_start, half[0]))
        _write(archive, fin_key, [r for r in done if half[1] <= r[1].ts < hole[0]], (half[1], hole[0]))
        _write(archive, fin_key, [r for r in done if r[1].ts >= hole[1]], (hole[1], NOW))
        # the half-way window: its first pages were written, its coverage never was
        archive.write_page(fin_key, [_record(fin_key, rid, m) for rid, m in in_half[: len(in_half) // 2]])
        # nothing of the hole was read by financial records
        # a tax row inside financial coverage that no financial row matches: financial
        # records read that time completely, so it is not a movement of the ledger
        stray = Move(account, cat, NOW - 10 * DAY + 7, coin, Decimal("999.000000000000000001"))
        _write(archive, tax_key, [(f"stray{offset}", stray)], None)
        tax_total += 1

    category("main", "USDT-FUTURES", "USDT", financial=True, offset=0)
    category("main", "SPOT", "BTC", financial=True, offset=1)
    category("alt", "USDT-FUTURES", "USDT", financial=False, offset=2)   # tax records only

    funding_key = StreamKey("main", "bitget", FUNDING, "FUNDING")   # another wallet: inside every coverage
    funding = [Move("main", "FUNDING", NOW - d * DAY - 3, "USDT", Decimal(f"{d}.5")) for d in range(1, 300, 7)]
    truth.extend(funding)
    _write(archive, funding_key, [(f"t0-{i}", m) for i, m in enumerate(funding)], (NOW - 300 * DAY, NOW))
    return Built(truth, tax_total, hole, half)


def _wallet(row: dict) -> str:
    return row["category"] or "FUNDING"


def _csv_moves(archive: Archive) -> list[tuple]:
    buf = io.BytesIO()
    count = write_csv(archive, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue().decode())))
    assert count == len(rows)
    return [(r["account"], _wallet(r), int(r["ts_ms"]), r["coin"], Decimal(r["amount"]), r["stream"]) for r in rows]


def _parquet_moves(archive: Archive, tmp_path) -> list[tuple]:
    path = tmp_path / "ledger.parquet"
    with path.open("wb") as fh:
        write_parquet(archive, fh)
    return [(r["account"], _wallet(r), int(r["time"].timestamp() * 1000), r["coin"], r["amount"], r["stream"])
            for r in pq.read_table(path).to_pylist()]


@pytest.fixture
def built(archive: Archive) -> tuple[Archive, Built]:
    return archive, build(archive)


def _truth(built: Built) -> Counter:
    return Counter((m.account, m.wallet, m.ts, m.coin, m.amount) for m in built.truth)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_entry_exports_count_each_movement_once(built, fmt, tmp_path):
    archive, b = built
    moves = _csv_moves(archive) if fmt == "csv" else _parquet_moves(archive, tmp_path)
    assert Counter(m[:5] for m in moves) == _truth(b)            # every movement, exactly once
    sums: dict[tuple[str, str], Decimal] = {}
    for account, _, _, coin, amount, _ in moves:
        sums[account, coin] = sums.get((account, coin), Decimal(0)) + amount
    expected: dict[tuple[str, str], Decimal] = {}
    for m in b.truth:
        expected[m.account, m.coin] = expected.get((m.account, m.coin), Decimal(0)) + m.amount
    assert sums == expected and all(isinstance(v, Decimal) for v in sums.values())


def test_financial_records_rule_where_covered_tax_records_elsewhere(built):
    archive, b = built
    fin_start = NOW - 90 * DAY
    for account, wallet, ts, _, _, stream in _csv_moves(archive):
        if account == "main" and wallet in ("USDT-FUTURES", "SPOT"):
            in_financial = fin_start <= ts and not (b.hole[0] <= ts < b.hole[1]) and not (b.half[0] <= ts < b.half[1])
            assert stream == (FINANCIAL if in_financial else TAX), (wallet, ts, stream)
        elif wallet != "FUNDING":
            assert stream == TAX           # alt: no financial records; main's coverage is not alt's


def test_a_hole_in_financial_coverage_is_filled_by_tax_rows(built):
    archive, b = built
    hole = [m for m in _csv_moves(archive) if m[0] == "main" and b.hole[0] <= m[2] < b.hole[1]
            and m[1] != "FUNDING"]
    expected = [m for m in b.truth if m.account == "main" and b.hole[0] <= m.ts < b.hole[1] and m.wallet != "FUNDING"]
    assert hole and len(hole) == len(expected) and {m[5] for m in hole} == {TAX}


def test_a_half_read_financial_window_yields_to_tax_coverage(built):
    """Rows of a financial window that stopped half-way lie outside financial coverage; the
    tax records read that time completely, so theirs count, and the half window's do not."""
    archive, b = built
    half = [m for m in _csv_moves(archive) if m[0] == "main" and b.half[0] <= m[2] < b.half[1]
            and m[1] != "FUNDING"]
    expected = [m for m in b.truth if m.account == "main" and b.half[0] <= m.ts < b.half[1] and m.wallet != "FUNDING"]
    assert len(half) == len(expected) and {m[5] for m in half} == {TAX}


def test_half_read_windows_of_both_streams_count_once(archive):
    """Where neither stream covers a time (half-read windows of both), financial records
    count and the tax entries wait for their window to be read to its end: never twice."""
    move = Move("main", "SPOT", NOW - 5 * DAY, "BTC", Decimal("0.1"))
    archive.write_page(StreamKey("main", "bitget", FINANCIAL, "SPOT"),
                       [_record(StreamKey("main", "bitget", FINANCIAL, "SPOT"), "a", move)])
    archive.write_page(StreamKey("main", "bitget", TAX, "SPOT"),
                       [_record(StreamKey("main", "bitget", TAX, "SPOT"), "b", move)])
    assert sorted(m[5] for m in _csv_moves(archive)) == [FINANCIAL]


def test_funding_rows_are_never_dropped(built):
    archive, b = built
    funding = [m for m in _csv_moves(archive) if m[1] == "FUNDING"]
    assert len(funding) == sum(m.wallet == "FUNDING" for m in b.truth) and {m[5] for m in funding} == {FUNDING}


def test_raw_records_and_all_entries_keep_shadowed_tax_records(built):
    """The JSONL export is the archive, raw: every record, shadowed tax records included.
    ``iter_entries`` without ``shadows`` is every archived entry; with them, the ledger."""
    archive, b = built
    buf = io.BytesIO()
    write_jsonl(archive, buf)
    lines = [_json.loads(line) for line in buf.getvalue().splitlines()]
    assert sum(line["stream"] == TAX for line in lines) == b.tax_total
    assert sum(e.stream == TAX for e in archive.iter_entries()) == b.tax_total
    ledger = [(e.account, e.category or "FUNDING", e.ts, e.coin, e.amount)
              for e in archive.iter_entries(shadows=ledger_shadows())]
    assert Counter(ledger) == _truth(b)
    assert [m[:5] for m in _csv_moves(archive)] == ledger       # one rule, the same order


def test_filters_apply_the_rule_too(built):
    archive, b = built
    buf = io.BytesIO()
    write_csv(archive, buf, account="main", exchange="bitget")
    rows = list(csv.DictReader(io.StringIO(buf.getvalue().decode())))
    assert len(rows) == sum(m.account == "main" for m in b.truth)


def test_the_cli_exports_the_ledger_and_says_what_it_left_out(built, archive_url, tmp_path):
    archive, b = built
    archived = sum(1 for _ in archive.iter_entries())
    assert archive.count_ledger_excluded(shadows=ledger_shadows()) == archived - len(b.truth)
    assert archive.count_ledger_excluded(account="alt", shadows=ledger_shadows()) == 0
    assert archive.count_ledger_excluded(shadows=()) == 0
    cli = str(Path(sys.executable).parent / "cexledger")
    out = tmp_path / "ledger.csv"
    proc = subprocess.run([cli, "--db", archive_url, "export", "--format", "csv", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == len(b.truth) and f"wrote {len(b.truth)} rows" in proc.stderr
    assert f"note: {archived - len(b.truth)} tax-record entries left out" in proc.stderr
    raw = subprocess.run([cli, "--db", archive_url, "export", "--format", "jsonl"],
                         capture_output=True, text=True, timeout=120)
    assert raw.returncode == 0 and "left out" not in raw.stderr
    assert len(raw.stdout.splitlines()) == archive.count_records()
    lines = tmp_path / "records.jsonl"                    # a JSONL file counts records
    proc = subprocess.run([cli, "--db", archive_url, "export", "--format", "jsonl", "--out", str(lines)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and f"wrote {archive.count_records()} records to" in proc.stderr
