"""Sandbox accounts and their fake credentials, deterministic from the seed.

Secrets are long and distinctive (``sbx-secret-<seed>-<name>-<hex>``) so tests can search
logs and files for leaks. They are never printed: only ``GET /_sandbox/accounts`` and
``SandboxState.accounts`` hand them out, and ``repr`` hides them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Account", "make_accounts", "tax_credentials"]


@dataclass(frozen=True)
class Account:
    """One exchange account. ``passphrase`` is Bitget's; ``user_id`` is CoinW's ``userId``.

    A Bitget account also has a separate tax API key (``tax_api_key``, ``tax_api_secret``,
    ``tax_passphrase``): the only key the tax records accept, and refused everywhere else.
    """

    name: str
    exchange: str
    api_key: str
    api_secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)
    user_id: int = 0
    tax_api_key: str | None = None
    tax_api_secret: str | None = field(default=None, repr=False)
    tax_passphrase: str | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, str]:
        """The account as ``/_sandbox/accounts`` lists it (credentials included)."""
        out = {"name": self.name, "exchange": self.exchange,
               "api_key": self.api_key, "api_secret": self.api_secret}
        if self.passphrase is not None:
            out["passphrase"] = self.passphrase
        if self.tax_api_key is not None:
            out["tax_api_key"] = self.tax_api_key
            out["tax_api_secret"] = self.tax_api_secret or ""
            out["tax_passphrase"] = self.tax_passphrase or ""
        return out


def make_accounts(seed: int, bitget: int, coinw: int) -> list[Account]:
    """``bitget-1..N`` then ``coinw-1..M``, credentials drawn from a seed-only RNG (the tax
    keys from one of their own, so adding them changed no other credential)."""
    rng = random.Random(f"sandbox-accounts-{seed}")
    tax_rng = random.Random(f"sandbox-tax-accounts-{seed}")
    accounts = []
    for i in range(1, bitget + 1):
        name = f"bitget-{i}"
        accounts.append(Account(
            name=name, exchange="bitget",
            api_key=f"bg_{rng.getrandbits(128):032x}",
            api_secret=f"sbx-secret-{seed}-{name}-{rng.getrandbits(256):064x}",
            passphrase=f"sbx-pass-{rng.getrandbits(48):012x}",
            **tax_credentials(tax_rng, seed, name),
        ))
    for i in range(1, coinw + 1):
        name = f"coinw-{i}"
        accounts.append(Account(
            name=name, exchange="coinw",
            api_key=f"{rng.getrandbits(128):032x}",
            api_secret=f"sbx-secret-{seed}-{name}-{rng.getrandbits(256):064x}",
            user_id=rng.randrange(1_000_000, 10_000_000),
        ))
    return accounts


def tax_credentials(rng: random.Random, seed: int, name: str) -> dict[str, str]:
    """A Bitget tax API key, secret and passphrase for account ``name``, drawn from ``rng``."""
    return {"tax_api_key": f"bg_tax_{rng.getrandbits(128):032x}",
            "tax_api_secret": f"sbx-secret-{seed}-{name}-tax-{rng.getrandbits(256):064x}",
            "tax_passphrase": f"sbx-tax-pass-{rng.getrandbits(48):012x}"}
