"""The documented rules of the Koinly and CoinTracking files, checked on a file read back.

:func:`check_koinly` and :func:`check_cointracking` parse a produced file, assert every rule
(exact header, dates, allowed labels or types and the side each takes, positive amounts
without exponent, no zero rows, unique ids, no cell a spreadsheet would take for a formula) and return the file's totals per coin;
:func:`ledger_totals` is the ledger's own, from ``read_entries`` under the same filters.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from decimal import Decimal

from cexledger._json import EXACT
from cexledger.archive import Archive
from cexledger.ledger import Filters, read_entries

KOINLY_HEADER = ("Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,"
                 "Fee Currency,Net Worth Amount,Net Worth Currency,Label,Description,TxHash")
CT_HEADER = ('"Type","Buy Amount","Buy Currency","Sell Amount","Sell Currency","Fee","Fee Currency",'
             '"Exchange","Trade-Group","Comment","Date","Tx-ID"')
DATE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d\Z")
AMOUNT = re.compile(r"(0|[1-9]\d*)(\.\d*[1-9])?\Z")   # plain decimal, no sign/exponent/trailing 0

# label -> the sides it may take: "sent", "received" (Koinly)
KOINLY_LABELS = {
    "": {"sent", "received"}, "realized gain": {"sent", "received"}, "margin fee": {"sent"},
    "cost": {"sent"}, "loan fee": {"sent"}, "fee refund": {"received"}, "lending interest": {"received"},
}
# type -> the side it takes (CoinTracking); Trade takes both
CT_TYPES = {
    "Derivatives / Futures Profit": "buy", "Derivatives / Futures Loss": "sell",
    "Margin Fee": "sell", "Other Fee": "sell", "Borrowing Fee": "sell", "Other Income": "buy",
    "Deposit": "buy", "Withdrawal": "sell", "Trade": "both",
}
CT_EXCHANGE = re.compile(r"(Bitget|CoinW) \(.+\)\Z")
FORMULA_STARTS = tuple("=+-@\t\r")


def _no_formula(row: dict[str, str], where: str) -> None:
    for name, cell in row.items():
        assert not cell.startswith(FORMULA_STARTS), f"{where}: {name} {cell!r} starts a formula"


def _add(totals: dict[str, Decimal], coin: str, value: Decimal) -> None:
    totals[coin] = EXACT.add(totals[coin], value)    # exact: raises rather than rounds


def _amount(text: str, where: str) -> Decimal:
    assert AMOUNT.match(text), f"{where}: amount {text!r} is not plain positive decimal text"
    value = Decimal(text)
    assert value > 0, f"{where}: a zero amount"
    return value


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert text.endswith("\r\n"), "the file does not end with a line end"
    return text.split("\r\n")[:-1]


def check_koinly(data: bytes) -> tuple[dict[str, Decimal], list[dict[str, str]]]:
    """Assert Koinly's rules on ``data``; returns (totals per coin, rows as dicts)."""
    lines = _lines(data)
    assert lines[0] == KOINLY_HEADER
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    ids: set[str] = set()
    for n, row in enumerate(rows, 2):
        where = f"line {n}"
        assert None not in row and len(row) == 12, f"{where}: not 12 cells"
        assert DATE.match(row["Date"]), f"{where}: date {row['Date']!r}"
        _no_formula(row, where)
        sides = set()
        for side, sign in (("Sent", -1), ("Received", 1), ("Fee", -1)):
            amount, coin = row[f"{side} Amount"], row[f"{side} Currency"]
            assert bool(amount) == bool(coin), f"{where}: {side} amount and currency go together"
            if amount:
                assert coin.strip() == coin and coin, where
                value = _amount(amount, where)
                _add(totals, coin, value if sign > 0 else value.copy_negate())
                sides.add(side.lower())
        assert sides & {"sent", "received"}, f"{where}: moves nothing"
        assert "fee" not in sides or "sent" in sides, f"{where}: a deposit cannot carry a fee"
        assert row["Net Worth Amount"] == row["Net Worth Currency"] == "", where
        label = row["Label"]
        assert label in KOINLY_LABELS, f"{where}: label {label!r}"
        moved = sides - {"fee"}
        if moved == {"sent", "received"}:
            assert label == "" and row["Sent Currency"] != row["Received Currency"], f"{where}: a trade"
        else:
            assert moved <= KOINLY_LABELS[label], f"{where}: {label!r} on the {moved} side"
        assert row["Description"] and row["TxHash"], where
        assert row["TxHash"] not in ids, f"{where}: TxHash {row['TxHash']} twice"
        ids.add(row["TxHash"])
    return {c: v for c, v in totals.items() if v}, rows


def check_cointracking(data: bytes) -> tuple[dict[str, Decimal], list[dict[str, str]]]:
    """Assert CoinTracking's rules on ``data``; returns (totals per coin, rows as dicts)."""
    lines = _lines(data)
    assert lines[0] == CT_HEADER
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    quoted = io.StringIO()
    csv.writer(quoted, lineterminator="\r\n", quoting=csv.QUOTE_ALL).writerows(
        [list(rows[0].keys())] + [list(r.values()) for r in rows] if rows else [])
    assert not rows or quoted.getvalue() == data.decode(), "not every cell is quoted as in the template"
    totals: dict[str, Decimal] = defaultdict(Decimal)
    ids: set[str] = set()
    for n, row in enumerate(rows, 2):
        where = f"line {n}"
        assert None not in row and len(row) == 12, f"{where}: not 12 cells"
        type_ = row["Type"]
        assert type_ in CT_TYPES, f"{where}: type {type_!r}"
        assert DATE.match(row["Date"]), f"{where}: date {row['Date']!r}"
        _no_formula(row, where)
        buy, sell = row["Buy Amount"], row["Sell Amount"]
        assert bool(buy) == bool(row["Buy Currency"]) and bool(sell) == bool(row["Sell Currency"]), where
        side = "both" if buy and sell else "buy" if buy else "sell" if sell else None
        assert side == CT_TYPES[type_], f"{where}: {type_!r} with {side} amounts"
        if buy:
            _add(totals, row["Buy Currency"], _amount(buy, where))
        if sell:
            _add(totals, row["Sell Currency"], _amount(sell, where).copy_negate())
        if type_ == "Trade":
            assert row["Buy Currency"] != row["Sell Currency"], where
        fee, fee_coin = row["Fee"], row["Fee Currency"]
        assert bool(fee) == bool(fee_coin), where
        if fee:
            assert type_ == "Trade", f"{where}: a fee on a {type_} row"
            value = _amount(fee, where)
            if fee_coin not in (row["Buy Currency"], row["Sell Currency"]):
                _add(totals, fee_coin, value.copy_negate())
        assert CT_EXCHANGE.match(row["Exchange"]), f"{where}: exchange {row['Exchange']!r}"
        assert row["Comment"] and row["Tx-ID"], where
        assert row["Tx-ID"] not in ids, f"{where}: Tx-ID {row['Tx-ID']} twice"
        ids.add(row["Tx-ID"])
    return {c: v for c, v in totals.items() if v}, rows


def ledger_totals(archive: Archive, filters: Filters = Filters()) -> dict[str, Decimal]:
    """The ledger's sum per coin under ``filters`` (coins summing to zero left out)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in read_entries(archive, filters):
        _add(totals, entry.coin or "", entry.amount)
    return {c: v for c, v in totals.items() if v}
