"""Exports on SQLite and PostgreSQL: every amount and id exact, and the same rows, order and
text as the archive's own row-by-row reads (``iter_records`` / ``iter_entries``) give."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cexledger import _json
from cexledger.archive import Archive, bulk
from cexledger.errors import CexledgerError
from cexledger.export import write_csv, write_jsonl, write_parquet
from cexledger.export.csv import CSV_COLUMNS, iso_ms
from cexledger.export import parquet as parquet_export
from cexledger.model import Kind, LedgerEntry, Record, StreamKey

KEY = StreamKey("main", "coinw", "deals-history", "BTC")
BIG_ID = "2435521222632017955"          # above 2^53
TINY = Decimal("0.000000000000000001")
HUGE = Decimal("12345678901234567890.123456789012345678")


def entry(rid, seq, amount, ts=1_700_000_000_000, balance=None, kind=Kind.REALIZED_PNL):
    return LedgerEntry(account="main", exchange="coinw", stream="deals-history", record_id=rid, seq=seq,
                       ts=ts, kind=kind, coin="USDT", amount=amount, balance=balance)


@pytest.fixture
def one(archive):
    raw = b'{"id":2435521222632017955,\n "netProfit":-0.000000000000000001, "price":85992.40}'
    archive.write_page(KEY, [
        Record(BIG_ID, 1_700_000_000_000, raw, [entry(BIG_ID, 0, TINY),
                                                entry(BIG_ID, 1, HUGE.copy_negate(), balance=HUGE, kind=Kind.FEE)]),
    ])
    return archive


def test_jsonl_keeps_raw_bytes_and_one_line(one):
    buf = io.BytesIO()
    assert write_jsonl(one, buf) == 1
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    assert b'"raw":{"id":2435521222632017955,  "netProfit":-0.000000000000000001, "price":85992.40}' in lines[0]
    obj = _json.loads(lines[0])
    assert obj["id"] == BIG_ID and obj["raw"]["id"] == int(BIG_ID)
    assert obj["raw"]["netProfit"] == -TINY and str(obj["raw"]["price"]) == "85992.40"


def test_csv_is_exact(one):
    buf = io.BytesIO()
    assert write_csv(one, buf) == 2
    rows = list(csv.DictReader(io.StringIO(buf.getvalue().decode())))
    assert rows[0]["amount"] == "0.000000000000000001" and rows[0]["balance"] == ""
    assert rows[1]["amount"] == "-" + str(HUGE) and rows[1]["balance"] == str(HUGE)
    assert [r["kind"] for r in rows] == ["realized_pnl", "fee"] and rows[0]["record_id"] == BIG_ID
    assert list(rows[0]) == list(CSV_COLUMNS) and "fee" not in CSV_COLUMNS


def test_parquet_is_exact(one, tmp_path):
    path = tmp_path / "out.parquet"
    with path.open("wb") as fh:
        assert write_parquet(one, fh) == 2
    table = pq.read_table(path).to_pylist()
    assert table[0]["amount"] == TINY and table[0]["balance"] is None
    assert table[1]["amount"] == HUGE.copy_negate() and table[1]["balance"] == HUGE and table[1]["kind"] == "fee"
    assert table[0]["record_id"] == BIG_ID and "fee" not in table[0]


def test_parquet_refuses_to_round(archive):
    archive.write_page(KEY, [Record("1", 1, b"{}", [entry("1", 0, Decimal("1E-19"))])])
    with pytest.raises(CexledgerError, match="decimal"):
        write_parquet(archive, io.BytesIO())


def test_iso_ms_matches_datetime():
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.lists(st.integers(min_value=-10**12, max_value=4 * 10**12), min_size=1, max_size=50))
    def check(ts):
        assert iso_ms(pa.array(ts, pa.int64())).to_pylist() == [_iso(t) for t in ts]

    check()


def _iso(ts: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ts)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value):
    return "" if value is None else _json.canonical_decimal(value) if isinstance(value, Decimal) else str(value)


def _filled(archive: Archive) -> Archive:
    """Four streams over two accounts and both exchanges, shared timestamps, several entries
    per record, every optional field both given and missing."""
    keys = [StreamKey("main", "bitget", "financial-records", "USDT-FUTURES"),
            StreamKey("main", "coinw", "deals-history", "BTC"),
            StreamKey("alt", "coinw", "deals-history", "ETH"),
            StreamKey("alt", "bitget", "financial-records", "SPOT")]
    for k, key in enumerate(keys):
        records = []
        for i in range(40):
            rid = str(10**18 + 7 * i + k)            # the same ids never meet in one stream
            ts = 1_700_000_000_000 + (i // 3) * 1000    # three records per timestamp
            entries = [
                LedgerEntry(key.account, key.exchange, key.stream, rid, seq, ts,
                            list(Kind)[(i + seq) % len(Kind)],
                            None if (i + seq) % 5 == 0 else "USDT",
                            Decimal(i * 1000 + seq).scaleb(-(i % 19)) * (-1 if i % 2 else 1),
                            None if i % 4 == 0 else Decimal("12345678901234567890.123456789012345678"),
                            None if i % 3 == 0 else key.partition,
                            None if i % 6 == 1 else f"{key.partition}USDT",
                            None if i % 7 == 2 else "CONTRACT_MAIN_SETTLE_FEE_USER_OUT")
                for seq in range(1 + i % 3)
            ]
            raw = b'{"id":%s,"n":%d}' % (rid.encode(), i) if i % 9 else b'{"id":%s,\r\n"n":%d}' % (rid.encode(), i)
            records.append(Record(rid, ts, raw, entries))
        archive.write_page(key, records)
    return archive


@pytest.fixture
def filled(archive, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH", 7)               # many batches, none aligned to a record
    monkeypatch.setattr(parquet_export, "ROW_GROUP", 20)
    return _filled(archive)


@pytest.mark.parametrize("filters", [{}, {"account": "alt"}, {"exchange": "coinw"},
                                     {"account": "main", "exchange": "bitget"}, {"account": "nobody"}])
def test_exports_equal_the_row_by_row_reads(filled, filters, tmp_path):
    entries = list(filled.iter_entries(**filters))
    records = list(filled.iter_records(**filters))
    if filters.get("account") == "nobody":
        assert entries == [] and records == []
    else:
        assert len(entries) > len(records) > bulk.BATCH
        assert len(list(filled.entry_batches(**filters))) == -(-len(entries) // bulk.BATCH)

    buf = io.BytesIO()
    assert write_jsonl(filled, buf, **filters) == len(records)
    lines = buf.getvalue().split(b"\n")
    assert lines.pop() == b""
    assert [_json.loads(line) for line in lines] == [
        {"account": r.key.account, "exchange": r.key.exchange, "stream": r.key.stream, "id": r.record_id,
         "raw": _json.loads(r.raw)} for r in records]

    buf = io.BytesIO()
    assert write_csv(filled, buf, **filters) == len(entries)
    expected = [list(CSV_COLUMNS)] + [
        [_iso(e.ts), str(e.ts), e.account, e.exchange, e.stream, _text(e.category), _text(e.symbol),
         _text(e.coin), e.kind.value, _text(e.amount), _text(e.balance), _text(e.exchange_type),
         e.record_id, str(e.seq)]
        for e in entries]
    assert list(csv.reader(io.StringIO(buf.getvalue().decode(), newline=""))) == expected

    path = tmp_path / "out.parquet"
    with path.open("wb") as fh:
        assert write_parquet(filled, fh, **filters) == len(entries)
    rows = pq.read_table(path).to_pylist()
    assert rows == [
        {"time": datetime.fromtimestamp(e.ts / 1000, tz=timezone.utc), "account": e.account, "exchange": e.exchange,
         "stream": e.stream, "category": e.category, "symbol": e.symbol, "coin": e.coin, "kind": e.kind.value,
         "amount": e.amount, "balance": e.balance, "exchange_type": e.exchange_type,
         "record_id": e.record_id, "seq": e.seq}
        for e in entries]


def test_csv_quotes_exactly_the_cells_that_need_it(archive):
    key = StreamKey("desk, \"A\"", "coinw", "deals-history", "BTC")
    tricky = LedgerEntry(key.account, "coinw", "deals-history", "1", 0, 1_700_000_000_000, Kind.FEE,
                         "USD\nT", Decimal("-1.5"), symbol='BTC"USDT', exchange_type="a\rb")
    plain = LedgerEntry(key.account, "coinw", "deals-history", "2", 0, 1_700_000_000_001, Kind.FEE, "USDT", Decimal(1))
    archive.write_page(key, [Record("1", tricky.ts, b"{}", [tricky]), Record("2", plain.ts, b"{}", [plain])])
    buf = io.BytesIO()
    assert write_csv(archive, buf) == 2
    reference = io.StringIO(newline="")
    writer = csv.writer(reference)
    writer.writerow(CSV_COLUMNS)
    for e in (tricky, plain):
        writer.writerow([_iso(e.ts), e.ts, e.account, e.exchange, e.stream, _text(e.category), _text(e.symbol),
                         _text(e.coin), e.kind.value, _text(e.amount), _text(e.balance),
                         _text(e.exchange_type), e.record_id, e.seq])
    assert buf.getvalue().decode() == reference.getvalue()
    assert 'USD\nT' in {row[7] for row in csv.reader(io.StringIO(buf.getvalue().decode(), newline=""))}


class _FailingOut(io.BytesIO):
    """A file whose third write fails, as a full disk or a closed pipe would."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data) -> int:
        self.writes += 1
        if self.writes == 3:
            raise BrokenPipeError("closed pipe")
        return super().write(data)


@pytest.mark.parametrize("writer", [write_jsonl, write_csv, write_parquet])
def test_a_failing_write_stops_the_export_with_its_error(filled, writer):
    out = _FailingOut()
    with pytest.raises(BrokenPipeError):
        writer(filled, out)
    if writer is not write_parquet:     # (Parquet's writer still tries its footer on close)
        assert out.writes == 3          # no batch written after the failure


@pytest.mark.parametrize("writer", [write_jsonl, write_csv, write_parquet])
def test_a_stream_committed_as_an_export_starts_gets_its_names(archive, monkeypatch, writer):
    """Another process's sync commits a new stream just before the export's query runs: on
    PostgreSQL each statement sees what was committed before it, so the stream map must be
    read after the rows' query, or the new stream's rows have no account/exchange/stream."""
    first = StreamKey("main", "coinw", "deals-history", "BTC")
    late = StreamKey("late", "coinw", "deals-history", "ETH")

    def page(key, rid):
        e = LedgerEntry(key.account, key.exchange, key.stream, rid, 0, 1_700_000_000_000, Kind.FEE, "USDT", Decimal(1))
        return [Record(rid, e.ts, b'{"id":%s}' % rid.encode(), [e])]

    archive.write_page(first, page(first, "1"))
    exported = []
    real_sql = bulk.Prepared.sql

    def sql(self, dialect):                       # runs right before the export's query
        if self in exported:
            exported.remove(self)
            with Archive.open(archive.url) as other:
                other.write_page(late, page(late, "2"))
        return real_sql(self, dialect)

    for name in ("record_lines", "entry_columns"):
        real = getattr(bulk, name)
        monkeypatch.setattr(bulk, name, lambda *a, real=real: (exported.append(real(*a)[0]) or exported[-1], real(*a)[1]))
    monkeypatch.setattr(bulk.Prepared, "sql", sql)
    out = io.BytesIO()
    count = writer(archive, out)
    assert not exported, "the hook did not run"
    assert count == 2
    if writer is write_csv:
        rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
        assert sorted(r["account"] for r in rows) == ["late", "main"]
    elif writer is write_jsonl:
        assert sorted(_json.loads(line)["account"] for line in out.getvalue().splitlines()) == ["late", "main"]
    else:
        assert sorted(pq.read_table(io.BytesIO(out.getvalue())).column("account").to_pylist()) == ["late", "main"]


def test_unknown_stored_kind_exports_as_other_like_the_row_reads(one):
    import sqlalchemy as sa

    with one._engine.begin() as conn:            # as an archive a newer cexledger wrote
        conn.execute(sa.text("UPDATE entries SET kind = 'some_future_kind' WHERE seq = 1"))
    kinds = [e.kind.value for e in one.iter_entries()]
    assert kinds == ["realized_pnl", "other"]
    buf = io.BytesIO()
    write_csv(one, buf)
    assert [row["kind"] for row in csv.DictReader(io.StringIO(buf.getvalue().decode()))] == kinds
    buf = io.BytesIO()
    write_parquet(one, buf)
    assert pq.read_table(io.BytesIO(buf.getvalue())).column("kind").to_pylist() == kinds
