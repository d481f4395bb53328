"""``cexledger export -f beancount`` end to end: the real sandbox over HTTP (Bitget with its
tax key, so tax records and the funding wallet are in, and CoinW), the real ``cexledger
sync``, then the real ``bean-check`` on the file. Its postings are compared with the
ledger's entries (``read_entries``) for the same filters.

One sync serves every test of the module: a first sync with a tax key reads a year of
seven-day windows at 1 request/s per category (two categories here: about two minutes)."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data

from cexledger._json import EXACT
from cexledger.archive import Archive
from cexledger.demo import write_sandbox_config
from cexledger.export._tax import unpaired_note
from cexledger.ledger import Filters, Pairing, Trade, read_entries, to_ms

from ..beancount_support import assert_bean_check_passes
from .conftest import Cli, start_sandbox

CATEGORIES = ["SPOT", "USDT-FUTURES"]
SANDBOX = ("--records", "800", "--old-records", "200", "--funding-records", "200",
           "--history-days", "130", "--seed", "7")


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    sb = start_sandbox(*SANDBOX)
    try:
        d = tmp_path_factory.mktemp("beancount")
        accounts = [dict(a, categories=CATEGORIES) if a["exchange"] == "bitget" else
                    {k: v for k, v in a.items()} for a in sb.accounts()]
        assert {a["exchange"] for a in accounts} == {"bitget", "coinw"}
        assert all(a.get("tax_api_key") for a in accounts if a["exchange"] == "bitget")
        config = d / "config.toml"
        write_sandbox_config(config, sb.url, accounts)
        cli = Cli(tmp=d, config=config, db=d / "archive.db")
        cli.run("sync", "--quiet", check=True, timeout=900)
        yield cli
    finally:
        sb.stop()


def _export(cli: Cli, path: Path, *args: str):
    proc = cli.run("export", "-f", "beancount", "-o", str(path), *args, check=True)
    assert_bean_check_passes(path)
    entries, errors, _ = loader.load_file(str(path))
    assert not errors, errors
    return entries, proc.stderr


def _assets(entries) -> dict[str, tuple[str, str, str]]:
    """Asset account -> (exchange, account, category), from the open directives' metadata."""
    return {e.account: (e.meta["cexledger-exchange"], e.meta["cexledger-account"], e.meta["cexledger-category"])
            for e in entries if isinstance(e, data.Open) and e.account.startswith("Assets:")}


def _coins(entries) -> dict[str, str]:
    return {e.currency: e.meta["name"] for e in entries if isinstance(e, data.Commodity)}


def _is_ledger_txn(e) -> bool:
    return (isinstance(e, data.Transaction) and ("record-id" in e.meta or "record-ids" in e.meta)
            and "after-record-id" not in e.meta)


def _file_sums(entries) -> dict[tuple, Decimal]:
    """(exchange, account, category, coin) -> sum of the file's Assets postings of ledger
    records and trades (opening balances and adjustments left out)."""
    assets, coins = _assets(entries), _coins(entries)
    sums: dict[tuple, Decimal] = {}
    for e in entries:
        if _is_ledger_txn(e):
            for p in e.postings:
                if p.account.startswith("Assets:"):
                    key = (*assets[p.account], coins[p.units.currency])
                    sums[key] = EXACT.add(sums.get(key, Decimal(0)), p.units.number)
    return sums


def _ledger(db: Path, **filters) -> list:
    with Archive.open(f"sqlite:///{db}", read_only=True) as archive:
        return list(read_entries(archive, Filters.of(**filters)))


def _ledger_sums(ledger) -> dict[tuple, Decimal]:
    sums: dict[tuple, Decimal] = {}
    for e in ledger:
        key = (e.exchange, e.account, e.category, e.coin)
        sums[key] = EXACT.add(sums.get(key, Decimal(0)), e.amount)
    return sums


def _unexplained(entries) -> list:
    return [e for e in entries if isinstance(e, data.Transaction) and "after-record-id" in e.meta]


def _asserted_chains(entries) -> Counter:
    assets, coins = _assets(entries), _coins(entries)
    return Counter((*assets[e.account], coins[e.amount.currency]) for e in entries
                   if isinstance(e, data.Balance))


def test_the_whole_archive_passes_bean_check_and_matches_the_ledger(synced, tmp_path):
    ledger = _ledger(synced.db)
    entries, stderr = _export(synced, tmp_path / "all.beancount")
    # the data holds what the export must handle
    streams = {(e.exchange, e.stream) for e in ledger}
    assert {("bitget", "financial-records"), ("bitget", "funding-records"), ("bitget", "tax-records"),
            ("coinw", "deals-history")} <= streams, streams
    kinds = {e.kind.value for e in ledger}
    assert {"trade", "fee", "realized_pnl", "funding", "transfer", "deposit", "withdrawal"} <= kinds, kinds
    # every leg is written: paired into a trade, or alone and counted in the note
    def is_leg(e) -> bool:
        return e.kind.value in ("trade", "convert") and bool(e.amount)

    pairing = Pairing(iter(ledger))
    trades = [item for item in pairing if isinstance(item, Trade)]
    in_trades = sum(1 for t in trades for e in t.entries if is_leg(e))
    assert sum(1 for e in ledger if is_leg(e)) == in_trades + pairing.unpaired > 0
    assert sum(1 for e in entries if _is_ledger_txn(e) and "record-ids" in e.meta) == len(trades)
    note = unpaired_note(pairing.unpaired, "movements against Equity:<Exchange>:<Account>:Unpaired")
    assert note is None or note in stderr, stderr
    # the CLI counts what the file holds: its transactions
    written = sum(1 for e in entries if isinstance(e, data.Transaction))
    assert f"wrote {written} transactions to" in stderr, stderr
    assert _file_sums(entries) == _ledger_sums(ledger)
    assert not _unexplained(entries) and "breaks" not in stderr and "off by" not in stderr, stderr
    # every Bitget chain is asserted, exactly, and CoinW (no balance) never
    balances = [e for e in entries if isinstance(e, data.Balance)]
    assert balances and all(b.tolerance == 0 for b in balances)
    chains = {(e.exchange, e.account, e.category, e.coin) for e in ledger if e.balance is not None}
    assert {c[0] for c in chains} == {"bitget"}
    asserted = _asserted_chains(entries)
    assert set(asserted) == chains
    # the last assertion of each chain is the balance its last record reports
    last: dict[tuple, Decimal] = {}
    for e in ledger:
        if e.balance is not None:
            last[(e.exchange, e.account, e.category, e.coin)] = e.balance
    assets, coins = _assets(entries), _coins(entries)
    final = {}
    for b in sorted(balances, key=lambda b: b.date):
        final[(*assets[b.account], coins[b.amount.currency])] = b.amount.number
    assert final == last
    # one ledger transaction per record (or trade), its id in the metadata
    ids = {e.record_id for e in ledger}
    written = set()
    for e in entries:
        if _is_ledger_txn(e):
            written.update(e.meta["record-ids"].split() if "record-ids" in e.meta else [e.meta["record-id"]])
    assert written == ids


def test_a_time_range_opens_balances_at_its_start(synced, tmp_path):
    bitget_ts = sorted(e.ts for e in _ledger(synced.db, exchange="bitget"))
    first = datetime.fromtimestamp(bitget_ts[len(bitget_ts) // 2] / 1000, timezone.utc).date()
    until = first + timedelta(days=30)
    args = ("--since", first.isoformat(), "--until", until.isoformat())
    entries, stderr = _export(synced, tmp_path / "range.beancount", *args)
    ledger = _ledger(synced.db, since=first.isoformat(), until=until.isoformat())
    assert ledger and min(e.ts for e in ledger) >= to_ms(first.isoformat())
    assert _file_sums(entries) == _ledger_sums(ledger)
    assert not _unexplained(entries) and "off by" not in stderr, stderr
    openings = [e for e in entries if isinstance(e, data.Transaction) and e.narration.startswith("opening")]
    # the balances at the range's start: every opening (and every open) on the since day
    assert openings and {o.date for o in openings} == {first}
    assert {e.date for e in entries if isinstance(e, (data.Open, data.Commodity))} == {first}
    starts: dict[tuple, int] = {}
    for e in ledger:
        if e.balance is not None:
            starts.setdefault((e.exchange, e.account, e.category, e.coin), e.ts)
    # some chain's first movement in the range is on a later day: its opening is not there
    assert len(openings) == len(starts) and max(starts.values()) >= to_ms((first + timedelta(days=1)).isoformat())
    dates = [e.date for e in entries if isinstance(e, data.Transaction)]
    assert min(dates) >= first and max(dates) < until
    asserted = _asserted_chains(entries)
    assert set(asserted) == {(e.exchange, e.account, e.category, e.coin) for e in ledger if e.balance is not None}


def _delete_one_record(src: Path, dst: Path) -> tuple[str, str, str, Decimal]:
    """Copy the archive and delete one Bitget financial record (row, versions, entries) in
    the middle of a USDT-FUTURES chain that has records after it. Returns the victim's
    (record id, category, coin, sum of its entries)."""
    shutil.copyfile(src, dst)
    conn = sqlite3.connect(dst)
    try:
        rows = conn.execute(
            "SELECT e.stream_id, e.record_id, e.coin, e.amount, e.ts FROM entries e JOIN streams s "
            "ON s.id = e.stream_id WHERE s.exchange = 'bitget' AND s.stream = 'financial-records' "
            "AND e.category = 'USDT-FUTURES' AND e.coin = 'USDT' ORDER BY e.ts").fetchall()
        sums: dict[tuple, Decimal] = {}
        for sid, rid, _coin, amount, _ts in rows:
            sums[(sid, rid)] = sums.get((sid, rid), Decimal(0)) + Decimal(amount)
        order = list(dict.fromkeys((sid, rid) for sid, rid, *_ in rows))
        victim = next(k for k in order[len(order) // 2:] if sums[k])
        assert order.index(victim) < len(order) - 1
        for table in ("entries", "record_versions", "records"):
            conn.execute(f"DELETE FROM {table} WHERE stream_id = ? AND record_id = ?", victim)
        conn.commit()
    finally:
        conn.close()
    return victim[1], "USDT-FUTURES", "USDT", sums[victim]


def test_a_record_missing_from_the_archive_is_booked_and_told(synced, tmp_path):
    holed = tmp_path / "holed.db"
    rid, category, coin, moved = _delete_one_record(synced.db, holed)
    cli = Cli(tmp=synced.tmp, config=synced.config, db=holed)
    entries, stderr = _export(cli, tmp_path / "holed.beancount")
    (adjustment,) = _unexplained(entries)
    assets, coins = _assets(entries), _coins(entries)
    (posting,) = [p for p in adjustment.postings if p.account.startswith("Assets:")]
    assert assets[posting.account][2] == category and coins[posting.units.currency] == coin
    assert posting.units.number == moved               # exactly what the missing record moved
    assert rid not in (adjustment.meta["after-record-id"], adjustment.meta["record-id"])
    assert "off by" in stderr and adjustment.meta["record-id"] in stderr, stderr
    assert _file_sums(entries) == _ledger_sums(_ledger(holed))
