"""The funding-wallet normalizer on the live recorded body: exact amounts, the kinds, the
``"type": ""`` row."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec

from cexledger.exchanges.bitget.normalize import FUNDING_STREAM, funding_kind, funding_parse
from cexledger.model import Kind

RECORDED = (Path(__file__).parents[1] / "fixtures" / "recorded"
            / "extra_bitget_v3-funding-financial-records__ccxt_fetchLedger_uta_funding.json")


def recorded_rows() -> list[bytes]:
    """The rows of the recorded body, each as the exact bytes the exchange sent."""
    body = msgspec.json.decode(RECORDED.read_bytes(), type=dict[str, msgspec.Raw])
    data = msgspec.json.decode(body["data"], type=dict[str, msgspec.Raw])
    return [bytes(r) for r in msgspec.json.decode(data["list"], type=list[msgspec.Raw])]


def test_recorded_body_entries():
    rows = recorded_rows()
    entries = []
    for raw in rows:
        derived = funding_parse("acc", "FUNDING", raw)
        assert derived.record is not None, derived
        assert derived.record.raw == raw
        (entry,) = derived.record.entries
        entries.append(entry)
    got = [(e.record_id, e.ts, e.kind, e.coin, e.amount, e.balance, e.exchange_type,
            e.stream, e.category, e.symbol) for e in entries]
    assert got == [
        ("1477174343261219362", 1787918826202, Kind.WITHDRAWAL, "USDT", Decimal("-28.50000000"),
         Decimal("0E-8"), "withdraw", FUNDING_STREAM, "FUNDING", None),
        # "type": "" on a withdraw row that brings money in: the transfer the withdrawal
        # below it spends (the balance chain shows it came from the trading account)
        ("1477141273662556067", 1787918664410, Kind.TRANSFER, "USDT", Decimal("30.00000000"),
         Decimal("30.00000000"), "withdraw", FUNDING_STREAM, "FUNDING", None),
        ("1477103021016917536", 1787913879280, Kind.TRANSFER, "USDT", Decimal("-30.00000000"),
         Decimal("0E-8"), "transfer_out", FUNDING_STREAM, "FUNDING", None),
        ("1477193981444267642", 1787913876998, Kind.DEPOSIT, "USDT", Decimal("30.00000000"),
         Decimal("30.00000000"), "deposit", FUNDING_STREAM, "FUNDING", None),
    ]
    # exact decimals, the digits as sent
    assert str(entries[0].amount) == "-28.50000000"
    # deposits and withdrawals a tax tool sums: one deposit of 30, one withdrawal of 28.5
    by_kind: dict[Kind, Decimal] = {}
    for e in entries:
        by_kind[e.kind] = by_kind.get(e.kind, Decimal(0)) + e.amount
    assert by_kind == {Kind.DEPOSIT: Decimal(30), Kind.WITHDRAWAL: Decimal("-28.5"), Kind.TRANSFER: Decimal(0)}


def test_kind_by_type_then_group_and_direction():
    assert funding_kind("transfer_in", "transfer", Decimal(5)) is Kind.TRANSFER
    assert funding_kind("withdraw", "withdraw", Decimal(-5)) is Kind.WITHDRAWAL
    assert funding_kind("", "withdraw", Decimal(-5)) is Kind.WITHDRAWAL
    assert funding_kind("", "withdraw", Decimal(5)) is Kind.TRANSFER
    assert funding_kind(None, "deposit", Decimal(-5)) is Kind.TRANSFER
    assert funding_kind(None, "DEPOSIT", Decimal(5)) is Kind.DEPOSIT
    assert funding_kind("dividend", "financial", Decimal(5)) is Kind.OTHER
    assert funding_kind("", "", Decimal(5)) is Kind.OTHER
