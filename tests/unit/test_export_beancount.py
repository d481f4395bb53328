"""The Beancount export's names and balance chains, each file checked by the real bean-check.

The writer reads through ``cexledger.ledger.read_entries``; here it reads a small in-memory
archive (:class:`FakeArchive`, the ``entry_batches`` rows an archive gives) so every awkward
case can be built exactly."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data

from cexledger.export.beancount import account_component, commodity_name, write_beancount
from cexledger.model import StreamKey

from ..beancount_support import assert_bean_check_passes, bean_check

DAY = 86_400_000
T0 = 1_767_225_600_000          # 2026-01-01T00:00:00Z


def _tiny(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.beancount"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "component"), [
    ("main", "Main"),
    ("my_sub-1", "MySub1"),
    ("USDT-FUTURES", "UsdtFutures"),
    ("FUNDING", "Funding"),
    ("1000PEPE", "1000pepe"),
    ("sub account", "SubAccount"),
    ("konto-ü", "KontoÜ"),
    ("主账户", "X主账户"),
    ("ßkonto", "SSkonto"),
    ("_", "X"),
    ("a--b__c", "ABC"),
])
def test_account_component_is_valid_for_bean_check(tmp_path, name, component):
    assert account_component(name) == component
    path = _tiny(tmp_path, f"2026-01-01 open Assets:Bitget:{component}\n"
                           f"2026-01-01 open Equity:{component}\n"
                           f"2026-01-01 * \"x\"\n  Assets:Bitget:{component}  1 USDT\n"
                           f"  Equity:{component}  -1 USDT\n")
    assert_bean_check_passes(path)


def test_a_raw_invalid_component_really_fails_bean_check(tmp_path):
    # the rule the mapping exists for: bean-check refuses these as they are
    for bad in ("my_sub-1", "main", "主账户"):
        proc = bean_check(_tiny(tmp_path, f"2026-01-01 open Assets:{bad}\n"))
        assert proc.returncode != 0, bad


@pytest.mark.parametrize(("coin", "commodity"), [
    ("USDT", "USDT"),
    ("BTC", "BTC"),
    ("1000PEPE", "X1000PEPE"),
    ("1INCH", "X1INCH"),
    ("usdt", "USDT"),
    ("USDT.e", "USDT.E"),
    ("BTC-", "BTC"),
    ("币安币", "X"),
    ("A" * 30, "A" * 19 + "-"),
    ("TRUE", "XTRUE"),                 # beancount's words for values, in any case
    ("false", "XFALSE"),
    ("Null", "XNULL"),
    ("TRUE.", "XTRUE"),
])
def test_commodity_name_is_valid_for_bean_check(tmp_path, coin, commodity):
    got = commodity_name(coin)
    assert got.startswith(commodity) and len(got) <= 24
    if not commodity.endswith("-"):
        assert got == commodity
    path = _tiny(tmp_path, f"2026-01-01 commodity {got}\n  name: \"{coin}\"\n"
                           "2026-01-01 open Assets:A\n2026-01-01 open Equity:B\n"
                           f"2026-01-01 * \"x\"\n  Assets:A  1 {got}\n  Equity:B  -1 {got}\n")
    assert_bean_check_passes(path)


def test_raw_invalid_commodities_really_fail_bean_check(tmp_path):
    for bad in ("1000PEPE", "usdt", "TRUE", "FALSE", "NULL"):
        proc = bean_check(_tiny(tmp_path, "2026-01-01 open Assets:A\n2026-01-01 open Equity:B\n"
                                          f"2026-01-01 * \"x\"\n  Assets:A  1 {bad}\n  Equity:B  -1 {bad}\n"))
        assert proc.returncode != 0, bad


class FakeArchive:
    """``entry_batches`` over rows given in ledger order, filtered as an archive filters."""

    display_url = "memory"

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def entry_names(self):
        return list(dict.fromkeys((r["exchange"], r["account"], r["category"], r["coin"]) for r in self.rows))

    def entry_batches(self, *, shadows, account, exchange, since_ms, until_ms):
        keys: dict[int, StreamKey] = {}
        sids: dict[tuple, int] = {}
        batch = []
        for r in self.rows:
            if account is not None and r["account"] != account:
                continue
            if exchange is not None and r["exchange"] != exchange:
                continue
            if since_ms is not None and r["ts"] < since_ms or until_ms is not None and r["ts"] >= until_ms:
                continue
            key = (r["account"], r["exchange"], r["stream"], r["category"] or "")
            sid = sids.setdefault(key, len(sids) + 1)
            keys[sid] = StreamKey(*key)
            batch.append((r["ts"], sid, r["record_id"], r["seq"], r["kind"], r["coin"], r["amount"],
                          r["balance"], r["category"], r["symbol"], r["exchange_type"]))
        yield keys, batch


def row(record_id, ts, kind, coin, amount, balance=None, *, seq=0, account="main",
        exchange="bitget", stream="financial-records", category="USDT-FUTURES", symbol=None,
        exchange_type="X"):
    return dict(account=account, exchange=exchange, stream=stream, record_id=str(record_id),
                seq=seq, ts=ts, kind=kind, coin=coin, amount=amount, balance=balance,
                category=category, symbol=symbol, exchange_type=exchange_type)


def export(tmp_path: Path, rows: list[dict], **options) -> tuple[Path, list[str], int]:
    notes: list[str] = []
    buf = io.BytesIO()
    count = write_beancount(FakeArchive(rows), buf, notes=notes, **options)
    path = tmp_path / "out.beancount"
    path.write_bytes(buf.getvalue())
    return path, notes, count


def load(path: Path) -> list:
    entries, errors, _ = loader.load_file(str(path))
    assert not errors, errors
    return entries


def asset_sums(entries: list) -> dict[tuple[str, str], Decimal]:
    """(account, coin) -> sum of the Assets postings, opening balances and adjustments left
    out, each commodity read back as its exchange symbol (the commodity's ``name``)."""
    names = {e.currency: e.meta["name"] for e in entries if isinstance(e, data.Commodity)}
    sums: dict[tuple[str, str], Decimal] = {}
    for e in entries:
        ledger = ("record-id" in e.meta or "record-ids" in e.meta) and "after-record-id" not in e.meta
        if isinstance(e, data.Transaction) and ledger:
            for p in e.postings:
                if p.account.startswith("Assets:"):
                    key = (p.account, names[p.units.currency])
                    sums[key] = sums.get(key, Decimal(0)) + p.units.number
    return sums


def test_awkward_names_export_passes_bean_check_and_maps_back(tmp_path):
    rows = [
        row(1, T0, "deposit", "usdt", "100", "100", account="my_sub-1", category="SPOT"),
        row(2, T0 + 1, "deposit", "USDT", "5", "5", account="my_sub-1", category="SPOT"),
        row(3, T0 + 2, "transfer", "1000PEPE", "1000", "3000", account="主账户", category="USDT-FUTURES"),
        row(4, T0 + 3, "realized_pnl", "1INCH", "-2.5", None, account="main"),
        row(4, T0 + 3, "fee", "1INCH", "-0.5", "7", seq=1, account="main"),
    ]
    path, notes, count = export(tmp_path, rows)
    assert_bean_check_passes(path)
    entries = load(path)
    assert count == _transactions(entries) == 4 + 4            # 4 records, 4 opening balances
    commodities = {e.currency: e.meta["name"] for e in entries if isinstance(e, data.Commodity)}
    assert commodities["X1000PEPE"] == "1000PEPE" and commodities["X1INCH"] == "1INCH"
    assert commodities["USDT"] == "USDT"                       # valid as it is: its own name
    (other,) = [c for c, n in commodities.items() if n == "usdt"]
    assert other.startswith("USDT-") and len(other) == 9       # the mapped one, though met first
    assert any("'USDT'" in n and "'usdt'" in n for n in notes), notes
    opens = {e.account: e.meta for e in entries if isinstance(e, data.Open)}
    assert opens["Assets:Bitget:MySub1:Spot"]["cexledger-account"] == "my_sub-1"
    assert opens["Assets:Bitget:MySub1:Spot"]["cexledger-category"] == "SPOT"
    assert opens["Assets:Bitget:X主账户:UsdtFutures"]["cexledger-account"] == "主账户"
    assert asset_sums(entries) == {
        ("Assets:Bitget:MySub1:Spot", "usdt"): Decimal(100),
        ("Assets:Bitget:MySub1:Spot", "USDT"): Decimal(5),
        ("Assets:Bitget:X主账户:UsdtFutures", "1000PEPE"): Decimal(1000),
        ("Assets:Bitget:Main:UsdtFutures", "1INCH"): Decimal(-3),
    }
    # one transaction per record: the PnL row's two entries together, seq on the postings
    (pnl,) = [e for e in entries if isinstance(e, data.Transaction) and e.meta.get("record-id") == "4"]
    assert [p.meta.get("seq") for p in pnl.postings if p.account.startswith("Assets:")] == [0, 1]
    assert {p.account for p in pnl.postings} == {"Assets:Bitget:Main:UsdtFutures",
                                                 "Income:Bitget:Main:Pnl", "Expenses:Bitget:Main:Fees"}
    # opening balance: the first balance less the chain's entries (3000 - 1000; 7 - (-3))
    openings = {(p.account, p.units.number) for e in entries if isinstance(e, data.Transaction)
                for p in e.postings if e.narration.startswith("opening balance") and p.account.startswith("Assets:")}
    assert ("Assets:Bitget:X主账户:UsdtFutures", Decimal(2000)) in openings
    assert ("Assets:Bitget:Main:UsdtFutures", Decimal(10)) in openings


def _transactions(entries: list) -> int:
    return sum(1 for e in entries if isinstance(e, data.Transaction))


def _balances(entries: list) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(str(e.date), e.account, e.amount.number, e.tolerance) for e in entries
            if isinstance(e, data.Balance)]


def test_assertions_are_exact_and_dated_the_day_after(tmp_path):
    rows = [
        row(10, T0 + 5, "realized_pnl", "USDT", "1.000000000000000001", "11.000000000000000001"),
        row(11, T0 + DAY - 1, "funding", "USDT", "-0.000000000000000001", "11"),
        row(12, T0 + 3 * DAY, "realized_pnl", "USDT", "98765432.123456789012345678", "98765443.123456789012345678"),
    ]
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    assert _balances(load(path)) == [
        ("2026-01-02", "Assets:Bitget:Main:UsdtFutures", Decimal(11), Decimal(0)),
        ("2026-01-05", "Assets:Bitget:Main:UsdtFutures", Decimal("98765443.123456789012345678"), Decimal(0)),
    ]
    assert notes == []
    # the assertion really is exact: one unit off in the 18th decimal fails bean-check
    text = path.read_text().replace("98765443.123456789012345678 ~ 0", "98765443.123456789012345679 ~ 0")
    assert bean_check(_tiny(tmp_path, text)).returncode != 0


def test_equal_times_in_any_order_continue_the_chain(tmp_path):
    # two rows of one ms listed against the exchange's order (ids not numbers): no break
    rows = [
        row("a", T0, "realized_pnl", "USDT", "10", "110"),
        row("c", T0 + 7, "realized_pnl", "USDT", "-3", "112"),      # really second
        row("b", T0 + 7, "realized_pnl", "USDT", "5", "115"),       # really first
        row("d", T0 + 9, "realized_pnl", "USDT", "1", "113"),
    ]
    path, notes, _ = export(tmp_path, rows)
    assert notes == []
    assert_bean_check_passes(path)
    entries = load(path)
    assert not [e for e in entries if isinstance(e, data.Transaction) and "after-record-id" in e.meta]
    assert _balances(entries)[0][2] == Decimal(113)
    # a tie at the chain's start: the opening is the one both rows agree on (110)
    path, notes, _ = export(tmp_path, rows[1:])
    assert notes == []
    assert_bean_check_passes(path)
    openings = [p.units.number for e in load(path) if isinstance(e, data.Transaction)
                and e.narration.startswith("opening") for p in e.postings if p.account.startswith("Assets:")]
    assert openings == [Decimal(110)]


def test_a_break_in_the_chain_is_booked_to_unexplained_and_told(tmp_path):
    rows = [
        row(1, T0, "realized_pnl", "USDT", "10", "110"),
        # record 2 (+4, balance 114) missing from the archive
        row(3, T0 + 2 * DAY, "fee", "USDT", "-1", "113"),
        row(4, T0 + 2 * DAY + 1, "fee", "USDT", "-1", "112"),
    ]
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    entries = load(path)
    (adj,) = [e for e in entries if isinstance(e, data.Transaction) and "after-record-id" in e.meta]
    assert (adj.meta["after-record-id"], adj.meta["record-id"]) == ("1", "3")
    assert {(p.account, p.units.number) for p in adj.postings} == {
        ("Assets:Bitget:Main:UsdtFutures", Decimal(4)), ("Equity:Bitget:Main:Unexplained", Decimal(-4))}
    assert len(notes) == 1 and "record 1" in notes[0] and "record 3" in notes[0] and "off by 4" in notes[0]


def test_a_paired_trade_is_one_transaction_at_its_total_price(tmp_path):
    spot = dict(category="SPOT", symbol="BTCUSDT")
    rows = [
        row(1, T0, "deposit", "USDT", "1000", "1000", **spot),
        row(7, T0 + 5, "trade", "BTC", "0.01", None, exchange_type="ORDER_DEALT_IN", **spot),
        row(7, T0 + 5, "fee", "BTC", "-0.00001", "0.00999", seq=1, exchange_type="ORDER_DEALT_IN", **spot),
        row(8, T0 + 5, "trade", "USDT", "-950.5", "49.5", exchange_type="ORDER_DEALT_FROZEN_OUT", **spot),
    ]
    path, notes, count = export(tmp_path, rows)
    assert_bean_check_passes(path)
    assert notes == []
    entries = load(path)
    assert count == _transactions(entries) == 2 + 2           # deposit, trade; 2 openings
    (trade,) = [e for e in entries if isinstance(e, data.Transaction) and "record-ids" in e.meta]
    assert trade.meta["record-ids"] == "7 8"
    (bought,) = [p for p in trade.postings if p.price is not None]
    assert (bought.units.number, bought.units.currency) == (Decimal("0.01"), "BTC")
    assert "@@ 950.5 USDT" in path.read_text()
    assert asset_sums(entries) == {("Assets:Bitget:Main:Spot", "USDT"): Decimal("49.5"),
                                   ("Assets:Bitget:Main:Spot", "BTC"): Decimal("0.00999")}
    assert len(_balances(entries)) == 2


def test_no_balance_no_assertion_and_unpaired_legs_are_counted(tmp_path):
    rows = [
        row(1, T0, "realized_pnl", "USDT", "-7", None, exchange="coinw", account="c1",
            stream="deals-history"),
        row(2, T0 + 1, "trade", "ETH", "0.5", "0.5", category="SPOT", symbol="ETHUSDT"),
    ]
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    entries = load(path)
    assert [b[1] for b in _balances(entries)] == ["Assets:Bitget:Main:Spot"]
    assert [n for n in notes if "no partner" in n] == [
        "1 trade leg has no partner (no opposite leg of the same account, symbol and time): "
        "written as movements against Equity:<Exchange>:<Account>:Unpaired"]
    assert "Equity:Bitget:Main:Unpaired" in {e.account for e in entries if isinstance(e, data.Open)}


def test_since_opens_the_chain_at_its_first_exported_balance(tmp_path):
    rows = [row(i, T0 + i * DAY, "realized_pnl", "USDT", "1", str(100 + i)) for i in range(1, 6)]
    path, notes, count = export(tmp_path, rows, since_ms=T0 + 3 * DAY, until_ms=T0 + 5 * DAY)
    assert notes == []
    assert_bean_check_passes(path)
    entries = load(path)
    assert count == _transactions(entries) == 2 + 1
    (opening,) = [e for e in entries if isinstance(e, data.Transaction) and e.narration.startswith("opening")]
    assert str(opening.date) == "2026-01-04"
    assert Decimal(102) in {p.units.number for p in opening.postings}
    assert [b[2] for b in _balances(entries)] == [Decimal(103), Decimal(104)]
    assert "since 2026-01-04T00:00:00.000Z" in path.read_text().splitlines()[2]


def test_a_balance_beyond_beancounts_precision_stops_assertions_with_a_note(tmp_path):
    rows = [row(1, T0, "transfer", "USDT", "1", "98765432123.123456789012345678"),
            row(2, T0 + DAY, "transfer", "USDT", "1", "98765432124.123456789012345678")]
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    assert _balances(load(path)) == []
    assert len(notes) == 1 and "29 significant digits" in notes[0], notes


def test_amounts_beyond_28_digits_are_written_exactly_on_both_postings(tmp_path):
    big = "98765432123.123456789012345678"                      # 29 significant digits
    rows = [row(1, T0, "transfer", "USDT", big, None), row(2, T0 + 1, "fee", "USDT", "-" + big, None)]
    path, _, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    text = path.read_text()
    assert text.count(f"  {big} USDT") == 2 and text.count(f"  -{big} USDT") == 2, text


def test_colliding_account_names_are_disambiguated_and_told(tmp_path):
    rows = [row(1, T0, "deposit", "USDT", "1", "1", account="my_sub", category="FUNDING"),
            row(2, T0 + 1, "deposit", "USDT", "2", "2", account="My-Sub", category="FUNDING"),
            # an account named like a category is no collision: another part of the name
            row(3, T0 + 2, "deposit", "USDT", "3", "3", account="funding", category="FUNDING")]
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    opens = {e.meta["cexledger-account"]: e.account for e in load(path)
             if isinstance(e, data.Open) and e.account.startswith("Assets:")}
    assert opens["My-Sub"] == "Assets:Bitget:MySub:Funding"     # first in sorted order
    assert opens["my_sub"].startswith("Assets:Bitget:MySub-") and opens["my_sub"].endswith(":Funding")
    assert opens["funding"] == "Assets:Bitget:Funding:Funding"
    assert len(opens) == 3 and len(set(opens.values())) == 3
    assert len(notes) == 1 and "'My-Sub'" in notes[0] and "'my_sub'" in notes[0], notes


def test_reserved_coins_export_passes_bean_check_and_maps_back(tmp_path):
    rows = [row(1, T0, "deposit", "TRUE", "1", "1"), row(2, T0 + 1, "deposit", "false", "2", "2"),
            row(3, T0 + 2, "deposit", "NULL", "3", "3")]
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    entries = load(path)
    assert {e.currency: e.meta["name"] for e in entries if isinstance(e, data.Commodity)} == {
        "XTRUE": "TRUE", "XFALSE": "false", "XNULL": "NULL"}
    assert notes == []


def _commodities(path: Path) -> dict[str, str]:
    """Exchange symbol -> commodity, as the file's ``commodity`` directives say."""
    return {e.meta["name"]: e.currency for e in load(path) if isinstance(e, data.Commodity)}


def test_a_valid_coin_keeps_its_name_in_every_export(tmp_path):
    lower = [row(1, T0, "deposit", "usdt", "100", "100", category="SPOT")]
    upper = [row(2, T0 + DAY, "deposit", "USDT", "5", "5", category="SPOT")]
    names = set()
    for rows, options in (
            (lower + upper, {}),
            (upper + [dict(r, ts=T0 + 2 * DAY) for r in lower], {}),      # usdt met second
            (lower + upper, {"since_ms": T0 + DAY}),                     # usdt out of range
            (lower + upper, {"until_ms": T0 + DAY})):                    # USDT out of range
        path, notes, _ = export(tmp_path, rows, **options)
        assert_bean_check_passes(path)
        coins = _commodities(path)
        if "USDT" in coins:
            assert coins["USDT"] == "USDT", (options, coins)
        if "usdt" in coins:
            names.add(coins["usdt"])
            assert coins["usdt"].startswith("USDT-") and any("'usdt'" in n for n in notes), notes
    assert len(names) == 1          # the mapped one too: one name whatever the order or range


def test_account_names_are_the_same_in_every_export(tmp_path):
    rows = [row(1, T0, "deposit", "USDT", "1", "1", account="my_sub", category="FUNDING"),
            row(2, T0 + 1, "deposit", "USDT", "2", "2", account="My-Sub", category="FUNDING")]
    seen: dict[str, set[str]] = {"my_sub": set(), "My-Sub": set()}
    for ordered in (rows, rows[::-1]):
        for account in (None, "my_sub", "My-Sub"):
            path, _, _ = export(tmp_path, ordered, account=account)
            assert_bean_check_passes(path)
            for e in load(path):
                if isinstance(e, data.Open) and e.account.startswith("Assets:"):
                    seen[e.meta["cexledger-account"]].add(e.account)
    assert seen["My-Sub"] == {"Assets:Bitget:MySub:Funding"}          # first in sorted order
    (mapped,) = seen["my_sub"]
    assert mapped.startswith("Assets:Bitget:MySub-") and mapped.endswith(":Funding")


def test_since_dates_opening_balances_and_opens_on_its_day(tmp_path):
    rows = [row(1, T0, "realized_pnl", "USDT", "1", "101"),
            row(2, T0 + 2 * DAY + 5, "realized_pnl", "USDT", "2", "103"),
            row(3, T0 + 4 * DAY, "realized_pnl", "BTC", "1", "8")]
    since = T0 + DAY + 12 * 3_600_000                                 # 2026-01-02 12:00
    path, notes, count = export(tmp_path, rows, since_ms=since)
    assert notes == []
    assert_bean_check_passes(path)
    entries = load(path)
    openings = {e.narration: e for e in entries if isinstance(e, data.Transaction)
                and e.narration.startswith("opening")}
    assert {n: str(e.date) for n, e in openings.items()} == {
        "opening balance: bitget main USDT-FUTURES USDT": "2026-01-02",
        "opening balance: bitget main USDT-FUTURES BTC": "2026-01-02"}
    assert {str(e.date) for e in entries if isinstance(e, (data.Open, data.Commodity))} == {"2026-01-02"}
    assert count == _transactions(entries) == 2 + 2
    # without since: each chain's first movement, as before
    path, _, _ = export(tmp_path, rows[1:])
    assert sorted(str(e.date) for e in load(path) if isinstance(e, data.Transaction)
                  and e.narration.startswith("opening")) == ["2026-01-03", "2026-01-05"]


def test_not_understood_entries_are_counted_in_a_note(tmp_path):
    rows = [row(1, T0, "other", "USDT", "3", "3", exchange_type="NEW_TYPE"),
            row(2, T0 + 1, "other", "USDT", "-1", "2", exchange_type="NEW_TYPE"),
            row(3, T0 + 2, "other", "USDT", "0", "2", exchange_type="NEW_TYPE")]   # moved nothing
    path, notes, _ = export(tmp_path, rows)
    assert_bean_check_passes(path)
    assert "Equity:Bitget:Main:Other" in {e.account for e in load(path) if isinstance(e, data.Open)}
    assert notes == ["2 rows are exchange types cexledger does not understand yet (kind other), "
                     "written as movements against Equity:<Exchange>:<Account>:Other: check them "
                     "before filing (`cexledger status` lists the types)"]
