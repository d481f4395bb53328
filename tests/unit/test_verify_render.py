"""The terminal view of a verification caps the breaks it lists and stays within 80 columns."""

from __future__ import annotations

from decimal import Decimal

from cexledger.model import StreamKey
from cexledger.verify import render
from cexledger.verify.model import Break, Chain, Stretch, StreamVerdict, Verification

T = 1_790_000_000_000


def test_breaks_beyond_the_cap_are_counted_and_point_to_json():
    breaks = tuple(Break(str(10**17 + k), T + k, str(10**17 + k + 1), T + k + 1, Decimal("1.5"),
                         Decimal("1.25"), Decimal("-0.25")) for k in range(render.BREAKS_SHOWN + 2))
    chain = Chain("USDT-FUTURES", "USDT", 40, breaks, (Stretch("1", T, "2", T + 1, 2),))
    key = StreamKey("main", "bitget", "financial-records", "USDT-FUTURES")
    verification = Verification((StreamVerdict(key, 40, (chain,), (), ("12 breaks in 1 of 1 balance chains",)),))
    lines = render.lines(verification)
    assert lines[-1] == "… and 2 more breaks (every one: cexledger verify --json)"
    assert sum(1 for line in lines if line.startswith("  break in USDT-FUTURES USDT: after ")) == render.BREAKS_SHOWN
    assert all(len(line) <= 80 for line in lines)
    assert render.summary(verification) == \
        "verify: 12 breaks in 1 of 1 streams (bitget main financial-records USDT-FUTURES USDT)"
    doc = render.to_json(verification)
    assert doc["breaks"] == 12 and doc["streams"][0]["chains"][0]["breaks"][0]["difference"] == "-0.25"
