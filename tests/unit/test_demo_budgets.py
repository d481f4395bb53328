"""The demo's rate scaling is its own sync's (the limiter pool's scale): the connectors'
documented budgets, which the config check and every other sync read, never change."""

from __future__ import annotations

from cexledger.exchanges import registry
from cexledger.exchanges._limits import LimiterPool


def test_a_scaled_pool_multiplies_every_rate_and_the_lower_still_wins():
    pool = LimiterPool(scale=100)
    assert pool.get("bitget", "k", "tax-records", 0.97).rate == 97.0
    assert pool.get("bitget", "k", "tax-records", 0.5).rate == 50.0
    assert LimiterPool().get("bitget", "k", "tax-records", 0.97).rate == 0.97


def test_the_demo_leaves_the_documented_budgets_alone(tmp_path):
    from rich.console import Console

    from cexledger.demo import run_demo

    before = {id(s.budget): s.budget.rate for c in registry.values() for s in c.streams.values()}
    console = Console(file=open(tmp_path / "out.txt", "w"), width=80)
    assert run_demo(console, console, records=60, seed=1, db=None)
    assert {id(s.budget): s.budget.rate for c in registry.values() for s in c.streams.values()} == before
