"""Exact JSON: numbers become ``Decimal`` (never ``float``), integers stay ``int``.

Exchange pages are decoded twice over: the envelope with rows kept as ``msgspec.Raw``
(the exact bytes the exchange sent, archived as-is), then each row on its own for
normalization. Nothing here ever goes through ``float``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "loads", "dumps", "Raw", "DECIMAL_DIGITS", "EXACT", "canonical_decimal", "check_digits", "to_decimal",
    "to_id",
]

Raw = msgspec.Raw

_decoder = msgspec.json.Decoder(float_hook=Decimal)
encoder = msgspec.json.Encoder(decimal_format="number")


def loads(data: bytes | str) -> Any:
    """Decode JSON exactly: floats as ``Decimal``, integers as ``int``."""
    return _decoder.decode(data)


def dumps(obj: Any) -> bytes:
    """Encode JSON compactly, ``Decimal`` as a JSON number, key order kept."""
    return encoder.encode(obj)


EXACT = decimal.Context(
    prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.Inexact]
)
"""The context every sum of exchange amounts uses: wide enough for any realistic amount, and
one that raises rather than round (``decimal.Inexact`` is a trap)."""

DECIMAL_DIGITS = (131_072, 16_383)
"""The most digits an archived amount may have before and after the decimal point: what
PostgreSQL's ``NUMERIC`` holds, and so what every backend archives (SQLite's canonical text
would hold more, but an archive must read the same on both)."""


def check_digits(value: Decimal) -> None:
    """Raise ``ValueError`` unless ``value`` is finite and within :data:`DECIMAL_DIGITS`
    (trailing zeros do not count; nothing is expanded, so ``1E+999999999`` is cheap)."""
    text = str(value)
    if len(text) < DECIMAL_DIGITS[1] and "E" not in text and value.is_finite():
        return      # every digit written out, fewer than either limit: every real amount
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if zeros == len(digits):
        return                                     # zero
    exponent += zeros
    whole = max(len(digits) - zeros + exponent, 0)
    fraction = max(-exponent, 0)
    if whole > DECIMAL_DIGITS[0] or fraction > DECIMAL_DIGITS[1]:
        raise ValueError(
            f"a decimal with {whole} digits before and {fraction} after the point is more than "
            f"the archive holds ({DECIMAL_DIGITS[0]} and {DECIMAL_DIGITS[1]})"
        )


def canonical_decimal(value: Decimal) -> str:
    """Canonical text for a decimal: no exponent, no trailing zeros, ``0`` for zero.

    ``Decimal("1E-18")`` -> ``"0.000000000000000001"``; ``Decimal("5.10")`` -> ``"5.1"``.
    Raises ``ValueError`` for a value :func:`check_digits` refuses.
    """
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    text = str(value)
    if "E" not in text and text[-1] != "0" and not value.is_zero():
        return text                    # already plain, with no trailing zero: the usual case
    if value.is_zero():
        return "0"
    check_digits(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_decimal(value: Any) -> Decimal | None:
    """A wire value (JSON string, number or null) as an exact ``Decimal``; ``None`` for null/"".

    Raises ``ValueError`` for anything that is not a finite number; a ``float`` is refused
    because it has already lost exactness.
    """
    if type(value) is str:             # the usual wire form, fast; Decimal() allows spaces
        try:
            result = Decimal(value)
        except ArithmeticError:
            if not value.strip():
                return None
            raise ValueError(f"not a number: {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return result
    if value is None:
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            result = Decimal(text)
        except ArithmeticError:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"not an exact number: {value!r}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


_ID_DIGITS = 100  # an id sent as a JSON number in exponent form has at most this many digits


def to_id(value: Any) -> str | None:
    """A wire id (JSON string or integer) as a string; never through float."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an id: {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < _ID_DIGITS \
            and value == value.to_integral_value():
        return str(int(value))     # bounded first: int(Decimal("1E+999999999")) would not end
    raise ValueError(f"not an id: {str(value)[:40]!r}")
