"""CoinW futures transaction details (deals/history) -> unified ``Record``/``LedgerEntry``.

Every entry: stream ``deals-history``, coin ``USDT``, category ``USDT-FUTURES`` (CoinW
perpetuals are USDT-margined; the name matches Bitget's category so reports group both),
symbol ``<INSTRUMENT>USDT`` (e.g. ``BTCUSDT``), ``exchange_type``
``"<direction>/<status>/<liquidateBy>"`` verbatim (a missing part is empty, e.g.
``long/close/manual``), ``balance`` ``None`` (CoinW gives none).
``record_id`` is ``id`` and ``ts`` is ``createdDate``.

Amounts (money into the account positive). With ``fee`` as sent (positive = paid) and
``funding_paid`` = ``fundingFee``, or ``fundingSettle`` when ``fundingFee`` is missing
(positive = paid, the same convention as ``fee`` [I]):

- FEE      = ``-fee``                                  when non-zero
- FUNDING  = ``-funding_paid``                         when non-zero, settled rows only
- PNL      = ``netProfit + fee + funding_paid``        settled rows only, always emitted

so ``PNL + FEE + FUNDING == netProfit`` exactly: ``netProfit`` is read as net of the fee and
the funding [I]. The doc example confirms the fee part: ``netProfit`` -0.05179544 and
``fee`` 0.05159544 give PNL -0.0002, which is exactly (85992.4 - 85992.6) x 1 contract x
0.001 BTC. Entries are numbered ``seq`` 0, 1, 2 in the order PNL, FEE, FUNDING (skipping
absent ones). Sums are computed exactly (never rounded).

``status`` is read ignoring case, ``closed`` (a synonym CoinW.Net accepts) as ``close``,
everywhere (:func:`row_status`). A row is *settled* when ``status`` is ``close``, or when
``liquidateBy`` names a forced close and ``status`` is none of ``open``, ``vcancel``,
``cancel``; its PNL entry is LIQUIDATION when ``liquidateBy`` names a forced close, else
REALIZED_PNL. ``liquidateBy`` names a forced close [I] when, lower-cased, it contains
``liquid``, ``force``, ``burst``, ``blast`` or ``bankrupt``, or equals ``adl`` (``manual``,
take-profit/stop-loss and the like are normal closes). Rows that are not settled (``open``,
``vcancel``, ``cancel``, missing or unknown status) give the fee entry only. ``mutable``
(the row may still change) is ``status`` ``open`` or ``orderStatus`` ``unFinish``/``part``,
ignoring case.

A *cancelled* row (``orderStatus`` ``cancel``, e.g. a take-profit/stop-loss cancelled
unfilled: ``status`` ``close``, ``closedPiece`` 0, ``netProfit`` 0) closed nothing: it gives
only its non-zero amounts, so the usual cancelled row gives no entry at all -- it is still
archived (and understood), and whatever entries it gives still sum to ``netProfit``.

A row without ``id`` or ``createdDate``, a settled row without ``netProfit``, or any
non-numeric amount raises ``ValueError``. The client stops the stream only when ``id`` or
``createdDate`` is unreadable; any other such row is archived raw without entries.

A change to these rules bumps :data:`VERSION`: archived records are then re-derived from
their raw bytes (``cexledger reparse``, automatic at the next ``sync``). Version 2: ``closed``
is ``close``; cancelled rows give no zero entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...model import Kind, LedgerEntry, Record
from .._fields import EXACT, Derived, amount, derive, millis, optional_amount, row_id, text

__all__ = [
    "coinw_parse", "coinw_record", "is_forced_close", "is_mutable", "row_status", "STREAM",
    "CATEGORY", "COIN", "VERSION",
]

STREAM = "deals-history"
VERSION = 2
TS_KEY = "createdDate"   # the row field holding its event time
"""The version of this normalizer; streams record which version built their entries."""
CATEGORY = "USDT-FUTURES"
COIN = "USDT"

_FORCED_PARTS = ("liquid", "force", "burst", "blast", "bankrupt")
_FORCED_NAMES = frozenset({"adl"})
_STATUS_SYNONYMS = {"closed": "close"}
_UNSETTLED = ("open", "vcancel", "cancel")
_CANCELLED = frozenset({"cancel", "canceled", "cancelled"})
_ZERO = Decimal(0)


def row_status(row: dict[str, Any]) -> str:
    """The row's ``status`` lower-cased, ``closed`` read as ``close``; ``""`` when missing."""
    status = (text(row, "status") or "").lower()
    return _STATUS_SYNONYMS.get(status, status)


def is_forced_close(liquidate_by: str | None) -> bool:
    """Whether a ``liquidateBy`` value names a forced close (liquidation, ADL)."""
    if not liquidate_by:
        return False
    value = liquidate_by.strip().lower()
    return value in _FORCED_NAMES or any(part in value for part in _FORCED_PARTS)


def is_mutable(row: dict[str, Any]) -> bool:
    """Whether the exchange may still change the row: ``status`` ``open`` or ``orderStatus``
    ``unFinish``/``part`` (ignoring case)."""
    order_status = (text(row, "orderStatus") or "").lower()
    return row_status(row) == "open" or order_status in ("unfinish", "part")


def coinw_parse(account: str, instrument: str, raw: bytes) -> Derived:
    """What one row's exact bytes give under ``instrument``: the one path from bytes to
    entries, used by the client while syncing and by ``reparse`` (see ``_fields.derive``).
    A raw-only record stays ``mutable`` while the row says it may change, so it is re-read
    until settled. Raises ``ValueError`` when the row's id or ``createdDate`` cannot be held."""
    return derive(
        raw, TS_KEY,
        lambda record_id, ts, row: _owned(
            coinw_record(account, instrument, raw, row, (record_id, ts)), row),
        lambda record_id, ts, row: _owned(Record(
            record_id=record_id, ts=ts, raw=raw, entries=[], mutable=is_mutable(row)), row),
    )


def _owned(record: Record, row: dict[str, Any]) -> Record:
    """``record`` with the user id its row names (``userId``), for the sync's identity check."""
    record.owner = text(row, "userId")
    return record


def coinw_record(account: str, instrument: str, raw: bytes, row: dict[str, Any],
                 identified: tuple[str, int] | None = None) -> Record:
    """Normalize one deals-history row; ``raw`` is kept as the exchange sent it.

    ``identified`` is the row's ``(record_id, ts)`` when the caller has already read them.
    """
    record_id = row_id(row) if identified is None else identified[0]
    try:
        ts = millis(row, TS_KEY) if identified is None else identified[1]
        return _record(account, instrument, record_id, ts, raw, row)
    except ValueError as exc:
        raise ValueError(f"row {record_id}: {exc}") from None


def _record(
    account: str, instrument: str, record_id: str, ts: int, raw: bytes, row: dict[str, Any]
) -> Record:
    status = row_status(row)
    liquidate_by = text(row, "liquidateBy")
    forced = is_forced_close(liquidate_by)
    settled = status == "close" or (forced and status not in _UNSETTLED)
    cancelled = (text(row, "orderStatus") or "").lower() in _CANCELLED

    fee = optional_amount(row, "fee")
    fee = _ZERO if fee is None else fee
    funding_paid = optional_amount(row, "fundingFee")
    if funding_paid is None:
        funding_paid = optional_amount(row, "fundingSettle")
    funding_paid = _ZERO if funding_paid is None else funding_paid

    label = "/".join(text(row, key) or "" for key in ("direction", "status", "liquidateBy"))
    amounts: list[tuple[Kind, Decimal]] = []
    if settled:
        gross = EXACT.add(EXACT.add(amount(row, "netProfit"), fee), funding_paid)
        if gross or not cancelled:
            amounts.append((Kind.LIQUIDATION if forced else Kind.REALIZED_PNL, gross))
    if fee:
        amounts.append((Kind.FEE, fee.copy_negate()))
    if settled and funding_paid:
        amounts.append((Kind.FUNDING, funding_paid.copy_negate()))

    entries = [
        LedgerEntry(
            account=account,
            exchange="coinw",
            stream=STREAM,
            record_id=record_id,
            seq=seq,
            ts=ts,
            kind=kind,
            coin=COIN,
            amount=value,
            category=CATEGORY,
            symbol=f"{instrument.strip().upper()}{COIN}",
            exchange_type=label,
        )
        for seq, (kind, value) in enumerate(amounts)
    ]
    return Record(record_id=record_id, ts=ts, raw=raw, entries=entries, mutable=is_mutable(row))
