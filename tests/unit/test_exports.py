"""Exports keep every amount and id exact: JSONL (raw bytes), CSV and Parquet (entries)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from cexledger import _json
from cexledger.archive import Archive
from cexledger.errors import CexledgerError
from cexledger.export import write_csv, write_jsonl, write_parquet
from cexledger.model import Kind, LedgerEntry, Record, StreamKey

KEY = StreamKey("main", "coinw", "deals-history", "BTC")
BIG_ID = "2435521222632017955"          # above 2^53
TINY = Decimal("0.000000000000000001")
HUGE = Decimal("12345678901234567890.123456789012345678")


def entry(rid, seq, amount, ts=1_700_000_000_000, balance=None):
    return LedgerEntry(account="main", exchange="coinw", stream="deals-history", record_id=rid, seq=seq,
                       ts=ts, kind=Kind.REALIZED_PNL, coin="USDT", amount=amount, fee=-TINY, balance=balance)


@pytest.fixture
def archive(tmp_path):
    with Archive.open(f"sqlite:///{tmp_path / 'a.db'}") as arc:
        raw = b'{"id":2435521222632017955,\n "netProfit":-0.000000000000000001, "price":85992.40}'
        arc.write_page(KEY, [
            Record(BIG_ID, 1_700_000_000_000, raw, [entry(BIG_ID, 0, TINY, balance=HUGE), entry(BIG_ID, 1, HUGE.copy_negate())]),
        ])
        yield arc


def test_jsonl_keeps_raw_bytes_and_one_line(archive):
    buf = io.BytesIO()
    assert write_jsonl(archive, buf) == 1
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1
    assert b'"raw":{"id":2435521222632017955,  "netProfit":-0.000000000000000001, "price":85992.40}' in lines[0]
    obj = _json.loads(lines[0])
    assert obj["id"] == BIG_ID and obj["raw"]["id"] == int(BIG_ID)
    assert obj["raw"]["netProfit"] == -TINY and str(obj["raw"]["price"]) == "85992.40"


def test_csv_is_exact(archive):
    buf = io.BytesIO()
    assert write_csv(archive, buf) == 2
    rows = list(csv.DictReader(io.StringIO(buf.getvalue().decode())))
    assert rows[0]["amount"] == "0.000000000000000001" and rows[0]["balance"] == str(HUGE)
    assert rows[1]["amount"] == "-" + str(HUGE) and rows[0]["record_id"] == BIG_ID


def test_parquet_is_exact(archive, tmp_path):
    path = tmp_path / "out.parquet"
    with path.open("wb") as fh:
        assert write_parquet(archive, fh) == 2
    table = pq.read_table(path).to_pylist()
    assert table[0]["amount"] == TINY and table[0]["balance"] == HUGE and table[1]["amount"] == HUGE.copy_negate()
    assert table[0]["record_id"] == BIG_ID and table[0]["fee"] == -TINY


def test_parquet_refuses_to_round(tmp_path):
    with Archive.open(f"sqlite:///{tmp_path / 'b.db'}") as arc:
        arc.write_page(KEY, [Record("1", 1, b"{}", [entry("1", 0, Decimal("1E-19"))])])
        with pytest.raises(CexledgerError, match="decimal"):
            write_parquet(arc, io.BytesIO())


def test_iso_ms_matches_datetime():
    from datetime import datetime, timedelta, timezone

    from hypothesis import given
    from hypothesis import strategies as st

    from cexledger.export.csv import iso_ms

    @given(st.integers(min_value=-10**12, max_value=4 * 10**12))
    def check(ts):
        expected = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ts)
        assert iso_ms(ts) == expected.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    check()
