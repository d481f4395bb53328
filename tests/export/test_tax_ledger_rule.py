"""Tax files follow the ledger rule (a movement in both Bitget's tax and financial records is
written once), and the export's notes count the selected time range only.

The archive is written with ``Archive.write_page`` as syncs write it: tax records over 200
days, financial records (the same movements, some under other ids) over the newest 90 with
their coverage, and a record kept raw only on each side of a boundary.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.exchanges import ledger_shadows
from cexledger.export import write_cointracking, write_koinly
from cexledger.ledger import Filters, read_entries
from cexledger.model import Kind, LedgerEntry, Record, StreamKey

from .tax_rules import check_cointracking, check_koinly, ledger_totals

DAY = 86_400_000
NOW = 1_790_000_000_000
FIN_START = NOW - 90 * DAY
TAX = StreamKey("main", "bitget", "tax-records", "USDT-FUTURES")
FIN = StreamKey("main", "bitget", "financial-records", "USDT-FUTURES")


def _record(key: StreamKey, rid: str, ts: int, amount: Decimal) -> Record:
    entry = LedgerEntry(key.account, key.exchange, key.stream, rid, 0, ts, Kind.REALIZED_PNL, "USDT",
                        amount, None, key.partition, "BTCUSDT", "CLOSE_LONG")
    return Record(rid, ts, b'{"id":"%s"}' % rid.encode(), [entry])


@pytest.fixture
def archive(tmp_path: Path):
    with Archive.open(f"sqlite:///{tmp_path / 'archive.db'}") as opened:
        moves = [(NOW - 200 * DAY + i * DAY // 2, Decimal(f"{(-1) ** i * (i + 1)}.{i:018d}")) for i in range(400)]
        opened.write_page(TAX, [_record(TAX, f"t{i}", ts, a) for i, (ts, a) in enumerate(moves)],
                          cover=(NOW - 200 * DAY, NOW))
        financial = [_record(FIN, f"t{i}" if i % 2 else f"f{i}", ts, a)
                     for i, (ts, a) in enumerate(moves) if ts >= FIN_START]
        opened.write_page(FIN, financial, cover=(FIN_START, NOW))
        for rid, ts in (("raw-old", NOW - 150 * DAY + 1), ("raw-new", NOW - 10 * DAY + 1)):
            opened.write_page(FIN if ts >= FIN_START else TAX, [Record(rid, ts, b'{"id":"%s"}' % rid.encode(), [])])
        yield opened


RANGES = [(None, None), (NOW - 120 * DAY, NOW - 60 * DAY), (FIN_START, None), (None, FIN_START)]


@pytest.mark.parametrize("since, until", RANGES)
def test_the_notes_count_the_range(archive, since, until):
    def inside(ts: int) -> bool:
        return (since is None or ts >= since) and (until is None or ts < until)

    every = [e for e in archive.iter_entries() if inside(e.ts)]
    ledger = list(read_entries(archive, Filters(since_ms=since, until_ms=until)))
    excluded = archive.count_ledger_excluded(shadows=ledger_shadows(), since_ms=since, until_ms=until)
    assert excluded == len(every) - len(ledger)
    assert (excluded > 0) == (until is None or until > FIN_START)   # tax rows under financial coverage
    raw_only = sum(inside(ts) for ts in (NOW - 150 * DAY + 1, NOW - 10 * DAY + 1))
    assert archive.count_without_entries(since_ms=since, until_ms=until) == raw_only


@pytest.mark.parametrize("since, until", RANGES)
def test_tax_files_write_each_movement_once(archive, since, until):
    want = ledger_totals(archive, Filters(since_ms=since, until_ms=until))
    rows = len(list(read_entries(archive, Filters(since_ms=since, until_ms=until))))
    for write, check in ((write_koinly, check_koinly), (write_cointracking, check_cointracking)):
        out = io.BytesIO()
        assert write(archive, out, since_ms=since, until_ms=until) == rows
        totals, written = check(out.getvalue())
        assert totals == want and len(written) == rows
    assert 0 < rows < sum(1 for _ in archive.iter_entries())
