"""Whose history an account name holds, and the gate that keeps anyone else's out.

An account's history belongs to the exchange user behind it, not to the name in the config.
The archive records, per account name, an :class:`~cexledger.archive.AccountIdentity`: the
exchange, the base URL, a fingerprint of the API key (SHA-256 over a domain-separation
prefix, the exchange and the key: irreversible, and never the key or a secret) and the
exchange's user id once a row told it (CoinW rows carry ``userId``; Bitget rows name no
user, so there the identity is the base URL plus the key fingerprint).

At the start of an account's sync the configured identity is compared with the recorded one:

- none recorded (a new account, or an archive made before identities were recorded): the
  configured identity is adopted with the account's first write;
- another exchange or another base URL: refused at once;
- the same key: trusted; every page's user id (where rows carry one) must still match;
- another key (a rotation, or another user's key): *probation*. The account's coverage and
  checkpoints are not trusted (its work is planned as a backfill) and every write waits at
  the gate until the new key's rows decide who it is:

  1. rows naming a user id decide by it: the recorded one ⇒ the same user; another ⇒ refused;
  2. otherwise rows whose time falls inside the stream's archived coverage are compared with
     the archive: every one archived with identical bytes (a row archived as still changing
     may differ) ⇒ the same user; one missing, or an unchangeable row with other bytes ⇒
     another user, refused;
  3. no evidence either way — every running work item waits at the gate and none of their
     rows falls in archived coverage — is refused too: nothing of another user may ever be
     written under an archived name.

  Accepted, the new fingerprint is recorded and the held pages are written; refused, nothing
  of that account is written. ``cexledger sync --accept-new-identity NAME`` records the
  configured identity as the account's own (the user's word that it is the same exchange user).

A refusal is an :class:`~cexledger.errors.IdentityError` (a ``FatalAccountError``): that
account stops, the others finish.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from .archive import AccountIdentity, Archive
from .config import Account
from .errors import IdentityError
from .model import Record, StreamKey

__all__ = ["IdentityGate", "configured_identity", "key_fingerprint", "open_gate", "refusal"]

_FINGERPRINT_PREFIX = b"cexledger api-key fingerprint v1\x00"

Call = Callable[..., Awaitable[Any]]


def key_fingerprint(exchange: str, api_key: str) -> str:
    """``sha256:<hex>`` of a domain-separation prefix, the exchange and the API key."""
    digest = hashlib.sha256(_FINGERPRINT_PREFIX + exchange.encode() + b"\x00" + api_key.encode())
    return "sha256:" + digest.hexdigest()


def configured_identity(account: Account) -> AccountIdentity:
    """The identity the config gives an account (its user id is not known from the config)."""
    return AccountIdentity(account.name, account.exchange, account.base_url,
                           key_fingerprint(account.exchange, account.api_key))


def refusal(account: Account, what: str) -> IdentityError:
    """The one-line refusal: what differs, that nothing was written, how to proceed."""
    return IdentityError(
        f"{what}; nothing was written. Give these keys their own account name in the "
        f"config, or, if they reach the same exchange user, run once: "
        f"cexledger sync --accept-new-identity {account.name}",
        exchange=account.exchange, account=account.name,
    )


async def open_gate(account: Account, call: Call, archive: Archive, *, accept: bool = False) -> IdentityGate:
    """Compare the configured identity with the recorded one; the account's gate, or raise
    :class:`~cexledger.errors.IdentityError` for another exchange or base URL. ``call`` runs an archive method
    off the event loop. ``accept``: record the configured identity as the account's own."""
    configured = configured_identity(account)
    recorded = await call(archive.identity, account.name)
    if accept:
        await call(archive.record_identity, configured)
        return IdentityGate(account, call, archive, configured, recorded=True)
    if recorded is None:
        return IdentityGate(account, call, archive, configured, recorded=False)
    if recorded.exchange != configured.exchange:
        raise refusal(account, f"the archive holds this name's history from exchange "
                                       f"{recorded.exchange}, the config says {configured.exchange}")
    if recorded.base_url != configured.base_url:
        raise refusal(account, f"the archive holds this name's history from base URL "
                                       f"{recorded.base_url}, the config says {configured.base_url}")
    if recorded.key_fingerprint == configured.key_fingerprint:
        return IdentityGate(account, call, archive, recorded, recorded=True)
    return IdentityGate(account, call, archive, recorded, recorded=True, probation=configured)


class IdentityGate:
    """One account's identity check, in front of every archive write of its sync.

    ``trusted``: writes pass (checked for the rows' user id). In probation writes wait in
    :meth:`admit` until evidence decides (see the module docstring); :meth:`stalled` tells
    the engine when every work item waits, so it can call :meth:`no_evidence`.
    """

    def __init__(self, account: Account, call: Call, archive: Archive, identity: AccountIdentity,
                 *, recorded: bool, probation: AccountIdentity | None = None) -> None:
        self._account = account
        self._call = call
        self._archive = archive
        self._identity = identity          # the identity writes are checked against
        self._recorded = recorded          # False: adopt ``identity`` with the first write
        self._candidate = probation        # the new key's identity, while on probation
        self._refusal: IdentityError | None = None
        self._decided = asyncio.Event()
        self._changed = asyncio.Event()
        self._waiting = 0
        self._coverage: dict[StreamKey, list[tuple[int, int]]] = {}
        if probation is None:
            self._decided.set()

    @property
    def trusted(self) -> bool:
        """Whether the account's coverage and checkpoints may be used to plan its work."""
        return self._candidate is None and self._refusal is None

    @property
    def decided(self) -> bool:
        return self._decided.is_set()

    async def admit(self, key: StreamKey, records: Sequence[Record]) -> None:
        """Return when ``records`` (one page, possibly empty) may be written under the
        account; raise :class:`~cexledger.errors.IdentityError` when they must not."""
        self._raise_refused()
        await self._check_owner(records)
        if not self._decided.is_set():
            await self._weigh(key, records)
        if not self._decided.is_set():
            self._waiting += 1
            self._changed.set()
            try:
                await self._decided.wait()
            finally:
                self._waiting -= 1
        self._raise_refused()
        if not self._recorded:
            self._recorded = True
            await self._call(self._archive.record_identity, self._identity)

    async def stalled(self, running: int) -> None:
        """Return once decided, or once ``running`` work items all wait at the gate."""
        while not self._decided.is_set() and self._waiting < running:
            self._changed.clear()
            await self._changed.wait()

    def no_evidence(self) -> None:
        """Every work item waits and none brought evidence: refuse (see the module docstring)."""
        if not self._decided.is_set():
            self._refuse(
                "the config's API key is not the one archived, and none of its rows "
                "shows it reaches the same exchange user (no row falls in the archived coverage)")

    # ---- deciding ------------------------------------------------------------------------

    def _raise_refused(self) -> None:
        if self._refusal is not None:
            raise self._refusal

    def _refuse(self, what: str) -> IdentityError:
        """Decide against the new key; every waiting and later write raises what this returns."""
        if self._refusal is None:
            self._refusal = refusal(self._account, what)
        self._decide()
        return self._refusal

    def _decide(self) -> None:
        self._decided.set()
        self._changed.set()

    async def _accept(self, user_id: str | None) -> None:
        """The new key reaches the archived user: record its fingerprint, release the writes."""
        if self._candidate is None or self._refusal is not None:
            return
        self._identity = replace(self._candidate, user_id=user_id or self._identity.user_id)
        self._candidate = None
        self._recorded = True
        await self._call(self._archive.record_identity, self._identity)
        self._decide()

    async def _check_owner(self, records: Sequence[Record]) -> None:
        owners = {r.owner for r in records if r.owner is not None}
        if not owners:
            return
        if len(owners) > 1:
            raise self._refuse(f"one page names several exchange users ({', '.join(sorted(owners))})")
        owner = owners.pop()
        known = self._identity.user_id
        if known is not None and owner != known:
            raise self._refuse(f"the config's API key reaches exchange user {owner}, the archive "
                         f"holds user {known}")
        if self._candidate is not None:
            if known is not None:      # the same user id: the same user, whatever the key
                await self._accept(known)
            return
        if known is None:
            self._identity = replace(self._identity, user_id=owner)
            if self._recorded:
                await self._call(self._archive.record_identity, self._identity)

    async def _weigh(self, key: StreamKey, records: Sequence[Record]) -> None:
        """The evidence of rows inside archived coverage (rule 2 of the module docstring)."""
        if not records:
            return
        if key not in self._coverage:
            self._coverage[key] = await self._call(self._archive.coverage, key)
        covered = self._coverage[key]
        inside = [r for r in records if any(s <= r.ts < e for s, e in covered)]
        if not inside or self._decided.is_set():
            return
        archived = await self._call(self._archive.archived_raws, key, [r.record_id for r in inside])
        if self._decided.is_set():
            return
        matches = 0
        for record in inside:
            found = archived.get(record.record_id)
            if found is None:
                raise self._refuse(f"the config's API key reaches another exchange user: its record "
                             f"{record.record_id} in {key.stream}/{key.partition} falls in the "
                             f"archived coverage but is not in the archive")
            raw, mutable = found
            if raw == record.raw:
                matches += 1
            elif not mutable:
                raise self._refuse(f"the config's API key reaches another exchange user: its record "
                             f"{record.record_id} in {key.stream}/{key.partition} differs from "
                             f"the archived one")
        if matches:
            await self._accept(None)
