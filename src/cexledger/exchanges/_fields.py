"""Reading fields of decoded exchange rows, exactly and tolerantly.

Rows are decoded by ``cexledger._json.loads``: JSON numbers arrive as ``int`` or ``Decimal``,
strings as ``str``. Every helper accepts a value either way (``"1E-8"``, ``1E-8``,
``"85992.40"``, ``1740645498000``, ``"1740645498000"``) and treats null, an absent key and
``""`` alike as missing. Problems raise ``ValueError`` naming the field. The clients first
:func:`identify` a row (id and time): a row that cannot be identified cannot be deduplicated
and stops its stream (``FatalStreamError``), so its range is never marked covered; a row
that is identified but cannot be normalized is archived raw, without entries (lossless:
parsing can be improved and re-run later), and counted in ``RequestStats.unparsed``.

Sums of exchange amounts use :data:`EXACT`: a context wide enough for any realistic
amount that raises instead of rounding (the default context would round past 28 digits).
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

from .._json import loads, to_decimal, to_id

__all__ = ["EXACT", "identify", "row_id", "millis", "amount", "optional_amount", "text"]

EXACT = decimal.Context(
    prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.Inexact]
)


def identify(raw: bytes, ts_key: str, id_key: str = "id") -> tuple[str, int, dict[str, Any]]:
    """``(record_id, ts, row)`` of one row's exact bytes: the minimum to archive it.

    Raises ``ValueError`` when the row is not a JSON object or its id or time is unreadable.
    """
    row = loads(raw)
    if not isinstance(row, dict):
        raise ValueError(f"not a JSON object: {raw[:80]!r}")
    record_id = row_id(row, id_key)
    try:
        ts = millis(row, ts_key)
    except ValueError as exc:
        raise ValueError(f"row {record_id}: {exc}") from None
    return record_id, ts, row


def row_id(row: dict[str, Any], key: str = "id") -> str:
    """The row's id as text (JSON string or integer, never through float); required."""
    try:
        value = to_id(row.get(key))
    except ValueError:
        raise ValueError(f"{key!r} is not an id: {row.get(key)!r}") from None
    if value is None:
        raise ValueError(f"{key!r} is missing")
    return value


def millis(row: dict[str, Any], key: str) -> int:
    """A required Unix-millisecond timestamp (string or number, integral)."""
    raw = row.get(key)
    if type(raw) is int:                                   # the common cases, fast
        return raw
    if type(raw) is str and raw.isascii() and raw.isdigit():
        return int(raw)
    value = optional_amount(row, key)
    if value is None:
        raise ValueError(f"{key!r} is missing")
    if value != value.to_integral_value():
        raise ValueError(f"{key!r} is not a whole number of milliseconds: {row.get(key)!r}")
    return int(value)


def amount(row: dict[str, Any], key: str) -> Decimal:
    """A required exact decimal."""
    value = optional_amount(row, key)
    if value is None:
        raise ValueError(f"{key!r} is missing")
    return value


def optional_amount(row: dict[str, Any], key: str) -> Decimal | None:
    """An exact decimal, ``None`` when missing; anything non-numeric is an error."""
    try:
        return to_decimal(row.get(key))
    except ValueError:
        raise ValueError(f"{key!r} is not a number: {row.get(key)!r}") from None


def text(row: dict[str, Any], key: str) -> str | None:
    """A string field, ``None`` when missing or empty; numbers are kept as their text."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        return None
    result = str(value).strip()
    return result or None
