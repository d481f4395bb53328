"""A configured ``rate_limit`` may not exceed the exchange's documented limit (issue 8, item 16)."""

from __future__ import annotations

import pytest

from cexledger.config import documented_rate, load_config
from cexledger.errors import ConfigError
from cexledger.exchanges import registry
from cexledger.exchanges.bitget.client import FINANCIAL_BUDGET
from cexledger.exchanges.coinw.client import DEALS_BUDGET

BITGET = "[accounts.main]\nexchange='bitget'\napi_key='k'\napi_secret='s'\npassphrase='p'\n"
COINW = "[accounts.fut]\nexchange='coinw'\napi_key='k'\napi_secret='s'\n"


def _load(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return load_config(path, env={})


@pytest.mark.parametrize("table, name, rate, limit", [
    (BITGET, "main", "1000", "20"),
    (BITGET, "main", "20.5", "20"),
    (COINW, "fut", "5.01", "5"),
    (COINW, "fut", "20", "5"),
], ids=["bitget-1000", "bitget-20.5", "coinw-5.01", "coinw-20"])
def test_a_rate_above_the_documented_limit_is_refused_in_one_line(tmp_path, table, name, rate, limit):
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, f"{table}rate_limit = {rate}\n")
    message = str(exc.value)
    assert "\n" not in message
    assert f"account {name!r}" in message
    assert f"`rate_limit` {rate} is above" in message
    assert f"documented limit of {limit} requests per second" in message


@pytest.mark.parametrize("table, rate", [(BITGET, 20), (BITGET, 0.01), (COINW, 5), (COINW, 2.5)],
                         ids=["bitget-20", "bitget-0.01", "coinw-5", "coinw-2.5"])
def test_a_rate_up_to_the_documented_limit_is_accepted(tmp_path, table, rate):
    cfg = _load(tmp_path, f"{table}rate_limit = {rate}\n")
    assert next(iter(cfg.accounts.values())).rate_limit == rate


def test_the_limit_is_the_connectors_own_definition(tmp_path, monkeypatch):
    # the highest of the exchange's budgets (Bitget: financial records, above its funding
    # wallet's and tax records' budgets)
    assert documented_rate(registry["bitget"]) == FINANCIAL_BUDGET.rate == 20
    assert documented_rate(registry["coinw"]) == DEALS_BUDGET.rate == 5
    monkeypatch.setattr(DEALS_BUDGET, "rate", 8.0)
    assert _load(tmp_path, f"{COINW}rate_limit = 8\n").accounts["fut"].rate_limit == 8.0
    with pytest.raises(ConfigError, match="documented limit of 8 requests"):
        _load(tmp_path, f"{COINW}rate_limit = 9\n")
