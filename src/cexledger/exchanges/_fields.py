"""Reading fields of decoded exchange rows, exactly and tolerantly.

Rows are decoded by ``cexledger._json.loads``: JSON numbers arrive as ``int`` or ``Decimal``,
strings as ``str``. Every helper accepts a value either way (``"1E-8"``, ``1E-8``,
``"85992.40"``, ``1740645498000``, ``"1740645498000"``) and treats null, an absent key and
``""`` alike as missing. Problems raise ``ValueError`` naming the field.

One path from a row's bytes to what is archived, :func:`derive`, used by the clients while
syncing and by ``cexledger reparse`` alike, so the two can never disagree:

- :func:`identify` reads the row's id and time. A row whose identity the archive cannot
  hold -- not a JSON object, an unreadable or NUL-carrying id, a time that is not a whole
  number of milliseconds inside :data:`TS_RANGE` -- cannot be deduplicated: it raises
  ``ValueError`` naming the record id and field, and the sync stops that stream
  (``FatalStreamError``), so its range is never marked covered.
- The exchange's normalizer builds the entries. *Any* failure there (``ValueError``, a
  decimal ``ArithmeticError`` such as ``Inexact``, an amount or text the archive cannot hold
  exactly per :func:`check_storable`, or a bug) makes the record *raw only*: archived byte for
  byte without entries (lossless: parsing can be improved and re-run later), counted by
  the sync's normalizer stage (``StreamStats.unparsed``).

Sums of exchange amounts use :data:`EXACT`: a context wide enough for any realistic
amount that raises instead of rounding (the default context would round past 28 digits).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from .._json import EXACT, check_digits, loads, to_decimal, to_id
from ..model import Record

__all__ = [
    "EXACT", "TS_RANGE", "Derived", "check_storable", "derive", "identify", "row_id", "millis",
    "amount", "optional_amount", "text",
]

TS_RANGE = (0, 253_402_300_800_000)
"""Event times a row may carry, Unix ms, half-open: the Unix epoch up to the end of year
9999 -- every time the archive (signed 64-bit columns), its exports and its tables can show
as a date. A row outside it cannot be identified."""
_NOT_A_TIME = "is not a Unix time in milliseconds from 1970 to 9999"


def identify(raw: bytes, ts_key: str, id_key: str = "id") -> tuple[str, int, dict[str, Any]]:
    """``(record_id, ts, row)`` of one row's exact bytes: the minimum to archive it.

    Raises ``ValueError`` (naming the record id and field) when the row is not a JSON object,
    its id is unreadable or holds a NUL, or its time is not whole milliseconds in
    :data:`TS_RANGE`.
    """
    row = loads(raw)
    if not isinstance(row, dict):
        raise ValueError(f"not a JSON object: {raw[:80]!r}")
    record_id = row_id(row, id_key)
    try:
        ts = millis(row, ts_key)
        if not TS_RANGE[0] <= ts < TS_RANGE[1]:
            raise ValueError(
                f"{ts_key!r} {_NOT_A_TIME}: {_shown(row.get(ts_key))}"
            )
    except ValueError as exc:
        raise ValueError(f"record {record_id}: {exc}") from None
    return record_id, ts, row


class Derived(NamedTuple):
    """What one row's bytes give: the record to archive, and whether the normalizer
    understood it (``False``: raw only, no entries)."""

    record: Record
    understood: bool


def derive(
    raw: bytes,
    ts_key: str,
    normalize: Callable[[str, int, dict[str, Any]], Record],
    raw_only: Callable[[str, int, dict[str, Any]], Record] | None = None,
) -> Derived:
    """Identify ``raw`` (``ValueError`` if its identity cannot be held), then normalize it
    with ``normalize(record_id, ts, row)``; a record is checked with
    :func:`check_storable`. Any normalization failure gives ``raw_only(record_id, ts, row)``
    (default: the bare record, no entries) and ``understood=False``."""
    record_id, ts, row = identify(raw, ts_key)
    try:
        record = normalize(record_id, ts, row)
        check_storable(record)
        return Derived(record, True)
    except Exception:  # noqa: BLE001 - lossless: whatever went wrong, the bytes are kept
        if raw_only is None:
            return Derived(Record(record_id=record_id, ts=ts, raw=raw), False)
        return Derived(raw_only(record_id, ts, row), False)


def check_storable(record: Record) -> None:
    """Raise ``ValueError`` unless every entry of ``record`` can be archived exactly: amounts
    within :data:`cexledger._json.DECIMAL_DIGITS` (both backends hold them as written),
    texts without NUL characters (PostgreSQL text cannot hold them)."""
    for entry in record.entries:
        for value in (entry.amount, entry.balance):
            if value is not None:
                check_digits(value)
        for name in (entry.coin, entry.category, entry.symbol, entry.exchange_type):
            if name is not None and "\x00" in name:
                raise ValueError(f"record {record.record_id}: a text field holds a NUL character")


def _shown(value: Any, limit: int = 40) -> str:
    """A wire value for a one-line message: its repr, cut in the middle past ``limit``."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit // 2]}…{text[-limit // 2:]} ({len(text)} chars)"


def row_id(row: dict[str, Any], key: str = "id") -> str:
    """The row's id as text (JSON string or integer, never through float); required."""
    try:
        value = to_id(row.get(key))
    except ValueError:
        raise ValueError(f"{key!r} is not an id: {_shown(row.get(key))}") from None
    if value is None:
        raise ValueError(f"{key!r} is missing")
    if "\x00" in value:
        raise ValueError(f"{key!r} holds a NUL character: {_shown(value)}")
    return value


def millis(row: dict[str, Any], key: str) -> int:
    """A required Unix-millisecond timestamp (string or number, integral)."""
    raw = row.get(key)
    if type(raw) is int:                                   # the common cases, fast
        return raw
    if type(raw) is str and raw.isascii() and raw.isdigit() and len(raw) <= 19:
        return int(raw)
    value = optional_amount(row, key)
    if value is None:
        raise ValueError(f"{key!r} is missing")
    if value.adjusted() > 18:  # before int(): 1E+999999999 would take minutes to expand
        raise ValueError(f"{key!r} {_NOT_A_TIME}: {_shown(row.get(key))}")
    if value != value.to_integral_value():
        raise ValueError(f"{key!r} is not a whole number of milliseconds: {_shown(row.get(key))}")
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
