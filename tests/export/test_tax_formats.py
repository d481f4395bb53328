"""Koinly and CoinTracking files built from ledger entries given directly: the mapping of
every kind and sign, exact amounts, trades, legs without a partner, the daily merge. Every
file is read back through the documented rules (``tax_rules``) and its totals per coin
compared with the entries' sums."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import pytest

from cexledger.export import _tax
from cexledger.export.cointracking import cointracking_rows
from cexledger.export.koinly import koinly_rows, merge_note, merged_id
from cexledger.model import Kind, LedgerEntry

from .tax_rules import check_cointracking, check_koinly

DAY = 86_400_000
T0 = 1_767_225_600_000          # 2026-01-01 00:00:00 UTC


def entry(kind: Kind, amount: str, coin: str = "USDT", *, category: str | None = "USDT-FUTURES",
          record_id: str = "1", seq: int = 0, ts: int = T0, exchange: str = "bitget",
          account: str = "main", symbol: str | None = None, exchange_type: str | None = "X",
          stream: str = "financial-records") -> LedgerEntry:
    return LedgerEntry(account, exchange, stream, record_id, seq, ts, kind, coin, Decimal(amount),
                       None, category, symbol, exchange_type)


def koinly(entries: list[LedgerEntry], **options) -> tuple[dict, list[dict], list[str], int]:
    out, notes = io.BytesIO(), []
    count = koinly_rows(entries, out, notes=notes, **options)
    totals, rows = check_koinly(out.getvalue())
    assert count == len(rows)
    return totals, rows, notes, count


def cointracking(entries: list[LedgerEntry]) -> tuple[dict, list[dict], list[str]]:
    out, notes = io.BytesIO(), []
    count = cointracking_rows(entries, out, notes=notes)
    totals, rows = check_cointracking(out.getvalue())
    assert count == len(rows)
    return totals, rows, notes


def sums(entries: list[LedgerEntry]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for e in entries:
        totals[e.coin] += e.amount
    return {c: v for c, v in totals.items() if v}


# kind, amount, category, exchange -> (Koinly side, label), (CoinTracking side, type)
MAPPING = [
    (Kind.REALIZED_PNL, "2.5", "USDT-FUTURES", "bitget", ("Received", "realized gain"), ("Buy", "Derivatives / Futures Profit")),
    (Kind.REALIZED_PNL, "-2.5", "USDT-FUTURES", "bitget", ("Sent", "realized gain"), ("Sell", "Derivatives / Futures Loss")),
    (Kind.REALIZED_PNL, "-1", "USDT-FUTURES", "coinw", ("Sent", "realized gain"), ("Sell", "Derivatives / Futures Loss")),
    (Kind.LIQUIDATION, "-7", "COIN-FUTURES", "bitget", ("Sent", "realized gain"), ("Sell", "Derivatives / Futures Loss")),
    (Kind.LIQUIDATION, "7", "USDC-FUTURES", "bitget", ("Received", "realized gain"), ("Buy", "Derivatives / Futures Profit")),
    (Kind.FUNDING, "0.3", "USDT-FUTURES", "bitget", ("Received", "realized gain"), ("Buy", "Derivatives / Futures Profit")),
    (Kind.FUNDING, "-0.3", "USDT-FUTURES", "coinw", ("Sent", "realized gain"), ("Sell", "Derivatives / Futures Loss")),
    (Kind.FEE, "-0.15", "USDT-FUTURES", "bitget", ("Sent", "margin fee"), ("Sell", "Margin Fee")),
    (Kind.FEE, "-0.15", "COIN-FUTURES", "bitget", ("Sent", "margin fee"), ("Sell", "Margin Fee")),
    (Kind.FEE, "-0.15", "USDC-FUTURES", "bitget", ("Sent", "margin fee"), ("Sell", "Margin Fee")),
    (Kind.FEE, "-1.03", "USDT-FUTURES", "coinw", ("Sent", "margin fee"), ("Sell", "Margin Fee")),
    (Kind.FEE, "-0.15", "SPOT", "bitget", ("Sent", "cost"), ("Sell", "Other Fee")),
    (Kind.FEE, "-0.15", "MARGIN", "bitget", ("Sent", "cost"), ("Sell", "Other Fee")),
    (Kind.FEE, "0.02", "SPOT", "bitget", ("Received", "fee refund"), ("Buy", "Other Income")),
    (Kind.INTEREST, "-0.4", "MARGIN", "bitget", ("Sent", "loan fee"), ("Sell", "Borrowing Fee")),
    (Kind.INTEREST, "0.4", "MARGIN", "bitget", ("Received", "lending interest"), ("Buy", "Other Income")),
    (Kind.DEPOSIT, "100", "FUNDING", "bitget", ("Received", ""), ("Buy", "Deposit")),
    (Kind.WITHDRAWAL, "-100", "FUNDING", "bitget", ("Sent", ""), ("Sell", "Withdrawal")),
    (Kind.TRANSFER, "50", "FUNDING", "bitget", ("Received", ""), ("Buy", "Deposit")),
    (Kind.TRANSFER, "-50", "SPOT", "bitget", ("Sent", ""), ("Sell", "Withdrawal")),
    (Kind.BORROW, "10", "MARGIN", "bitget", ("Received", ""), ("Buy", "Deposit")),
    (Kind.REPAY, "-10", "MARGIN", "bitget", ("Sent", ""), ("Sell", "Withdrawal")),
    (Kind.OTHER, "3", "OTHER", "bitget", ("Received", ""), ("Buy", "Deposit")),
    (Kind.OTHER, "-3", "OTHER", "bitget", ("Sent", ""), ("Sell", "Withdrawal")),
]


@pytest.mark.parametrize("kind, amount, category, exchange, want_koinly, want_ct", MAPPING,
                         ids=[f"{m[0].value}{'+' if m[1][0] != '-' else '-'}{m[2]}-{m[3]}" for m in MAPPING])
def test_each_kind_and_sign_gets_its_label_and_type(kind, amount, category, exchange, want_koinly, want_ct):
    e = entry(kind, amount, category=category, exchange=exchange, exchange_type="SOME_TYPE", record_id="77")
    totals, [row], _, _ = koinly([e])
    side, label = want_koinly
    assert (row["Label"], row[f"{side} Amount"], row[f"{side} Currency"]) == (label, str(abs(Decimal(amount))), "USDT")
    assert totals == sums([e])
    assert row["TxHash"] == f"{exchange}-77-0"
    assert "(SOME_TYPE)" in row["Description"] and category in row["Description"] and "77" in row["Description"]
    ct_totals, [ct], _ = cointracking([e])
    side, type_ = want_ct
    assert (ct["Type"], ct[f"{side} Amount"], ct[f"{side} Currency"]) == (type_, str(abs(Decimal(amount))), "USDT")
    assert ct["Exchange"] == f"{_tax.exchange_name(exchange)} (main)" and ct["Trade-Group"] == category
    assert ct["Tx-ID"] == row["TxHash"] and ct["Date"] == row["Date"] == "2026-01-01 00:00:00"
    assert ct_totals == sums([e])


def test_every_kind_and_sign_has_a_label():
    for kind in Kind:
        for amount in (Decimal(1), Decimal(-1)):
            for futures in (True, False):
                assert _tax.label_of(kind, amount, futures).cointracking


def test_transfers_say_what_they_are():
    _, [row], _, _ = koinly([entry(Kind.TRANSFER, "-5", exchange_type="TRANSFER_OUT", category="SPOT")])
    assert row["Description"].startswith("transfer between own accounts (TRANSFER_OUT)")
    assert row["Label"] == ""


@pytest.mark.parametrize("amount, text", [
    ("1E-18", "0.000000000000000001"), ("-1E-18", "0.000000000000000001"),
    ("123456789012345678901234567890.123456789012345678", "123456789012345678901234567890.123456789012345678"),
    ("-1E+30", "1000000000000000000000000000000"), ("2.50000", "2.5"), ("-7.000", "7"),
])
def test_amounts_are_exact_without_exponent(amount, text):
    e = entry(Kind.REALIZED_PNL, amount)
    totals, [row], _, _ = koinly([e])
    assert text in (row["Sent Amount"], row["Received Amount"])
    assert totals == {"USDT": Decimal(amount)}
    ct_totals, [ct], _ = cointracking([e])
    assert text in (ct["Buy Amount"], ct["Sell Amount"])
    assert ct_totals == {"USDT": Decimal(amount)}


def test_zero_entries_give_no_row():
    entries = [entry(Kind.TRADE, "0", record_id="1"), entry(Kind.REALIZED_PNL, "0.000", record_id="2"),
               entry(Kind.FEE, "-0.3", record_id="2", seq=1)]
    _, rows, _, _ = koinly(entries)
    assert [r["TxHash"] for r in rows] == ["bitget-2-1"]
    _, ct_rows, _ = cointracking(entries)
    assert [r["Tx-ID"] for r in ct_rows] == ["bitget-2-1"]


def _legs(fee_coin: str = "BTC", fee: str = "-0.0005", extra_fee: tuple[str, str] | None = None,
          ts: int = T0 + 5000) -> list[LedgerEntry]:
    """One spot fill: 0.5 BTC in (record 10, with its fee), 30000 USDT out (record 11)."""
    common = dict(category="SPOT", symbol="BTCUSDT", ts=ts)
    legs = [entry(Kind.TRADE, "0.5", "BTC", record_id="10", exchange_type="ORDER_DEALT_IN", **common),
            entry(Kind.FEE, fee, fee_coin, record_id="10", seq=1, exchange_type="ORDER_DEALT_IN", **common),
            entry(Kind.TRADE, "-30000", "USDT", record_id="11", exchange_type="ORDER_DEALT_FROZEN_OUT", **common)]
    if extra_fee:
        legs.append(entry(Kind.FEE, extra_fee[1], extra_fee[0], record_id="11", seq=1,
                          exchange_type="ORDER_DEALT_FROZEN_OUT", **common))
    return legs


def test_a_trade_with_its_fee_is_one_row():
    legs = _legs()
    totals, [row], notes, _ = koinly(legs)
    assert (row["Sent Amount"], row["Sent Currency"], row["Received Amount"], row["Received Currency"],
            row["Fee Amount"], row["Fee Currency"], row["Label"]) == ("30000", "USDT", "0.5", "BTC", "0.0005", "BTC", "")
    assert row["TxHash"] == "bitget-10+11" and "records 10+11" in row["Description"]
    assert totals == sums(legs) and not notes
    ct_totals, [ct], _ = cointracking(legs)
    # CoinTracking's amounts include the fee: the BTC received net of the BTC fee
    assert (ct["Type"], ct["Buy Amount"], ct["Buy Currency"], ct["Sell Amount"], ct["Sell Currency"],
            ct["Fee"], ct["Fee Currency"]) == ("Trade", "0.4995", "BTC", "30000", "USDT", "0.0005", "BTC")
    assert ct_totals == sums(legs)


def test_a_fee_in_the_sent_coin_is_inside_cointrackings_sell():
    legs = _legs(fee_coin="USDT", fee="-3")
    _, [ct], _ = cointracking(legs)
    assert (ct["Buy Amount"], ct["Sell Amount"], ct["Fee"], ct["Fee Currency"]) == ("0.5", "30003", "3", "USDT")
    totals, [row], _, _ = koinly(legs)
    assert (row["Received Amount"], row["Sent Amount"], row["Fee Amount"]) == ("0.5", "30000", "3")
    assert totals == sums(legs)


def test_a_second_fee_coin_is_a_row_of_its_own():
    legs = _legs(extra_fee=("BGB", "-0.2"))
    totals, rows, _, _ = koinly(legs)
    assert [(r["Sent Currency"], r["Received Currency"], r["Fee Currency"], r["Label"]) for r in rows] == [
        ("USDT", "BTC", "BTC", ""), ("BGB", "", "", "cost")]
    assert rows[1]["Sent Amount"] == "0.2" and rows[1]["TxHash"] == "bitget-10+11-fee-BGB"
    assert totals == sums(legs)
    ct_totals, ct_rows, _ = cointracking(legs)
    assert [(r["Type"], r["Sell Currency"]) for r in ct_rows] == [("Trade", "USDT"), ("Other Fee", "BGB")]
    assert ct_totals == sums(legs)


def test_a_third_coin_fee_alone_and_a_refund():
    legs = _legs(fee_coin="BGB", fee="-0.2") + [
        entry(Kind.FEE, "0.01", "BTC", record_id="11", seq=2, category="SPOT", symbol="BTCUSDT", ts=T0 + 5000)]
    totals, rows, _, _ = koinly(legs)
    assert [(r["Fee Currency"], r["Label"]) for r in rows] == [("BGB", ""), ("", "fee refund")]
    assert totals == sums(legs)
    ct_totals, ct_rows, _ = cointracking(legs)
    # the BTC refund is inside the Buy amount; the BGB fee its own row
    assert [(r["Type"], r["Buy Amount"], r["Fee"]) for r in ct_rows] == [("Trade", "0.51", ""), ("Other Fee", "", "")]
    assert ct_totals == sums(legs)


def test_a_leg_without_a_partner_is_written_and_noted():
    legs = [entry(Kind.TRADE, "0.5", "BTC", record_id="10", category="SPOT", symbol="BTCUSDT"),
            entry(Kind.FEE, "-0.0005", "BTC", record_id="10", seq=1, category="SPOT", symbol="BTCUSDT"),
            entry(Kind.CONVERT, "-9", "ETH", record_id="12", category="SPOT", ts=T0 + 1)]
    totals, rows, notes, _ = koinly(legs)
    assert [(r["Received Currency"] or r["Sent Currency"], r["Label"]) for r in rows] == [
        ("BTC", ""), ("BTC", "cost"), ("ETH", "")]
    assert "trade leg without a partner" in rows[0]["Description"]
    assert "conversion leg without a partner" in rows[2]["Description"]
    assert totals == sums(legs)
    assert len(notes) == 1 and notes[0].startswith("2 trade legs have no partner")
    ct_totals, ct_rows, ct_notes = cointracking(legs)
    assert [r["Type"] for r in ct_rows] == ["Deposit", "Other Fee", "Withdrawal"] and ct_notes == notes
    assert ct_totals == sums(legs)


def test_record_ids_stay_apart_across_streams_and_exchanges():
    entries = [entry(Kind.DEPOSIT, "1", record_id="5", stream="funding-records", category="FUNDING"),
               entry(Kind.TRANSFER, "1", record_id="5"),
               entry(Kind.FUNDING, "1", record_id="5", exchange="coinw")]
    _, rows, _, _ = koinly(entries)
    assert [r["TxHash"] for r in rows] == ["bitget-funding-5-0", "bitget-5-0", "coinw-5-0"]


def test_a_file_of_several_accounts_gets_a_note():
    one = [entry(Kind.DEPOSIT, "1", record_id="1")]
    assert koinly(one)[2] == []
    two = one + [entry(Kind.DEPOSIT, "1", record_id="2", account="alt")]
    [note] = koinly(two)[2]
    assert "2 accounts (alt, main)" in note and "--account" in note
    assert cointracking(two)[2] == []     # CoinTracking names the account in each row


def test_merge_daily_sums_per_day_account_coin_and_label():
    pnl = Kind.REALIZED_PNL
    entries = [
        entry(pnl, "5", record_id="1", ts=T0 + 1000),
        entry(Kind.FEE, "-0.5", record_id="1", seq=1, ts=T0 + 1000),
        entry(pnl, "-2", record_id="2", ts=T0 + 2000, account="alt"),          # another account, interleaved
        entry(Kind.FUNDING, "-1", record_id="3", ts=T0 + 3000),                  # same label as PnL
        entry(Kind.DEPOSIT, "100", record_id="4", ts=T0 + 4000),                 # stays a row
        entry(pnl, "3", record_id="5", ts=T0 + 5000, account="alt"),
        entry(pnl, "-1", record_id="6", ts=T0 + 6000, account="alt"),            # alt's day nets to 0
        entry(Kind.FEE, "-0.25", record_id="6", seq=1, ts=T0 + 6000, account="alt"),
        entry(Kind.FEE, "-0.5", "BTC", record_id="7", ts=T0 + 7000, category="SPOT"),
        *_legs(ts=T0 + 8000),                                                   # a trade stays a row
        entry(pnl, "4", record_id="8", ts=T0 + DAY + 10),                        # the next day
        entry(pnl, "1", record_id="9", ts=T0 + DAY + 20),
    ]
    totals, rows, _, count = koinly(entries, merge_daily=True)
    plain_totals, _, _, plain_count = koinly(entries)
    assert totals == plain_totals == sums(entries)
    assert count < plain_count
    merged = {r["TxHash"].rsplit("-", 1)[0]: r for r in rows if r["TxHash"].startswith("cexledger-")}
    assert set(merged) == {
        "cexledger-bitget-main-2026-01-01-USDT-realized-gain", "cexledger-bitget-main-2026-01-01-USDT-margin-fee",
        "cexledger-bitget-alt-2026-01-01-USDT-margin-fee", "cexledger-bitget-main-2026-01-01-BTC-cost",
        "cexledger-bitget-main-2026-01-02-USDT-realized-gain"}        # alt's PnL summed to zero: no row
    gain = merged["cexledger-bitget-main-2026-01-01-USDT-realized-gain"]
    assert (gain["Received Amount"], gain["Date"]) == ("4", "2026-01-01 00:00:03")
    assert gain["TxHash"] == merged_id("bitget", "main", "2026-01-01", "USDT", "realized gain",
                                       ["bitget-1-0", "bitget-3-0"])
    assert gain["Description"].startswith("2 entries merged (funding, realized_pnl) of 2026-01-01")
    fee = merged["cexledger-bitget-alt-2026-01-01-USDT-margin-fee"]
    assert fee["Description"].startswith("1 entry merged (fee) of 2026-01-01")
    assert merged["cexledger-bitget-main-2026-01-02-USDT-realized-gain"]["Received Amount"] == "5"
    others = [r["TxHash"] for r in rows if not r["TxHash"].startswith("cexledger-")]
    assert others == ["bitget-4-0", "bitget-10+11"]
    # a day's merged rows come before the next day's rows
    assert rows.index(gain) < rows.index(merged["cexledger-bitget-main-2026-01-02-USDT-realized-gain"])
    assert all(r["Date"].startswith("2026-01-01") for r in rows[:rows.index(gain) + 1])


def test_dates_are_utc_seconds():
    assert _tax.utc_text(T0 + DAY - 1) == "2026-01-01 23:59:59"
    assert _tax.utc_text(T0 + 3_723_456) == "2026-01-01 01:02:03"
    assert _tax.utc_text(0) == "1970-01-01 00:00:00"


def test_a_fee_larger_than_the_coin_received_is_written_apart():
    legs = _legs(fee="-0.6")           # 0.5 BTC received, 0.6 BTC fee: no positive net Buy
    ct_totals, ct_rows, _ = cointracking(legs)
    assert [(r["Type"], r["Buy Amount"], r["Sell Amount"], r["Fee"]) for r in ct_rows] == [
        ("Trade", "0.5", "30000", ""), ("Other Fee", "", "0.6", "")]
    assert ct_totals == sums(legs)
    totals, [row], _, _ = koinly(legs)
    assert (row["Received Amount"], row["Fee Amount"]) == ("0.5", "0.6") and totals == sums(legs)


def _merged(rows: list[dict]) -> dict[str, dict]:
    return {r["TxHash"]: r for r in rows if r["TxHash"].startswith("cexledger-")}


def test_a_merged_rows_id_follows_the_entries_it_merges():
    """A day exported in two halves (``--until`` noon, then ``--since`` noon) gives two rows
    of other ids, neither that of the whole day: Koinly keeps both halves. The same entries
    merged give the same id, whatever else the file holds."""
    noon = T0 + DAY // 2
    day = [entry(Kind.FEE, "-0.5", record_id=str(n), ts=noon + (n - 3) * 1000) for n in range(6)]
    later = [entry(Kind.FEE, "-9", record_id="9", ts=T0 + DAY + 5)]
    before, after, whole = ([e for e in day if e.ts < noon], [e for e in day if e.ts >= noon], day)
    ids = [set(_merged(koinly(part, merge_daily=True)[1])) for part in (before, after, whole)]
    assert all(len(i) == 1 for i in ids) and len(set.union(*ids)) == 3
    assert [koinly(part, merge_daily=True)[1][0]["Sent Amount"] for part in (before, after)] == ["1.5", "1.5"]
    assert set(_merged(koinly(whole, merge_daily=True)[1])) == ids[2]
    with_more = _merged(koinly(whole + later, merge_daily=True)[1])
    assert ids[2] < set(with_more) and len(with_more) == 2


def test_merge_daily_keeps_exchanges_apart():
    entries = [entry(Kind.FEE, "-0.5", record_id="1", ts=T0 + 1),
               entry(Kind.FEE, "-0.25", record_id="1", ts=T0 + 2, exchange="coinw")]
    totals, rows, _, _ = koinly(entries, merge_daily=True)
    assert sorted((r["TxHash"].split("-")[1], r["Sent Amount"], r["Description"].split("; ")[1])
                  for r in rows) == [("bitget", "0.5", "Bitget main"), ("coinw", "0.25", "CoinW main")]
    assert totals == sums(entries)


@pytest.mark.parametrize("since, until, noted", [
    (None, None, True),                    # the range's last day may still be going on
    (T0, None, True),
    (None, T0 + DAY // 2, True),           # --until noon: the day cut
    (T0 + DAY // 2, T0 + DAY, True),       # --since noon: the day cut
    (T0, T0 + 10 * DAY, True),             # ends after now: the last day not over
    (T0, T0 + DAY, False), (None, T0 + DAY, False), (T0 - 365 * DAY, T0, False),
])
def test_merge_note_when_the_range_may_cut_a_day(since, until, noted):
    note = merge_note(since, until, now_ms=T0 + 3 * DAY)
    assert (note is not None) == noted
    if noted:
        assert note.startswith("--merge-daily:") and "closed periods" in note


HOSTILE_COIN = '=HYPERLINK("x")'


def test_text_cells_that_would_start_a_formula_are_neutralised():
    """A coin ``=HYPERLINK("x")`` and a category ``+1`` from a hostile server are written
    with a ``'`` in front, in every text cell (the amounts keep their exact value)."""
    entries = [entry(Kind.DEPOSIT, "1", HOSTILE_COIN, category="+1", record_id="1", exchange_type="-X"),
               entry(Kind.FEE, "-2", "@SUM", category="+1", record_id="2"),
               entry(Kind.TRADE, "3", HOSTILE_COIN, category="-SPOT", symbol="=X", record_id="3", ts=T0 + 9),
               entry(Kind.TRADE, "-4", "USDT", category="-SPOT", symbol="=X", record_id="4", ts=T0 + 9)]
    quoted = {HOSTILE_COIN: "'" + HOSTILE_COIN, "@SUM": "'@SUM", "USDT": "USDT"}
    want = {quoted[c]: v for c, v in sums(entries).items()}
    for merge_daily in (False, True):
        totals, rows, _, _ = koinly(entries, merge_daily=merge_daily)
        assert totals == want
        coins = {r[f"{side} Currency"] for r in rows for side in ("Sent", "Received", "Fee")} - {""}
        assert coins == set(quoted.values())
    ct_totals, ct_rows, _ = cointracking(entries)
    assert ct_totals == want
    assert [r["Trade-Group"] for r in ct_rows] == ["'+1", "'+1", "'-SPOT"]
    assert ct_rows[2]["Buy Currency"] == "'" + HOSTILE_COIN


def test_text_cell_rule():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert _tax.text_cell(text) == "'" + text
    for text in ("USDT", "", "1INCH", "trade BTCUSDT", "'=already"):
        assert _tax.text_cell(text) == text
    starts = {label.what[:1] for label in _tax.LABELS.values()}
    assert not starts & set("=+-@\t\r")            # cexledger's own descriptions never change


def test_entries_not_understood_are_counted_in_a_note():
    entries = [entry(Kind.OTHER, "3", record_id="1", exchange_type="SOME_NEW_TYPE"),
               entry(Kind.OTHER, "-1", record_id="2", exchange_type="SOME_NEW_TYPE"),
               entry(Kind.OTHER, "0", record_id="3", exchange_type="SOME_NEW_TYPE"),     # no row
               entry(Kind.DEPOSIT, "1", record_id="4")]
    for notes in (koinly(entries)[2], koinly(entries, merge_daily=True)[2], cointracking(entries)[2]):
        assert [n for n in notes if "does not understand" in n] == [_tax.unknown_note(2)]
        assert _tax.unknown_note(2).startswith("2 rows are exchange types cexledger does not understand")
    assert _tax.unknown_note(1).startswith("1 row is an exchange type")
    assert not [n for n in koinly(entries[3:])[2] + cointracking(entries[3:])[2] if "understand" in n]


CELLS = ["", "a", "a,b", 'say "x"', '"', "line\nbreak", "cr\rhere", "\r\n", " lead", "trail ",
         "tab\there", "é中", ",", "'=1+2", "\x00"]


@pytest.mark.parametrize(("line", "quoting"), [(_tax.minimal_line, csv.QUOTE_MINIMAL),
                                               (_tax.quoted_line, csv.QUOTE_ALL)])
def test_rows_written_without_the_csv_writer_are_its_bytes(line, quoting):
    """Every row of cells, ordinary or not, comes out as ``csv.writer`` writes it, whether
    the line builder or the writer (its fallback) makes it."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n", quoting=quoting)
    expected = io.StringIO()
    reference = csv.writer(expected, lineterminator="\r\n", quoting=quoting)
    rows = [[a, b, "c"] for a in CELLS for b in CELLS] + [[c] * 12 for c in CELLS]
    built = sum(line(row) is not None for row in rows)
    reference.writerows(rows)
    out = io.BytesIO()
    assert _tax.flush(writer, text, list(rows), out, line) == len(rows)
    assert out.getvalue() == expected.getvalue().encode()
    assert 0 < built < len(rows)        # both ways were taken


def test_utc_text_across_minutes_days_and_before_the_epoch():
    from datetime import datetime, timezone
    for ts in (0, 59_999, 60_000, T0 - 1, T0, T0 + DAY - 1, T0 + 3_599_999, -1, -60_001, 253_402_300_799_999):
        want = datetime.fromtimestamp(ts // 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        assert _tax.utc_text(ts) == want
