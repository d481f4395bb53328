"""What the tax exports (Koinly, CoinTracking; Beancount its read, dates, amount text and
notes) share: which label or type each entry gets, and the text of dates, amounts, record
ids and text cells.

The mapping is one table, :data:`LABELS`, read by every format: an entry's kind, its
direction (``in`` when its amount is positive, money into the account) and whether it is
a futures entry (:func:`is_futures`: booked under a futures category, which every CoinW
entry is) give a :class:`Label`: Koinly's label (empty = a plain deposit or withdrawal),
CoinTracking's type, the words a row's description starts with, and whether
``--merge-daily`` merges it. Trades paired from their legs (:class:`cexledger.ledger.Trade`)
are rows of their own in each format; a leg without a partner is written as a plain
movement of its coin (``trade leg without a partner``), never dropped, and counted in a
note (:func:`unpaired_note`).

Choices where the vendors' documents are silent:

- Funding is part of a perpetual's profit and loss and neither tool has a funding tag:
  it is realized PnL (Koinly ``realized gain``; CoinTracking futures profit or loss), with
  a description that says funding.
- A fee with a positive amount (a rebate) is Koinly's ``fee refund`` and CoinTracking's
  ``Other Income``.
- Transfers between the user's own accounts, borrowing, repaying and entries cexledger
  does not understand (kind ``other``) are untagged deposits or withdrawals whose
  description says what they are: they are neither income nor a loss.

Text: dates are UTC ``YYYY-MM-DD HH:MM:SS`` (:func:`utc_text`); amounts positive, without
exponent or trailing zeros (:func:`amount_text`; signed: :func:`signed_text`); a row's id (Koinly ``TxHash``,
CoinTracking ``Tx-ID``) is ``<exchange>-<record id>-<seq>`` for an entry and
``<exchange>-<record id>+<record id>…`` for a trade (:func:`entry_id`, :func:`trade_id`),
the funding wallet's ids prefixed ``funding-`` (its ids are not documented to be apart from
financial records'). The same entry therefore has the same id in every export, whatever the
filters, and a re-import deduplicates. Tax records' ids are not prefixed, on the assumption
[assumed: Bitget does not say] that a movement has one id in the financial and the tax
records. Were the ids to differ, a movement exported while the ledger took its tax record
and exported again after a sync archived its financial record (which the ledger then takes
instead) would have two ids, and importing both files would count it twice.

Text cells that come from the exchange (coins, categories, exchange types) could start a
spreadsheet formula: every text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a ``'`` in front (:func:`text_cell`, OWASP's rule against CSV
injection). cexledger's own text never starts so (descriptions start with words or a
count; amounts are positive), so only such hostile values change.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .._clock import DAY_MS
from ..archive import Archive
from ..exchanges.bitget.client import BITGET_FUTURES_CATEGORIES
from ..ledger import Filters, Pairing, Trade, read_entries
from ..model import Kind, LedgerEntry

__all__ = [
    "FUTURES_CATEGORIES", "IN", "LABELS", "Label", "OUT", "TRADE_TYPE", "accounts_note",
    "amount_text", "entry_id", "entry_text", "events", "exchange_name", "flush", "is_futures",
    "label_of", "merged_what", "minimal_line", "quoted_line", "selected", "signed_text",
    "text_cell", "trade_id", "trade_what", "unknown_note", "unpaired_note", "utc_day", "utc_text",
]

IN, OUT = "in", "out"
FUTURES_CATEGORIES = frozenset(BITGET_FUTURES_CATEGORIES)
"""Bitget's futures categories; CoinW books every entry under ``USDT-FUTURES``
(``exchanges.coinw.normalize.CATEGORY``), so its entries are futures entries too."""
_FORMULA_STARTS = frozenset("=+-@\t\r")
_EXCHANGE_NAMES = {"bitget": "Bitget", "coinw": "CoinW"}
_STREAM_TAGS = {"funding-records": "funding-"}


@dataclass(frozen=True, slots=True)
class Label:
    """How an entry is written: ``koinly`` label (``""``: untagged), ``cointracking`` type,
    ``what`` (a description's first words), ``merge`` (merged by Koinly's ``--merge-daily``)."""

    koinly: str
    cointracking: str
    what: str
    merge: bool = False


_PROFIT = "Derivatives / Futures Profit"
_LOSS = "Derivatives / Futures Loss"
_GAIN = "realized gain"

LABELS: dict[tuple[Kind, str, bool | None], Label] = {
    # (kind, direction, futures — None: either) -> label
    (Kind.REALIZED_PNL, IN, None): Label(_GAIN, _PROFIT, "futures profit", merge=True),
    (Kind.REALIZED_PNL, OUT, None): Label(_GAIN, _LOSS, "futures loss", merge=True),
    (Kind.LIQUIDATION, IN, None): Label(_GAIN, _PROFIT, "liquidation", merge=True),
    (Kind.LIQUIDATION, OUT, None): Label(_GAIN, _LOSS, "liquidation", merge=True),
    (Kind.FUNDING, IN, None): Label(_GAIN, _PROFIT, "funding received", merge=True),
    (Kind.FUNDING, OUT, None): Label(_GAIN, _LOSS, "funding paid", merge=True),
    (Kind.FEE, OUT, True): Label("margin fee", "Margin Fee", "futures fee", merge=True),
    (Kind.FEE, OUT, False): Label("cost", "Other Fee", "fee", merge=True),
    (Kind.FEE, IN, None): Label("fee refund", "Other Income", "fee refund", merge=True),
    (Kind.INTEREST, OUT, None): Label("loan fee", "Borrowing Fee", "interest paid"),
    (Kind.INTEREST, IN, None): Label("lending interest", "Other Income", "interest received"),
    (Kind.DEPOSIT, IN, None): Label("", "Deposit", "deposit"),
    (Kind.DEPOSIT, OUT, None): Label("", "Withdrawal", "deposit reversed"),
    (Kind.WITHDRAWAL, OUT, None): Label("", "Withdrawal", "withdrawal"),
    (Kind.WITHDRAWAL, IN, None): Label("", "Deposit", "withdrawal returned"),
    (Kind.TRANSFER, IN, None): Label("", "Deposit", "transfer between own accounts"),
    (Kind.TRANSFER, OUT, None): Label("", "Withdrawal", "transfer between own accounts"),
    (Kind.BORROW, IN, None): Label("", "Deposit", "loan borrowed, not income"),
    (Kind.BORROW, OUT, None): Label("", "Withdrawal", "loan borrowed, reversed"),
    (Kind.REPAY, OUT, None): Label("", "Withdrawal", "loan repaid, not a loss"),
    (Kind.REPAY, IN, None): Label("", "Deposit", "loan repayment returned"),
    (Kind.OTHER, IN, None): Label("", "Deposit", "not understood by cexledger (other)"),
    (Kind.OTHER, OUT, None): Label("", "Withdrawal", "not understood by cexledger (other)"),
    # legs that Pairing could not pair (a paired trade is a row of its own)
    (Kind.TRADE, IN, None): Label("", "Deposit", "trade leg without a partner"),
    (Kind.TRADE, OUT, None): Label("", "Withdrawal", "trade leg without a partner"),
    (Kind.CONVERT, IN, None): Label("", "Deposit", "conversion leg without a partner"),
    (Kind.CONVERT, OUT, None): Label("", "Withdrawal", "conversion leg without a partner"),
}
TRADE_TYPE = "Trade"    # CoinTracking's type of a paired trade (Koinly: no label)


def is_futures(category: str | None) -> bool:
    """Whether an entry booked under ``category`` is a futures entry."""
    return category in FUTURES_CATEGORIES


def text_cell(text: str) -> str:
    """``text`` as a spreadsheet cannot take it for a formula: ``'`` in front when it starts
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return."""
    return "'" + text if text[:1] in _FORMULA_STARTS else text


def label_of(kind: Kind, amount: Decimal, futures: bool) -> Label:
    """The :data:`LABELS` row of an entry (``amount`` non-zero)."""
    direction = IN if amount > 0 else OUT
    return LABELS.get((kind, direction, None)) or LABELS[(kind, direction, futures)]


def events(entries: Iterable[LedgerEntry], notes: list[str] | None) -> Iterator[Trade | LedgerEntry]:
    """``entries`` (ledger order) as trades (paired legs) and entries, without entries that
    moved nothing (a tax file has no zero rows); at the end, the unpaired-legs and the
    not-understood notes are appended to ``notes``."""
    pairing = Pairing(entries)
    unknown = 0
    other = Kind.OTHER
    for item in pairing:
        if isinstance(item, Trade):
            yield item
        elif item.amount:
            if item.kind is other:
                unknown += 1
            yield item
    if notes is not None:
        notes.extend(note for note in (unpaired_note(pairing.unpaired), unknown_note(unknown)) if note)


def selected(archive: Archive, account: str | None, exchange: str | None, since_ms: int | None,
             until_ms: int | None) -> Iterator[LedgerEntry]:
    """The ledger's entries a writer's arguments select (``since_ms <= ts < until_ms``)."""
    return read_entries(archive, Filters(account, exchange, None, since_ms, until_ms))


def amount_text(value: Decimal) -> str:
    """``|value|`` as plain decimal text: no exponent, no trailing zeros (``1E-18`` ->
    ``0.000000000000000001``, ``1.50`` -> ``1.5``, ``1E+3`` -> ``1000``)."""
    text = format(value.copy_abs(), "f")    # abs() would round to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def signed_text(value: Decimal) -> str:
    """``value`` as :func:`amount_text` writes it, a ``-`` in front when it is negative
    (zero is ``0``, never ``-0``)."""
    text = amount_text(value)
    return text if value >= 0 or text == "0" else "-" + text


_EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=64)
def _day_text(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).isoformat()


def utc_day(ts_ms: int) -> str:
    """The UTC date of Unix milliseconds ``ts_ms``: ``2026-01-02``."""
    return _day_text(ts_ms // DAY_MS)


def utc_text(ts_ms: int) -> str:
    """Unix milliseconds as UTC ``YYYY-MM-DD HH:MM:SS`` (the milliseconds dropped)."""
    minute, ms = divmod(ts_ms, 60_000)
    return _minute_text(minute) + _SECONDS[ms // 1000]


_SECONDS = tuple(f"{s:02d}" for s in range(60))


@lru_cache(maxsize=256)
def _minute_text(minute: int) -> str:
    """``YYYY-MM-DD HH:MM:`` of a minute since the epoch (entries come in time order, so a
    minute's text is built once, not once per second)."""
    day, minutes = divmod(minute, DAY_MS // 60_000)
    return f"{_day_text(day)} {minutes // 60:02d}:{minutes % 60:02d}:"


@lru_cache(maxsize=64)
def exchange_name(exchange: str) -> str:
    """The exchange as people write it: ``Bitget``, ``CoinW``."""
    return _EXCHANGE_NAMES.get(exchange, exchange.capitalize())


def _tagged(entry: LedgerEntry) -> str:
    return _STREAM_TAGS.get(entry.stream, "") + entry.record_id


def entry_id(entry: LedgerEntry) -> str:
    """The unique id of an entry's row: ``bitget-<record id>-<seq>``."""
    return f"{entry.exchange}-{_tagged(entry)}-{entry.seq}"


@lru_cache(maxsize=4096)
def _entry_parts(kind: Kind, incoming: bool, exchange: str, account: str, category: str | None,
                 symbol: str | None, exchange_type: str | None, stream: str) -> tuple[Label, str, str]:
    label = label_of(kind, Decimal(1 if incoming else -1), is_futures(category))
    what = f"{label.what} ({exchange_type})" if exchange_type else label.what
    symbol_text = f" {symbol}" if symbol else ""
    return (label, f"{what}; {_where(exchange, account, category)}{symbol_text}; record ",
            f"{exchange}-{_STREAM_TAGS.get(stream, '')}")


def entry_text(entry: LedgerEntry) -> tuple[Label, str, str]:
    """An entry's (non-zero amount) label, description and row id (:func:`entry_id`): the
    description is ``<what> (<exchange type>); <Exchange> <account> <category> <symbol>;
    record <id>``. What entries share is built once."""
    label, described, id_prefix = _entry_parts(
        entry.kind, entry.amount > 0, entry.exchange, entry.account, entry.category, entry.symbol,
        entry.exchange_type, entry.stream)
    return label, described + entry.record_id, f"{id_prefix}{entry.record_id}-{entry.seq}"


def trade_id(trade: Trade) -> str:
    """The unique id of a trade's row: ``bitget-<record id>+<record id>…``, its records in
    ledger order (an entry's id always ends in ``-<seq>``, a trade's never does)."""
    return f"{trade.exchange}-" + "+".join(dict.fromkeys(map(_tagged, trade.entries)))


def _where(exchange: str, account: str, category: str | None) -> str:
    return f"{exchange_name(exchange)} {account}" + (f" {category}" if category else "")


def trade_what(trade: Trade) -> str:
    """The description of a trade's row: what, where, which exchange types and records."""
    what = "trade" if trade.kind is Kind.TRADE else "conversion"
    types = ", ".join(dict.fromkeys(e.exchange_type for e in trade.entries if e.exchange_type))
    symbol = f" {trade.symbol}" if trade.symbol else ""
    return (f"{what}{symbol}" + (f" ({types})" if types else "")
            + f"; {_where(trade.exchange, trade.account, trade.category)}; records {'+'.join(trade.record_ids)}")


def merged_what(count: int, kinds: Iterable[str], exchange: str, account: str, day: str) -> str:
    """The description of a row that merges ``count`` entries of one day."""
    entries = "1 entry" if count == 1 else f"{count} entries"
    return (f"{entries} merged ({', '.join(sorted(set(kinds)))}) of {day} UTC; "
            f"{exchange_name(exchange)} {account}")


def unpaired_note(count: int, written: str = "plain movements, described 'leg without a partner'"
                  ) -> str | None:
    """The note on trade legs that had no partner, ``None`` when there were none;
    ``written``: how the format wrote them."""
    if not count:
        return None
    legs = "1 trade leg has" if count == 1 else f"{count} trade legs have"
    return (f"{legs} no partner (no opposite leg of the same account, symbol and time): "
            f"written as {written}")


def unknown_note(count: int, written: str = "plain deposits or withdrawals") -> str | None:
    """The note on entries of exchange types cexledger does not understand yet (kind
    ``other``, counted when they moved something), ``None`` when there were none: a tax
    file has them as plain movements (``written``: how the format wrote them), and a person
    must look at them before filing."""
    if not count:
        return None
    rows = "1 row is an exchange type" if count == 1 else f"{count} rows are exchange types"
    return (f"{rows} cexledger does not understand yet (kind other), written as {written}: "
            "check them before filing (`cexledger status` lists the types)")


def accounts_note(accounts: Iterable[str]) -> str | None:
    """The note on a Koinly file holding several accounts, ``None`` for one or none."""
    names = sorted(set(accounts))
    if len(names) < 2:
        return None
    return (f"this file holds {len(names)} accounts ({', '.join(names)}); Koinly imports a file "
            "into one wallet: export each with --account")


def minimal_line(row: list[str]) -> str | None:
    """``row`` as ``csv.writer`` with ``QUOTE_MINIMAL`` and ``lineterminator="\\r\\n"``
    writes it when no cell needs quoting (none holds ``,``, ``"``, ``\\r`` or ``\\n``);
    ``None`` when one does."""
    line = ",".join(row)
    if '"' in line or "\r" in line or "\n" in line or line.count(",") != len(row) - 1:
        return None
    return line + "\r\n"


def quoted_line(row: list[str]) -> str | None:
    """``row`` as ``csv.writer`` with ``QUOTE_ALL`` and ``lineterminator="\\r\\n"`` writes it
    when no cell holds a ``"`` (which it would double); ``None`` when one does."""
    line = '","'.join(row)
    if line.count('"') != 2 * (len(row) - 1):
        return None
    return f'"{line}"\r\n'


def flush(writer: Any, text: io.StringIO, rows: list[list[str]], out: Any,
          line: Callable[[list[str]], str | None]) -> int:
    """Write ``rows`` (and the header still in ``text``) out; returns how many, ``rows`` emptied.
    A row is ``line(row)`` (the text ``writer`` would write, built without it), or written by
    ``writer`` where that is ``None``: the bytes are ``writer``'s either way."""
    lines = [text.getvalue(), *map(line, rows)]
    text.seek(0)
    text.truncate()
    if None in lines:
        for i, row in enumerate(rows, 1):
            if lines[i] is None:
                writer.writerow(row)
                lines[i] = text.getvalue()
                text.seek(0)
                text.truncate()
    out.write("".join(lines).encode())
    count = len(rows)
    rows.clear()
    return count
