"""Koinly and CoinTracking files of sandbox data of every kind, through the real CLI.

The archive is the session's ``demo_archive`` (``cexledger demo --db``: the real sandbox
over HTTP, Bitget financial records of every category, the funding wallet and a year of tax
records, CoinW deals). Each file is read back through the documented rules
(``tests/export/tax_rules.py``) and its totals per coin compared with the ledger's own
(``read_entries`` under the same filters); nothing expected is written down by hand.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections import Counter, defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger._clock import DAY_MS
from cexledger._json import EXACT
from cexledger.export import _tax
from cexledger.ledger import Filters, Pairing, Trade, read_entries
from cexledger.model import Kind

from ..export.tax_rules import check_cointracking, check_koinly, ledger_totals
from .conftest import CLI

CHECK = {"koinly": check_koinly, "cointracking": check_cointracking}
MERGED = re.compile(r"(1 entry|([2-9]|[1-9]\d+) entries) merged \(")
ID = {"koinly": "TxHash", "cointracking": "Tx-ID"}


def run(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")}
    env["HOME"] = str(db.parent / "home")
    proc = subprocess.run([CLI, "--db", str(db), *args], capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def export(db: Path, fmt: str, *args: str) -> tuple[bytes, str]:
    """The file ``cexledger export -f fmt args`` writes to standard output, and its stderr."""
    proc = run(db, "export", "-f", fmt, *args)
    return proc.stdout, proc.stderr.decode()


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


@pytest.fixture(scope="module")
def ledger(demo_archive: Path) -> list:
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        return list(read_entries(archive))


def totals(db: Path, **filters) -> dict:
    with Archive.open(f"sqlite:///{db}", read_only=True) as archive:
        return ledger_totals(archive, Filters.of(**filters))


def test_the_sandbox_data_holds_every_kind(ledger):
    """Guard: the files below are checked on data of every kind, of every stream."""
    kinds = {e.kind for e in ledger if e.amount}
    assert kinds >= {Kind.TRADE, Kind.REALIZED_PNL, Kind.FEE, Kind.FUNDING, Kind.TRANSFER, Kind.DEPOSIT,
                     Kind.WITHDRAWAL, Kind.CONVERT, Kind.INTEREST, Kind.BORROW, Kind.REPAY,
                     Kind.LIQUIDATION}, kinds
    assert {e.stream for e in ledger} == {"financial-records", "funding-records", "tax-records", "deals-history"}
    assert {e.exchange for e in ledger} == {"bitget", "coinw"}


SELECTIONS = [(), ("--account", "bitget-1"), ("--exchange", "coinw"), ("--since", "2026-01-01", "--until", "2026-10-01")]


@pytest.mark.parametrize("fmt", ["koinly", "cointracking"])
@pytest.mark.parametrize("selection", SELECTIONS, ids=["all", "account", "exchange", "range"])
def test_the_file_keeps_the_rules_and_the_ledgers_totals(demo_archive, ledger, fmt, selection):
    data, stderr = export(demo_archive, fmt, *selection)
    file_totals, rows = CHECK[fmt](data)
    options = dict(zip((a.lstrip("-") for a in selection[::2]), selection[1::2]))
    want = totals(demo_archive, **options)
    assert want and file_totals == want
    # every stream reaches the file (the funding wallet's ids are prefixed)
    ids = [r[ID[fmt]] for r in rows]
    if not selection:
        assert any(i.startswith("bitget-funding-") for i in ids) and any(i.startswith("coinw-") for i in ids)
        tax_ids = {e.record_id for e in ledger if e.stream == "tax-records" and e.amount}
        assert any(r.split("-")[1] in tax_ids for r in ids if r.startswith("bitget-") and "+" not in r)
    # the note on legs without a partner says how many the ledger has
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        pairing = Pairing(read_entries(archive, Filters.of(**options)))
        trades = sum(isinstance(item, Trade) for item in pairing)
    if pairing.unpaired:
        assert f"{pairing.unpaired} trade leg" in stderr
        assert sum("leg without a partner" in r["Description" if fmt == "koinly" else "Comment"]
                   for r in rows) == pairing.unpaired
    else:
        assert "no partner" not in stderr
    described = [r["Description" if fmt == "koinly" else "Comment"] for r in rows]
    assert sum(d.startswith(("trade ", "conversion ")) and " without a partner" not in d.split(";")[0]
               for d in described) == trades


def test_koinly_says_when_a_file_holds_several_accounts(demo_archive):
    _, stderr = export(demo_archive, "koinly")
    assert "holds 2 accounts (bitget-1, coinw-1)" in stderr and "--account" in stderr
    _, stderr = export(demo_archive, "koinly", "--account", "coinw-1")
    assert "accounts" not in stderr


def _boundaries(ledger) -> tuple:
    """Two entries (money moved, not of a trade leg's record: a leg's fee is a row of its
    trade, under the trade's id) well inside the ledger, the later one at a different ``ts``
    from any entry before it."""
    legs = {(e.stream, e.record_id) for e in ledger if e.kind in (Kind.TRADE, Kind.CONVERT)}
    plain = [e for e in ledger if e.amount and (e.stream, e.record_id) not in legs]
    first, last = plain[len(plain) // 4], plain[3 * len(plain) // 4]
    assert first.ts < last.ts
    return first, last


@pytest.mark.parametrize("fmt", ["koinly", "cointracking"])
def test_since_includes_and_until_excludes_the_entries_on_the_boundary(demo_archive, ledger, fmt):
    first, last = _boundaries(ledger)
    since, until = iso(first.ts), iso(last.ts)
    data, _ = export(demo_archive, fmt, "--since", since, "--until", until)
    file_totals, rows = CHECK[fmt](data)
    assert file_totals == totals(demo_archive, since=since, until=until)
    ids = {r[ID[fmt]] for r in rows}
    assert _tax.entry_id(first) in ids and _tax.entry_id(last) not in ids
    in_range = [e for e in ledger if first.ts <= e.ts < last.ts]
    # every row of the range is the row of the whole file
    whole = {r[ID[fmt]]: r for r in CHECK[fmt](export(demo_archive, fmt)[0])[1]}
    assert all(whole[r[ID[fmt]]] == r for r in rows)
    # and the rows of the whole file that are entries in range are all there
    wanted = {_tax.entry_id(e) for e in in_range if e.amount} & set(whole)
    assert wanted <= ids


@pytest.mark.parametrize("selection", [(), ("--account", "bitget-1", "--since", "2026-01-01", "--until", "2027-01-01")])
def test_merge_daily_has_fewer_rows_and_the_same_totals(demo_archive, selection):
    plain, _ = export(demo_archive, "koinly", *selection)
    merged, _ = export(demo_archive, "koinly", "--merge-daily", *selection)
    plain_totals, plain_rows = check_koinly(plain)
    merged_totals, merged_rows = check_koinly(merged)
    assert merged_totals == plain_totals
    assert len(merged_rows) < len(plain_rows)
    merged_ids = [r["TxHash"] for r in merged_rows if r["TxHash"].startswith("cexledger-")]
    assert merged_ids and all(MERGED.match(r["Description"]) for r in merged_rows
                              if r["TxHash"].startswith("cexledger-"))
    # trades, deposits, withdrawals and transfers stay one row each
    kept = Counter(r["TxHash"] for r in plain_rows
                   if r["Label"] in ("", "loan fee", "lending interest") or "+" in r["TxHash"])
    assert kept == Counter(r["TxHash"] for r in merged_rows if not r["TxHash"].startswith("cexledger-"))


@pytest.mark.parametrize("args", [("-f", "koinly"), ("-f", "koinly", "--merge-daily"), ("-f", "cointracking")])
def test_a_second_export_is_byte_identical(demo_archive, tmp_path, args):
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    run(demo_archive, "export", *args, "-o", str(first))
    run(demo_archive, "export", *args, "-o", str(second))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == export(demo_archive, args[1], *args[2:])[0]    # file and stdout alike


def test_the_notes_count_only_the_time_range(demo_archive):
    """``records without entries`` counts the records of the range: the jsonl export of the
    range (every record) minus those the CSV export of the range has entries of."""
    span = ("--since", "2026-10-01", "--until", "2026-11-15")
    records = {(r["account"], r["stream"], r["id"]) for r in map(json.loads,
               run(demo_archive, "export", "-f", "jsonl", *span).stdout.decode().splitlines())}
    entries = {(e["account"], e["stream"], e["record_id"]) for e in csv.DictReader(io.StringIO(
               run(demo_archive, "export", "-f", "csv", *span).stdout.decode()))}
    without = len(records - entries)
    whole = len({(r["account"], r["stream"], r["id"]) for r in map(json.loads,
                 run(demo_archive, "export", "-f", "jsonl").stdout.decode().splitlines())})
    _, stderr = export(demo_archive, "koinly", *span)
    if without:
        assert f"note: {without} archived records have no ledger entries" in stderr
    else:
        assert "have no ledger entries" not in stderr
    assert whole > len(records)


def test_two_bitget_accounts_synced_by_the_cli(sandbox_factory, cli_for):
    """A sync of two Bitget accounts and a CoinW one (``cexledger sync``, no tax key): per
    account and all together, each file keeps the rules (ids unique across accounts) and the
    ledger's totals, and has one row per trade the pairing makes."""
    sb = sandbox_factory("--records", "2000", "--bitget-accounts", "2", "--coinw-accounts", "1",
                         "--history-days", "91")
    cli = cli_for(sb)
    cli.run("sync", check=True)
    db = Path(cli.db)
    for selection in ((), ("--account", "bitget-2")):
        options = dict(zip((a.lstrip("-") for a in selection[::2]), selection[1::2]))
        with Archive.open(f"sqlite:///{db}", read_only=True) as archive:
            pairing = Pairing(read_entries(archive, Filters.of(**options)))
            trades = [item for item in pairing if isinstance(item, Trade)]
        for fmt in ("koinly", "cointracking"):
            file_totals, rows = CHECK[fmt](export(db, fmt, *selection)[0])
            assert file_totals == totals(db, **options)
            ids = {r[ID[fmt]] for r in rows}
            assert {_tax.trade_id(t) for t in trades} <= ids


def _merged_groups(ledger) -> dict[tuple, list]:
    """The ledger's entries ``--merge-daily`` merges, per (day, exchange, account, coin,
    label): the entries Pairing passes on (not trades) whose label merges."""
    groups: dict[tuple, list] = {}
    for item in Pairing(iter(ledger)):
        if isinstance(item, Trade) or not item.amount:
            continue
        label = _tax.entry_text(item)[0]
        if label.merge:
            key = (item.ts // DAY_MS, item.exchange, item.account, item.coin, label.koinly)
            groups.setdefault(key, []).append(item)
    return groups


def _merged_ids(data: bytes, day: str) -> dict[str, str]:
    """The merged rows of ``day`` in a Koinly file: readable part of the TxHash -> TxHash."""
    return {r["TxHash"].rsplit("-", 1)[0]: r["TxHash"] for r in check_koinly(data)[1]
            if r["TxHash"].startswith("cexledger-") and r["Date"].startswith(day)}


def test_a_day_exported_in_two_halves_gives_rows_of_other_ids(demo_archive, ledger):
    """Export ``--until`` a time inside a day, then ``--since`` it (the common case: export,
    sync, export again): the day's merged rows of one exchange, account, coin and label get
    another TxHash in each file and in an export of the whole day, so Koinly keeps every
    sum; an export of the whole day with more around it gives the whole day's ids again.
    Only the exports that cut a day say so."""
    groups = _merged_groups(ledger)
    split = [(key, items) for key, items in groups.items() if len({e.ts for e in items}) >= 2]
    assert split, "the sandbox has no day with merged entries at two times"
    (day_n, exchange, account, coin, label), items = split[len(split) // 2]
    cut = max(e.ts for e in items)
    day = _tax.utc_day(cut)
    readable = f"cexledger-{exchange}-{account}-{day}-{coin}-{label.replace(' ', '-')}"
    start, end = day_n * DAY_MS, (day_n + 1) * DAY_MS
    (first, first_err), (second, second_err) = (
        export(demo_archive, "koinly", "--merge-daily", "--until", iso(cut)),
        export(demo_archive, "koinly", "--merge-daily", "--since", iso(cut)))
    whole, whole_err = export(demo_archive, "koinly", "--merge-daily", "--since", iso(start), "--until", iso(end))
    wider, _ = export(demo_archive, "koinly", "--merge-daily", "--since", iso(start - DAY_MS),
                      "--until", iso(end + DAY_MS))
    ids = [_merged_ids(data, day).get(readable) for data in (first, second, whole, wider)]
    assert None not in ids, ids
    assert len(set(ids[:3])) == 3 and ids[3] == ids[2]
    assert "--merge-daily: the range does not start and end at a past UTC midnight" in first_err
    assert "--merge-daily:" in second_err and "--merge-daily:" not in whole_err
    # together, the two halves hold the whole ledger's totals
    halves: dict = defaultdict(Decimal)
    for data in (first, second):
        for coin, value in check_koinly(data)[0].items():
            halves[coin] = EXACT.add(halves[coin], value)
    assert {c: v for c, v in halves.items() if v} == totals(demo_archive)


@pytest.mark.parametrize("args", [("-f", "koinly"), ("-f", "koinly", "--merge-daily"), ("-f", "cointracking")])
def test_rows_not_understood_are_counted_in_a_note(demo_archive, ledger, args):
    """The sandbox serves types cexledger does not know (``UNDOCUMENTED_BONUS_IN``,
    ``SOME_NEW_TYPE_2026``): the note counts exactly the file's rows of kind ``other``,
    which are the ledger's non-zero ``other`` entries."""
    data, stderr = export(demo_archive, args[1], *args[2:])
    rows = CHECK[args[1]](data)[1]
    text = "Description" if args[1] == "koinly" else "Comment"
    other = sum(r[text].startswith("not understood by cexledger (other)") for r in rows)
    assert other and other == sum(e.kind is Kind.OTHER and e.amount != 0 for e in ledger)
    assert _tax.unknown_note(other) in stderr
