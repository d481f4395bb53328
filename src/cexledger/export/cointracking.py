"""CoinTracking's CSV import: one row per movement, a trade one row of both coins.

Header, exactly CoinTracking's template, every cell quoted as the template quotes it:
:data:`HEADER` (with the optional ``Tx-ID``, which CoinTracking uses to detect duplicates).
Money in is ``Buy Amount``/``Buy Currency``, money out ``Sell Amount``/``Sell Currency``;
amounts positive, plain decimal text; no row moves nothing. ``Type`` is the entry's in
:data:`cexledger.export._tax.LABELS`: realized PnL, liquidations and funding
``Derivatives / Futures Profit`` or ``… Loss``; futures fees ``Margin Fee``, other fees
``Other Fee``; interest paid ``Borrowing Fee``, received ``Other Income``; deposits,
withdrawals, transfers between own accounts, borrowing, repaying and not-understood entries
``Deposit`` or ``Withdrawal``, the ``Comment`` saying which.

A paired trade is one ``Trade`` row: CoinTracking's amounts already include the fee, so
``Buy`` is the coin received net of a fee paid in it and ``Sell`` the coin paid plus a fee
paid in it; ``Fee``/``Fee Currency`` repeat that fee for information. A fee in a third coin
is an ``Other Fee`` row of its own (a refunded one ``Other Income``). Were a fee larger than
the coin it is taken from, the trade is written gross and every fee as its own row.

``Exchange`` is the exchange with the account, ``Bitget (main)``, so each account is its own
exchange in CoinTracking (transfers between them are a withdrawal and a deposit);
``Trade-Group`` the category (``SPOT``, ``USDT-FUTURES``, ``FUNDING``, …); ``Date`` UTC
``YYYY-MM-DD HH:MM:SS`` (import with the time zone set to UTC); ``Tx-ID`` the row's unique
id, the same in every export. Over a file: buy - sell, per coin, minus ``Fee`` where its coin
is neither the buy nor the sell coin (never, here), is the ledger's sum.

Text cells from the exchange (coins, categories) go through
:func:`cexledger.export._tax.text_cell`: a value that would start a spreadsheet formula gets
a ``'`` in front.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import BinaryIO

from .._json import EXACT
from ..archive import Archive
from ..ledger import Trade
from ..model import Kind, LedgerEntry
from . import _tax
from ._pipeline import WholeWrites

__all__ = ["HEADER", "cointracking_rows", "write_cointracking", "UNIT"]

UNIT = "rows"
"""What :func:`write_cointracking` counts."""

HEADER = ("Type", "Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency", "Fee",
          "Fee Currency", "Exchange", "Trade-Group", "Comment", "Date", "Tx-ID")
_EOL = "\r\n"
_BATCH = 4096
_ZERO = Decimal(0)
_amount = _tax.amount_text
_cell = _tax.text_cell


@lru_cache(maxsize=256)
def _exchange(exchange: str, account: str) -> str:
    return _cell(f"{_tax.exchange_name(exchange)} ({account})")


@lru_cache(maxsize=256)
def _group(category: str | None) -> str:
    return _cell(category or "")


def _row(type_: str, amount: Decimal, coin: str, exchange: str, account: str, category: str | None,
         comment: str, ts: int, txid: str) -> list[str]:
    moved, coin = _amount(amount), _cell(coin)
    where, group, comment, date = (_exchange(exchange, account), _group(category), _cell(comment),
                                   _tax.utc_text(ts))
    if amount > 0:
        return [type_, moved, coin, "", "", "", "", where, group, comment, date, txid]
    return [type_, "", "", moved, coin, "", "", where, group, comment, date, txid]


def _entry_row(entry: LedgerEntry) -> list[str]:
    label, what, txid = _tax.entry_text(entry)
    return _row(label.cointracking, entry.amount, entry.coin or "", entry.exchange, entry.account,
                entry.category, what, entry.ts, txid)


def _trade_rows(trade: Trade) -> list[list[str]]:
    """The trade's row, then one row per fee its amounts cannot include."""
    (got, received), (paid, sent) = trade.received, trade.sent
    in_pair = {coin: fee for coin, fee in trade.fees if coin in (got, paid)}
    buy = EXACT.add(received, in_pair.get(got, _ZERO))
    sell = EXACT.add(sent, in_pair.get(paid, _ZERO))
    if buy > 0 and sell < 0:
        apart = [(coin, fee) for coin, fee in trade.fees if coin not in in_pair]
        shown = next(((coin, fee) for coin, fee in in_pair.items() if fee < 0), None)
    else:
        buy, sell, apart, shown = received, sent, list(trade.fees), None
    txid = _tax.trade_id(trade)
    what = _tax.trade_what(trade)
    rows = [[_tax.TRADE_TYPE, _amount(buy), _cell(got), _amount(sell), _cell(paid),
             _amount(shown[1]) if shown else "", _cell(shown[0]) if shown else "",
             _exchange(trade.exchange, trade.account), _group(trade.category), _cell(what),
             _tax.utc_text(trade.ts), txid]]
    futures = _tax.is_futures(trade.category)
    for coin, fee in apart:
        if fee:
            label = _tax.label_of(Kind.FEE, fee, futures)
            type_ = "Other Fee" if fee < 0 else label.cointracking   # a trade's fee: never a margin fee
            rows.append(_row(type_, fee, coin, trade.exchange, trade.account, trade.category,
                             f"{label.what} of {what}", trade.ts, f"{txid}-fee-{coin}"))
    return rows


def write_cointracking(archive: Archive, out: BinaryIO, *, account: str | None = None,
                       exchange: str | None = None, since_ms: int | None = None,
                       until_ms: int | None = None, notes: list[str] | None = None) -> int:
    """Write the selected ledger as CoinTracking's CSV import; returns the rows written."""
    return cointracking_rows(_tax.selected(archive, account, exchange, since_ms, until_ms), out, notes=notes)


def cointracking_rows(entries: Iterable[LedgerEntry], out: BinaryIO, *,
                      notes: list[str] | None = None) -> int:
    """Write ``entries`` (in ledger order) as CoinTracking's CSV import; returns the rows written."""
    out = WholeWrites(out)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=_EOL, quoting=csv.QUOTE_ALL)
    writer.writerow(HEADER)
    written = 0
    rows: list[list[str]] = []
    for item in _tax.events(entries, notes):
        if isinstance(item, Trade):
            rows += _trade_rows(item)
        else:
            rows.append(_entry_row(item))
        if len(rows) >= _BATCH:
            written += _tax.flush(writer, text, rows, out, _tax.quoted_line)
    return written + _tax.flush(writer, text, rows, out, _tax.quoted_line)
