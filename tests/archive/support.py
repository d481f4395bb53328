"""Test data builders for the archive tests."""

from __future__ import annotations

from decimal import Decimal

from cexledger.model import Kind, LedgerEntry, Record, StreamKey

KEY = StreamKey("main", "bitget", "financial-records", "USDT-FUTURES")
BALANCE = Decimal("100.000000000000000001")
"""The balance ``make_record`` puts on a record's last entry."""


def make_record(
    record_id: str | int,
    ts: int = 1_700_000_000_000,
    *,
    key: StreamKey = KEY,
    raw: bytes | None = None,
    amounts: tuple[str, ...] = ("-1.5",),
    mutable: bool = False,
    kind: Kind = Kind.FEE,
) -> Record:
    """A record with one entry per amount, the balance on its last entry (the ledger
    convention); raw defaults to JSON naming the id and amounts."""
    rid = str(record_id)
    if raw is None:
        raw = ('{"id":"%s","amounts":[%s]}' % (rid, ",".join(amounts))).encode()
    last = len(amounts) - 1
    entries = [
        LedgerEntry(key.account, key.exchange, key.stream, rid, seq, ts, kind, "USDT", Decimal(amount),
                    BALANCE if seq == last else None, "USDT-FUTURES", "BTCUSDT", "contract_main_settle_fee")
        for seq, amount in enumerate(amounts)
    ]
    return Record(rid, ts, raw, entries, mutable)
