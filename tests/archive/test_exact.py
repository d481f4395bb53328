"""Invariants 1 and 2: amounts, ids, timestamps and raw bytes come back exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger._json import canonical_decimal
from cexledger.archive import Archive
from cexledger.model import Kind, LedgerEntry, Record

from .support import BALANCE, KEY, make_record

AMOUNTS = [
    "0.000000000000000001",
    "-0.000000000000000001",
    "123456789.123456789012345678",
    "-123456789.123456789012345678",
    "12345678901234567890.123456789012345678",  # 38 significant digits
    "5.10",
    "1E+3",
    "0",
    "-0.00",
]
IDS = ["2435521222632017955", "9223372036854775807", "18446744073709551615", "123456789012345678901234567890", "a-b_c/42"]


def test_decimals_round_trip_exactly(archive: Archive) -> None:
    record = make_record(1, amounts=tuple(AMOUNTS))
    archive.write_page(KEY, [record])
    got = list(archive.iter_entries())
    assert [e.seq for e in got] == list(range(len(AMOUNTS)))
    for entry, text in zip(got, AMOUNTS):
        assert isinstance(entry.amount, Decimal)
        assert entry.amount == Decimal(text)
        assert canonical_decimal(entry.amount) == canonical_decimal(Decimal(text))
    assert [e.balance for e in got] == [None] * (len(AMOUNTS) - 1) + [BALANCE]
    assert got == [
        LedgerEntry(e.account, e.exchange, e.stream, e.record_id, e.seq, e.ts, e.kind, e.coin,
                    Decimal(canonical_decimal(e.amount)), e.balance, e.category, e.symbol, e.exchange_type)
        for e in record.entries
    ]


def test_big_ids_and_timestamps_round_trip(archive: Archive) -> None:
    ts = 4_102_444_800_000  # 2100-01-01, far beyond 2^31
    records = [make_record(rid, ts + i) for i, rid in enumerate(IDS)]
    archive.write_page(KEY, records)
    stored = {r.record_id: r for r in archive.iter_records()}
    assert set(stored) == set(IDS)
    for i, rid in enumerate(IDS):
        assert stored[rid].ts == ts + i
        assert stored[rid].raw == records[i].raw
        assert stored[rid].version == 1
    assert {e.record_id for e in archive.iter_entries()} == set(IDS)
    assert archive.versions(KEY, "2435521222632017955") == [records[0].raw]


def test_raw_bytes_are_kept_byte_for_byte(archive: Archive) -> None:
    raws = [
        b'{"id":1,"amount":0.10000000000000000000001,"unknownField":{"nested":[1,2,3]}}',
        '{"note":"üñí©ødé ✓ 中文"}'.encode(),
        b'{"a":1}\r\n  ',
        b"\x00\xff\xfe not even json \x00",
    ]
    archive.write_page(KEY, [make_record(i, raw=raw) for i, raw in enumerate(raws)])
    assert [r.raw for r in archive.iter_records()] == raws


def test_every_kind_and_missing_values_round_trip(archive: Archive) -> None:
    entries = [
        LedgerEntry(KEY.account, KEY.exchange, KEY.stream, "7", seq, 1000, kind, None, Decimal("1"),
                    None, None, None, "someBrandNewExchangeType" if kind is Kind.OTHER else None)
        for seq, kind in enumerate(Kind)
    ]
    archive.write_page(KEY, [Record("7", 1000, b"{}", entries)])
    assert list(archive.iter_entries()) == entries


def test_a_record_without_entries_is_still_archived(archive: Archive) -> None:
    archive.write_page(KEY, [Record("unknown-row", 5, b'{"type":"never seen before"}', [])])
    assert [r.raw for r in archive.iter_records()] == [b'{"type":"never seen before"}']
    assert list(archive.iter_entries()) == []


def test_entries_of_another_record_or_stream_are_refused(archive: Archive) -> None:
    good = make_record(1)
    wrong = make_record(2)
    wrong.entries[0] = LedgerEntry("someone-else", KEY.exchange, KEY.stream, "2", 0, 1, Kind.FEE, "USDT", Decimal(1))
    with pytest.raises(ValueError, match="does not belong"):
        archive.write_page(KEY, [good, wrong])
    assert archive.count_records() == 0
