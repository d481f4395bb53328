"""Bitget UTA financial records -> unified ``Record``/``LedgerEntry``.

A row gives its entries by the ledger convention (:mod:`cexledger.model`), in stream
``financial-records`` (or ``tax-records``): ``seq`` 0 of the type's kind with ``amount`` as
Bitget signs it, then ``seq`` 1 of kind ``FEE`` with ``fee`` (negative when paid) when the fee
is not zero. A zero ``amount`` beside a fee gives the fee entry alone (an opening trade's
``amount 0, fee -0.3``); a row that moved nothing keeps its one zero entry. The entries sum to
``amount + fee`` exactly. ``balance`` (after the row) is on the row's last entry;
``category`` is the category the row was requested under (rows carry their own ``category``
text, e.g. ``"Margin"``, which stays in the raw record); ``exchange_type`` is the row's
``type`` verbatim on every entry of the row, and ``coin``/``symbol`` are the row's.

Kinds of the documented types and of those seen in real responses (the table is
:data:`BITGET_KINDS`, the prefixes :data:`_PREFIX_KINDS`):

=================================================  ===============
``type``                                           kind
=================================================  ===============
ORDER_DEALT_IN, ORDER_DEALT_FROZEN_OUT,            TRADE
BUY_DEAL, SELL_DEAL, OPEN_LONG, OPEN_SHORT         TRADE (opening a futures position)
CLOSE_LONG, CLOSE_SHORT                            REALIZED_PNL
ORDER_PLF_FEE_OUT                                  FEE
CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT,              FUNDING
MARGIN_SETTLE_FEE_USER_IN/OUT,
RWA_CONTRACT_MAIN_SETTLE_FEE_USER_IN/OUT,
FIXED_SETTLE_FEE_USER_OUT
TRANSFER_IN/OUT, TRACE_TRANSFER_USER_IN/OUT,       TRANSFER
TRACE_TRANSFER_REFUND_IN
EXCHANGE_* (SOURCE_TOKEN_USER_OUT, TARGET_…_IN)    CONVERT
FORCE_*, BURST_*, RISK_LIQ_*, OFFSET_REDUCE_*,     LIQUIDATION
LIQ_FEE, FIXED_ADL_CLOSE_LONG/SHORT
BORROW                                             BORROW
REPAYMENT, INTEREST_REPAYMENT                      REPAY
INTEREST_* (INTEREST_SETTLEMENT_OUT, …)            INTEREST
anything else                                      OTHER (kept, never rejected)
=================================================  ===============

A change to this table (or to how a row becomes its entry) bumps :data:`VERSION`: archived
records are then re-derived from their raw bytes (``cexledger reparse``, automatic at the
next ``sync``). Version 2 added the RWA/FIXED funding, refund transfer and LIQ_FEE/ADL types;
version 3 made the fee an entry of its own (it was a ``fee`` field beside the amount).

Exact names win over prefixes (``INTEREST_REPAYMENT`` is REPAY, not INTEREST); matching
ignores case. Tolerance: ``id`` may be a string or an integer, ``ts`` a string or a number,
amounts strings or JSON numbers in any exponent form; a missing ``fee`` is 0, a missing
``balance`` is ``None``, a missing or empty ``symbol`` is ``None``. A row without ``id``,
``ts`` or a numeric ``amount``, or with a non-numeric ``fee``/``balance``, raises
``ValueError``. No data is silently dropped: the client stops the stream when ``id`` or
``ts`` is unreadable, and archives any other such row raw, without entries.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...model import Kind, LedgerEntry, Record
from .._fields import Derived, amount, derive, millis, optional_amount, row_id, text

__all__ = [
    "BITGET_KINDS", "FUNDING_KINDS", "FUNDING_STREAM", "FUNDING_VERSION", "STREAM", "TAX_STREAM", "VERSION",
    "bitget_kind", "bitget_parse", "bitget_record", "funding_kind", "funding_parse", "tax_parse",
]

STREAM = "financial-records"
TAX_STREAM = "tax-records"          # the same rows as financial records, reaching 366 days
FUNDING_STREAM = "funding-records"  # the funding wallet
VERSION = 3
"""The version of the financial-records (and tax-records) normalizer; streams record which
version built their entries."""
FUNDING_VERSION = 2
"""The version of the funding-wallet normalizer. Version 2: an inflow under ``groupType``
``withdraw`` with an empty ``type`` is a transfer, not a withdrawal."""

BITGET_KINDS: dict[str, Kind] = {
    "ORDER_DEALT_IN": Kind.TRADE,
    "ORDER_DEALT_FROZEN_OUT": Kind.TRADE,
    "BUY_DEAL": Kind.TRADE,
    "SELL_DEAL": Kind.TRADE,
    "OPEN_LONG": Kind.TRADE,
    "OPEN_SHORT": Kind.TRADE,
    "CLOSE_LONG": Kind.REALIZED_PNL,
    "CLOSE_SHORT": Kind.REALIZED_PNL,
    "ORDER_PLF_FEE_OUT": Kind.FEE,
    "CONTRACT_MAIN_SETTLE_FEE_USER_IN": Kind.FUNDING,
    "CONTRACT_MAIN_SETTLE_FEE_USER_OUT": Kind.FUNDING,
    "MARGIN_SETTLE_FEE_USER_IN": Kind.FUNDING,
    "MARGIN_SETTLE_FEE_USER_OUT": Kind.FUNDING,
    "RWA_CONTRACT_MAIN_SETTLE_FEE_USER_IN": Kind.FUNDING,
    "RWA_CONTRACT_MAIN_SETTLE_FEE_USER_OUT": Kind.FUNDING,
    "FIXED_SETTLE_FEE_USER_OUT": Kind.FUNDING,
    "TRANSFER_IN": Kind.TRANSFER,
    "TRANSFER_OUT": Kind.TRANSFER,
    "TRACE_TRANSFER_USER_IN": Kind.TRANSFER,
    "TRACE_TRANSFER_USER_OUT": Kind.TRANSFER,
    "TRACE_TRANSFER_REFUND_IN": Kind.TRANSFER,
    "EXCHANGE_SOURCE_TOKEN_USER_OUT": Kind.CONVERT,
    "EXCHANGE_TARGET_TOKEN_USER_IN": Kind.CONVERT,
    "FORCE_CLOSE_LONG": Kind.LIQUIDATION,
    "FORCE_CLOSE_SHORT": Kind.LIQUIDATION,
    "BURST_CLOSE_LONG": Kind.LIQUIDATION,
    "BURST_CLOSE_SHORT": Kind.LIQUIDATION,
    "OFFSET_REDUCE_CLOSE_LONG": Kind.LIQUIDATION,
    "OFFSET_REDUCE_CLOSE_SHORT": Kind.LIQUIDATION,
    "FORCE_BUY_SSM": Kind.LIQUIDATION,
    "FORCE_SELL_SSM": Kind.LIQUIDATION,
    "BURST_BUY_SSM": Kind.LIQUIDATION,
    "BURST_SELL_SSM": Kind.LIQUIDATION,
    "RISK_LIQ_USER_IN": Kind.LIQUIDATION,
    "RISK_LIQ_USER_OUT": Kind.LIQUIDATION,
    "LIQ_FEE": Kind.LIQUIDATION,
    "FIXED_ADL_CLOSE_LONG": Kind.LIQUIDATION,
    "FIXED_ADL_CLOSE_SHORT": Kind.LIQUIDATION,
    "INTEREST_SETTLEMENT_OUT": Kind.INTEREST,
    "BORROW": Kind.BORROW,
    "REPAYMENT": Kind.REPAY,
    "INTEREST_REPAYMENT": Kind.REPAY,
}
"""Every documented or observed ``type`` and its kind."""

_PREFIX_KINDS: tuple[tuple[str, Kind], ...] = (
    ("EXCHANGE_", Kind.CONVERT),
    ("FORCE_", Kind.LIQUIDATION),
    ("BURST_", Kind.LIQUIDATION),
    ("RISK_LIQ_", Kind.LIQUIDATION),
    ("OFFSET_REDUCE_", Kind.LIQUIDATION),
    ("INTEREST_", Kind.INTEREST),
)


def bitget_kind(exchange_type: str | None) -> Kind:
    """The kind of a Bitget ``type``; ``OTHER`` for anything not understood."""
    if not exchange_type:
        return Kind.OTHER
    name = exchange_type.strip().upper()
    kind = BITGET_KINDS.get(name)
    if kind is not None:
        return kind
    for prefix, prefixed_kind in _PREFIX_KINDS:
        if name.startswith(prefix):
            return prefixed_kind
    return Kind.OTHER


def bitget_parse(account: str, category: str, raw: bytes) -> Derived:
    """What one row's exact bytes give in ``category``: the one path from bytes to entries,
    used by the client while syncing and by ``reparse`` (see ``_fields.derive``). Raises
    ``ValueError`` when the row's id or ``ts`` cannot be held."""
    return derive(raw, "ts", lambda record_id, ts, row: bitget_record(
        account, category, raw, row, (record_id, ts)))


def tax_parse(account: str, biz_type: str, raw: bytes) -> Derived:
    """A tax-records row: the fields and types of a financial record (``bizType`` is the
    category), its entry in stream ``tax-records``."""
    return derive(raw, "ts", lambda record_id, ts, row: bitget_record(
        account, biz_type, raw, row, (record_id, ts), stream=TAX_STREAM))


def bitget_record(account: str, category: str, raw: bytes, row: dict[str, Any],
                  identified: tuple[str, int] | None = None, *, stream: str = STREAM) -> Record:
    """Normalize one financial-records (or tax-records) row; ``raw`` is kept as the exchange
    sent it.

    ``identified`` is the row's ``(record_id, ts)`` when the caller has already read them
    (``_fields.identify``), so they are not read twice.
    """
    record_id = row_id(row) if identified is None else identified[0]
    try:
        ts = millis(row, "ts") if identified is None else identified[1]
        exchange_type = text(row, "type")
        fee = optional_amount(row, "fee")
        value = amount(row, "amount")
        coin, symbol, balance = text(row, "coin"), text(row, "symbol"), optional_amount(row, "balance")
    except ValueError as exc:
        raise ValueError(f"row {record_id}: {exc}") from None
    moved: list[tuple[Kind, Decimal]] = []
    if value or not fee:
        moved.append((bitget_kind(exchange_type), value))
    if fee:
        moved.append((Kind.FEE, fee))
    last = len(moved) - 1
    entries = [
        LedgerEntry(account, "bitget", stream, record_id, seq, ts, kind, coin, signed,
                    balance if seq == last else None, category, symbol, exchange_type)
        for seq, (kind, signed) in enumerate(moved)
    ]
    return Record(record_id=record_id, ts=ts, raw=raw, entries=entries)


FUNDING_KINDS: dict[str, Kind] = {
    "deposit": Kind.DEPOSIT,
    "withdraw": Kind.WITHDRAWAL,
    "transfer": Kind.TRANSFER,
    "transfer_in": Kind.TRANSFER,
    "transfer_out": Kind.TRANSFER,
    "convert": Kind.CONVERT,
    "loan": Kind.BORROW,
    "interest": Kind.INTEREST,
}
"""Funding-wallet ``type`` (or, when ``type`` is empty or unknown, ``groupType``) values and
their kinds; matching ignores case. Anything else is ``OTHER``."""

_OUTWARD = {Kind.DEPOSIT: False, Kind.WITHDRAWAL: True}
"""The direction a deposit or withdrawal moves money (True: out of the wallet)."""


def funding_kind(exchange_type: str | None, group_type: str | None, amount: Decimal | None = None) -> Kind:
    """The kind of a funding-wallet row: by its ``type``, else by its ``groupType``.

    A row known only by its group (``type`` empty or unknown) whose amount moves the other
    way than that group's movements (an inflow under ``withdraw``, an outflow under
    ``deposit``) is not that movement: it is money moved between the user's own accounts, a
    ``TRANSFER``. Live, a ``withdraw``/``""`` row brings into the funding wallet the amount
    the next row withdraws (the balance chain shows it came from the trading account, not
    back from a withdrawal), so counting it as a withdrawal would count one withdrawal twice.
    """
    kind = FUNDING_KINDS.get((exchange_type or "").strip().lower())
    if kind is not None:
        return kind
    kind = FUNDING_KINDS.get((group_type or "").strip().lower(), Kind.OTHER)
    outward = _OUTWARD.get(kind)
    if outward is not None and amount is not None and amount != 0 and (amount < 0) != outward:
        return Kind.TRANSFER
    return kind


def funding_parse(account: str, partition: str, raw: bytes) -> Derived:
    """A funding-wallet row (``id, coin, groupType, type, amount, balance, ts``): one entry
    (the endpoint reports no fee), kind by :func:`funding_kind`, ``exchange_type`` the
    ``type`` or, when that is empty, the ``groupType``; ``category`` is the partition
    (``FUNDING``)."""
    def build(record_id: str, ts: int, row: dict[str, Any]) -> Record:
        try:
            exchange_type = text(row, "type") or text(row, "groupType")
            value = amount(row, "amount")
            entry = LedgerEntry(
                account=account, exchange="bitget", stream=FUNDING_STREAM, record_id=record_id, seq=0,
                ts=ts, kind=funding_kind(text(row, "type"), text(row, "groupType"), value),
                coin=text(row, "coin"), amount=value, balance=optional_amount(row, "balance"),
                category=partition, symbol=None, exchange_type=exchange_type,
            )
        except ValueError as exc:
            raise ValueError(f"row {record_id}: {exc}") from None
        return Record(record_id=record_id, ts=ts, raw=raw, entries=[entry])

    return derive(raw, "ts", build)
