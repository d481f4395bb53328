"""Issue 8, item 8: the largest amounts ``check_digits`` lets through are archived exactly on
both backends, so every entry a normalizer returns can be written (one bound for both)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cexledger._json import DECIMAL_DIGITS, check_digits

from .support import KEY, make_record

WIDEST = f"{'9' * DECIMAL_DIGITS[0]}.{'9' * (DECIMAL_DIGITS[1] - 1)}1"


def test_the_widest_holdable_amount_round_trips(archive):
    tiniest = f"-0.{'0' * (DECIMAL_DIGITS[1] - 1)}1"
    archive.write_page(KEY, [make_record("1", amounts=(WIDEST, tiniest))])
    got = [e.amount for e in archive.iter_entries()]
    assert got == [Decimal(WIDEST), Decimal(tiniest)]


@pytest.mark.parametrize("text", ["1" + "0" * DECIMAL_DIGITS[0], f"1E-{DECIMAL_DIGITS[1] + 1}"])
def test_one_digit_more_is_refused(text):
    with pytest.raises(ValueError, match="more than the archive holds"):
        check_digits(Decimal(text))
