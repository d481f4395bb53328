"""A sync job's lock (``worker.app.job_locks``): one lock for every account linked by a shared
exchange key (API key or Bitget tax key), its own for an account that shares none."""

from __future__ import annotations

import itertools

from cexledger.config import Account
from cexledger.worker.app import job_locks


def acc(name: str, key: str, tax: str | None = None, exchange: str = "bitget",
        base_url: str = "https://api.bitget.com") -> Account:
    return Account(name=name, exchange=exchange, api_key=key, api_secret=f"s-{name}",
                   passphrase="p", base_url=base_url, tax_api_key=tax,
                   tax_api_secret=f"ts-{name}" if tax else None, tax_passphrase="tp" if tax else None)


def locks(accounts: list[Account]) -> dict[str, str]:
    return job_locks(accounts)


def test_an_account_sharing_no_key_has_its_own_lock_whatever_else_is_configured() -> None:
    alone = acc("a", "k1")
    others = [acc("b", "k2"), acc("c", "k3", tax="t3")]
    assert job_locks([alone])["a"] == job_locks([*others, alone])["a"] == job_locks([alone, *others])["a"]
    assert len(set(locks([alone, *others]).values())) == 3


def test_one_key_under_two_names_is_one_lock() -> None:
    got = locks([acc("a", "k1"), acc("a-again", "k1"), acc("b", "k2")])
    assert got["a"] == got["a-again"] != got["b"]


def test_a_tax_key_shared_by_two_accounts_joins_their_locks() -> None:
    got = locks([acc("a", "k1", tax="t"), acc("b", "k2", tax="t"), acc("c", "k3", tax="t3")])
    assert got["a"] == got["b"] != got["c"]


def test_a_chain_of_shared_keys_is_one_lock_in_any_order() -> None:
    chain = [acc("a", "k1", tax="t"), acc("b", "k2", tax="t"), acc("c", "k2"), acc("d", "k4", tax="k1")]
    outsider = acc("e", "k5")
    seen = set()
    for order in itertools.permutations([*chain, outsider]):
        got = locks(list(order))
        assert len({got[a.name] for a in chain}) == 1
        assert got["e"] != got["a"]
        seen.add(got["a"])
    assert len(seen) == 1


def test_the_same_key_on_another_exchange_or_host_is_another_key() -> None:
    got = locks([acc("a", "k1"), acc("b", "k1", base_url="http://127.0.0.1:9"),
                 acc("c", "k1", exchange="coinw", base_url="https://api.coinw.com")])
    assert len(set(got.values())) == 3


def test_a_tax_key_whose_variable_is_unset_links_nothing() -> None:
    # a configured tax key whose environment variable is unset reads as "" (Account.tax_problem)
    got = locks([acc("a", "k1", tax=""), acc("b", "k2", tax="")])
    assert got["a"] != got["b"]
