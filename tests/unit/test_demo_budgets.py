"""The demo's rate scaling touches every connector's budgets for its sync only."""

from __future__ import annotations

import pytest

from cexledger.demo import scaled_budgets
from cexledger.exchanges import registry


def budgets() -> dict[int, object]:
    return {id(s.budget): s.budget for c in registry.values() for s in c.streams.values()}


def test_every_budget_is_scaled_then_restored_even_on_error():
    before = {key: b.rate for key, b in budgets().items()}
    assert len(before) >= 4     # financial records, funding wallet, tax records, CoinW
    with pytest.raises(RuntimeError):
        with scaled_budgets(25):
            assert {key: b.rate for key, b in budgets().items()} == {k: r * 25 for k, r in before.items()}
            raise RuntimeError("the sync failed")
    assert {key: b.rate for key, b in budgets().items()} == before
