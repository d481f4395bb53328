"""Koinly's universal CSV template: one row per movement, a trade one row of both coins.

Header, exactly Koinly's: :data:`HEADER`. Dates UTC ``YYYY-MM-DD HH:MM:SS``; amounts
positive, plain decimal text; no row moves nothing. Each entry is a ``Received`` (money in)
or a ``Sent`` row (money out) with the label of :data:`cexledger.export._tax.LABELS`
(realized PnL, liquidations and funding ``realized gain``; futures fees ``margin fee``, other
fees ``cost``; interest ``loan fee`` / ``lending interest``; deposits, withdrawals, transfers
between own accounts, borrowing, repaying and not-understood entries untagged, the
description saying which). A paired trade is one row: ``Sent`` the coin paid, ``Received``
the coin got (both as the legs booked them, before fees), ``Fee`` its fee; a fee in a second
coin is a row of its own (``cost``), as is a refunded fee (``fee refund``: Koinly's deposits
take no fee). ``Description`` names exchange, account, category, exchange type and record
id(s); ``TxHash`` is the row's unique id, the same in every export, so a re-import
deduplicates (merged rows: see below). Over a file: received - sent - fee, per coin, is the
ledger's sum.

``merge_daily``: entries whose label merges (realized PnL, liquidations, funding, fees) are
summed per UTC day, exchange, account, coin and label into one row (none when the sum is
zero), dated at the day's last merged entry and written after that day's other rows; its
``TxHash`` is ``cexledger-<exchange>-<account>-<day>-<coin>-<label>-<digest>``, the digest the
first 16 hex digits of the SHA-256 of the merged entries' ids (:func:`merged_id`). The same
entries merged give the same id in every export (a re-import deduplicates); other entries
(a day cut by ``--since`` or ``--until``, or exported before all its entries were synced)
give another id, so Koinly drops neither sum: a day merged with different entries in two
files is two rows, and the entries both hold count twice. Hence the note
(:func:`merge_note`) when the range may cut a day. Trades, deposits, withdrawals, transfers
and interest stay one row each. Entries come in time order, so a day's sums are written when
the next day starts: memory holds one day's sums, not the ledger.

Text cells from the exchange (coins) go through :func:`cexledger.export._tax.text_cell`: a
value that would start a spreadsheet formula gets a ``'`` in front.

Koinly imports a file into one wallet: a file of several accounts gets a note (export each
with ``--account``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import BinaryIO

from .._clock import DAY_MS, now_ms
from .._json import EXACT
from ..archive import Archive
from ..ledger import Trade
from ..model import Kind, LedgerEntry
from . import _tax
from ._pipeline import WholeWrites

__all__ = ["HEADER", "UNIT", "koinly_rows", "merge_note", "merged_id", "write_koinly"]

UNIT = "rows"
"""What :func:`write_koinly` counts."""

HEADER = ("Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
          "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Label",
          "Description", "TxHash")
_EOL = "\r\n"
_BATCH = 4096
_amount = _tax.amount_text
_cell = _tax.text_cell


def _row(ts: int, amount: Decimal, coin: str, label: str, what: str, txid: str) -> list[str]:
    coin, what = _cell(coin), _cell(what)
    if amount > 0:
        return [_tax.utc_text(ts), "", "", _amount(amount), coin, "", "", "", "", label, what, txid]
    return [_tax.utc_text(ts), _amount(amount), coin, "", "", "", "", "", "", label, what, txid]


def _trade_rows(trade: Trade) -> list[list[str]]:
    """The trade's row, then one row per fee that cannot be its ``Fee``."""
    (got, received), (paid, sent) = trade.received, trade.sent
    fees = [(coin, fee) for coin, fee in trade.fees if fee < 0]
    extra = fees[1:] + [(coin, fee) for coin, fee in trade.fees if fee > 0]
    fee_amount, fee_coin = (_amount(fees[0][1]), fees[0][0]) if fees else ("", "")
    txid = _tax.trade_id(trade)
    rows = [[_tax.utc_text(trade.ts), _amount(sent), _cell(paid), _amount(received), _cell(got), fee_amount,
             _cell(fee_coin), "", "", "", _cell(_tax.trade_what(trade)), txid]]
    futures = _tax.is_futures(trade.category)
    for coin, fee in extra:
        label = _tax.label_of(Kind.FEE, fee, futures)
        rows.append(_row(trade.ts, fee, coin, label.koinly, f"{label.what} of {_tax.trade_what(trade)}",
                         f"{txid}-fee-{coin}"))
    return rows


def merged_id(exchange: str, account: str, day: str, coin: str, label: str, ids: Iterable[str]) -> str:
    """The ``TxHash`` of a row merging the entries of ids ``ids`` (in ledger order): readable
    ``cexledger-<exchange>-<account>-<day>-<coin>-<label>``, then ``-`` and the first 16 hex
    digits of the SHA-256 of the ids (each as its length, ``:``, the id)."""
    digest = hashlib.sha256()
    for txid in ids:
        digest.update(f"{len(txid)}:{txid}".encode())
    return f"cexledger-{exchange}-{account}-{day}-{coin}-{label.replace(' ', '-')}-{digest.hexdigest()[:16]}"


class _Day:
    """The merged sums of one UTC day: (exchange, account, coin, label) -> [sum, kinds, last ts, ids]."""

    def __init__(self) -> None:
        self.day: int | None = None
        self.sums: dict[tuple[str, str, str, str], list] = {}

    def add(self, entry: LedgerEntry, label: str, txid: str) -> None:
        key = (entry.exchange, entry.account, entry.coin or "", label)
        held = self.sums.get(key)
        if held is None:
            self.sums[key] = [entry.amount, {entry.kind.value}, entry.ts, [txid]]
        else:
            held[0] = EXACT.add(held[0], entry.amount)
            held[1].add(entry.kind.value)
            held[2] = entry.ts
            held[3].append(txid)

    def rows(self) -> list[list[str]]:
        """The day's merged rows (in the order first met), and the day emptied."""
        rows = []
        for (exchange, account, coin, label), (total, kinds, ts, ids) in self.sums.items():
            if total:
                day = _tax.utc_day(ts)
                what = _tax.merged_what(len(ids), kinds, exchange, account, day)
                txid = merged_id(exchange, account, day, coin, label, ids)
                rows.append(_row(ts, total, coin, label, what, txid))
        self.sums.clear()
        return rows


def merge_note(since_ms: int | None, until_ms: int | None, now_ms: int) -> str | None:
    """The note on a ``--merge-daily`` export whose range may cut a day, ``None`` when both
    ends are UTC midnights (no ``--since``: the archive's start) and ``until_ms`` is not
    after ``now_ms``: a day cut, or still going on, merges other entries than a later export
    of the whole day, a row of its own that Koinly does not deduplicate."""
    cut = until_ms is None or until_ms % DAY_MS or (since_ms is not None and since_ms % DAY_MS)
    if not cut and until_ms <= now_ms:
        return None
    return ("--merge-daily: the range does not start and end at a past UTC midnight, so a "
            "day at its edge may merge other entries in a later export (another TxHash: "
            "importing both counts them twice); merge closed periods, e.g. a tax year once "
            "it is over and synced")


def write_koinly(archive: Archive, out: BinaryIO, *, account: str | None = None,
                 exchange: str | None = None, since_ms: int | None = None, until_ms: int | None = None,
                 notes: list[str] | None = None, merge_daily: bool = False) -> int:
    """Write the selected ledger as Koinly's universal CSV; returns the rows written. With
    ``merge_daily``, :func:`merge_note` may add a note."""
    written = koinly_rows(_tax.selected(archive, account, exchange, since_ms, until_ms), out,
                          notes=notes, merge_daily=merge_daily)
    note = merge_note(since_ms, until_ms, now_ms()) if merge_daily else None
    if note and notes is not None:
        notes.append(note)
    return written


def koinly_rows(entries: Iterable[LedgerEntry], out: BinaryIO, *, notes: list[str] | None = None,
                merge_daily: bool = False) -> int:
    """Write ``entries`` (in ledger order) as Koinly's universal CSV; returns the rows written."""
    out = WholeWrites(out)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=_EOL)
    writer.writerow(HEADER)
    written = 0
    accounts: dict[str, None] = {}
    merged = _Day() if merge_daily else None
    rows: list[list[str]] = []
    entry_text = _tax.entry_text
    for item in _tax.events(entries, notes):
        accounts[item.account] = None
        if merged is not None:
            day = item.ts // DAY_MS
            if day != merged.day:
                rows += merged.rows()
                merged.day = day
        if isinstance(item, Trade):
            rows += _trade_rows(item)
        else:
            label, what, txid = entry_text(item)
            if merged is not None and label.merge:
                merged.add(item, label.koinly, txid)
            else:
                rows.append(_row(item.ts, item.amount, item.coin or "", label.koinly, what, txid))
        if len(rows) >= _BATCH:
            written += _tax.flush(writer, text, rows, out, _tax.minimal_line)
    if merged is not None:
        rows += merged.rows()
    written += _tax.flush(writer, text, rows, out, _tax.minimal_line)
    note = _tax.accounts_note(accounts)
    if note and notes is not None:
        notes.append(note)
    return written

