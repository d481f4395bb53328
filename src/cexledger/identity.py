"""Whose history an account name holds, and the gate that keeps anyone else's out.

An account's history belongs to the exchange user behind it, not to the name in the config.
The archive records, per account name, an :class:`~cexledger.archive.AccountIdentity`: the
exchange, the base URL, a fingerprint of the API key (SHA-256 over a domain-separation
prefix, the exchange and the key: irreversible, and never the key or a secret) and the
exchange's user id once a row told it (CoinW rows carry ``userId``; Bitget rows name no
user, so there the identity is the base URL plus the key fingerprint).

Base URLs are compared (and stored) normalised: scheme and host lower-case, the scheme's
default port (``:443``, ``:80``) and a trailing ``/`` dropped (:func:`normal_base_url`); a
recorded one is normalised before comparing too.

At the start of an account's sync the configured identity is compared with the recorded one:

- none recorded (a new account, or an archive made before identities were recorded): the
  configured identity is adopted with the account's first admitted write, and the archived
  coverage is trusted. For CoinW the user id is then taken from an archived row's ``userId``,
  so rows of another user are refused as in rule 1 (Bitget rows name no user: adopted as is);
- another exchange or another base URL: refused at once;
- the same key: trusted; every page's user id (where rows carry one) must still match;
- another key (a rotation, or another user's key): *probation*. The account's coverage and
  checkpoints are not trusted (its work is planned as a backfill) and every write waits at
  the gate until the new key's rows decide who it is:

  1. rows naming a user id decide by it: the recorded one => the same user; another =>
     refused (proven: the user id is authoritative, nothing overrides it);
  2. otherwise rows whose time falls inside the stream's archived coverage are looked up in
     the archive by id. A row found with the same bytes (or archived as still changing) is a
     match: one match => the same user. A row found with other bytes is no evidence either
     way (an exchange may add a field). When at least :data:`MISSING_TO_REFUSE` rows inside
     coverage are not archived at all and none has matched => another user (proven), refused;
  3. no evidence either way — every running work item waits at the gate — is refused, not
     proven: ``--accept-new-identity`` is offered. When work items failed (a network error)
     while undecided, the account ends as "identity not yet confirmed", not refused.

  The decision is taken once: a later contrary piece of evidence of rule 2 changes nothing.
  Accepted, the new fingerprint is recorded and the held pages are written; refused, nothing
  of that account is written (not even its stream registration).

``cexledger sync --accept-new-identity NAME`` (the user's word that the configured key reaches
the same exchange user) records the configured identity and, for that run, does not trust the
archived coverage: the account is backfilled in full, as on probation, so nothing of the
window is skipped; later runs trust coverage again. It never overrides a recorded user id: a
CoinW row naming another user is still refused. A proven mismatch (rule 1 or 2) never offers
it: those keys need their own account name in the config.

A refusal is an :class:`~cexledger.errors.IdentityError` (a ``FatalAccountError``): that
account stops, the others finish.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import _json
from .archive import AccountIdentity, Archive
from .config import Account
from .errors import IdentityError
from .exchanges._fields import text
from .model import Record, StreamKey

__all__ = ["IdentityGate", "MISSING_TO_REFUSE", "configured_identity", "key_fingerprint",
           "normal_base_url", "open_gate", "refusal"]

_FINGERPRINT_PREFIX = b"cexledger api-key fingerprint v1\x00"

Call = Callable[..., Awaitable[Any]]

MISSING_TO_REFUSE = 3
"""Rows inside archived coverage, absent from the archive, with no id match, that prove
another user (rule 2): fewer may be rows the exchange indexed late."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normal_base_url(url: str) -> str:
    """``url`` with scheme and host lower-case, no default port and no trailing ``/``."""
    parsed = urlsplit(url.strip())
    scheme = parsed.scheme.lower()
    host = (parsed.hostname or "").lower()
    if ":" in host:                           # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parsed.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parsed.path.rstrip("/"), parsed.query, parsed.fragment))


def key_fingerprint(exchange: str, api_key: str) -> str:
    """``sha256:<hex>`` of a domain-separation prefix, the exchange and the API key."""
    digest = hashlib.sha256(_FINGERPRINT_PREFIX + exchange.encode() + b"\x00" + api_key.encode())
    return "sha256:" + digest.hexdigest()


def configured_identity(account: Account) -> AccountIdentity:
    """The identity the config gives an account (its user id is not known from the config)."""
    return AccountIdentity(account.name, account.exchange, normal_base_url(account.base_url),
                           key_fingerprint(account.exchange, account.api_key))


def refusal(account: Account, what: str, *, proven: bool = False) -> IdentityError:
    """The one-line refusal: what differs, that nothing was written, how to proceed.
    ``proven``: the keys reach another exchange user, so accepting them is never offered."""
    how = ("give these keys their own account name in the config" if proven else
           f"give these keys their own account name in the config, or, if they reach the same "
           f"exchange user, run once: cexledger sync --accept-new-identity {account.name} "
           f"(from Python: cexledger.sync(..., accept_new_identity=[{account.name!r}]))")
    return IdentityError(f"{what}; nothing was written. To proceed, {how}",
                         exchange=account.exchange, account=account.name)


def _archived_user(archive: Archive, account: Account) -> str | None:
    """The user id an archived CoinW row of the account names (``userId``), if any."""
    records = archive.iter_records(account=account.name, exchange=account.exchange)
    try:
        for record in records:
            row = _json.loads(record.raw)
            return text(row, "userId") if isinstance(row, dict) else None
        return None
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


async def open_gate(account: Account, call: Call, archive: Archive, *, accept: bool = False) -> IdentityGate:
    """Compare the configured identity with the recorded one; the account's gate, or raise
    :class:`~cexledger.errors.IdentityError` for another exchange or base URL. ``call`` runs an archive method
    off the event loop. ``accept``: take the configured identity as the account's own (recorded
    with the first admitted write; the archived coverage is not trusted this run)."""
    configured = configured_identity(account)
    recorded = await call(archive.identity, account.name)
    if recorded is not None:
        recorded = replace(recorded, base_url=normal_base_url(recorded.base_url))
    if accept:
        if recorded is None:
            return IdentityGate(account, call, archive, configured, recorded=False)
        user_id = recorded.user_id if recorded.exchange == configured.exchange else None
        return IdentityGate(account, call, archive, replace(configured, user_id=user_id),
                            recorded=False, full=True, accepting=True)
    if recorded is None:
        user_id = None
        if account.exchange == "coinw":          # archives made before identities: rows name it
            user_id = await call(_archived_user, archive, account)
        return IdentityGate(account, call, archive, replace(configured, user_id=user_id),
                            recorded=False)
    if recorded.exchange != configured.exchange:
        raise refusal(account, f"the archive holds this name's history from exchange "
                               f"{recorded.exchange}, the config says {configured.exchange}", proven=True)
    if recorded.base_url != configured.base_url:
        raise refusal(account, f"the archive holds this name's history from base URL "
                               f"{recorded.base_url}, the config says {configured.base_url}")
    if recorded.key_fingerprint == configured.key_fingerprint:
        return IdentityGate(account, call, archive, recorded, recorded=True)
    return IdentityGate(account, call, archive, recorded, recorded=True, probation=configured)


class IdentityGate:
    """One account's identity check, in front of every archive write of its sync.

    ``trusted``: the archived coverage may plan the work. Writes pass once decided (checked
    for the rows' user id); in probation they wait in :meth:`admit` until evidence decides
    (see the module docstring); :meth:`stalled` tells the engine when every work item waits,
    so it can call :meth:`no_evidence`. :attr:`admitted`: the account may be written to.
    """

    def __init__(self, account: Account, call: Call, archive: Archive, identity: AccountIdentity,
                 *, recorded: bool, probation: AccountIdentity | None = None,
                 full: bool = False, accepting: bool = False) -> None:
        self._account = account
        self._call = call
        self._archive = archive
        self._identity = identity          # the identity writes are checked against
        self._recorded = recorded          # False: record ``identity`` with the first admitted write
        self._candidate = probation        # the new key's identity, while on probation
        self._full = full                  # backfill in full this run (--accept-new-identity)
        self._accepting = accepting        # the user accepted the configured identity
        self._refusal: IdentityError | None = None
        self._accepted = probation is None
        self._decided = asyncio.Event()
        self._changed = asyncio.Event()
        self._waiting = 0
        self._missing = 0                  # rows inside coverage not archived (rule 2)
        self._coverage: dict[StreamKey, list[tuple[int, int]]] = {}
        if probation is None:
            self._decided.set()

    @property
    def trusted(self) -> bool:
        """Whether the account's coverage and checkpoints may be used to plan its work."""
        return self._candidate is None and self._refusal is None and not self._full

    @property
    def decided(self) -> bool:
        return self._decided.is_set()

    @property
    def admitted(self) -> bool:
        """Decided for the configured key: the account may be written to."""
        return self._accepted and self._refusal is None

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
        await self.record()

    async def record(self) -> None:
        """Record the admitted identity if this sync has not yet (idempotent)."""
        if self.admitted and not self._recorded:
            self._recorded = True
            await self._call(self._archive.record_identity, self._identity)

    async def stalled(self, running: int) -> None:
        """Return once decided, or once ``running`` work items all wait at the gate."""
        while not self._decided.is_set() and self._waiting < running:
            self._changed.clear()
            await self._changed.wait()

    def no_evidence(self) -> None:
        """Every work item waits and none brought evidence: refuse (see the module docstring)."""
        self._refuse(
            "the config's API key is not the one archived, and none of its rows "
            "shows it reaches the same exchange user (no row falls in the archived coverage)")

    # ---- deciding ------------------------------------------------------------------------

    def _raise_refused(self) -> None:
        if self._refusal is not None:
            raise self._refusal

    def _refuse(self, what: str, *, proven: bool = False) -> IdentityError | None:
        """Decide against the new key (a no-op once accepted); every waiting and later
        write raises the refusal this returns."""
        if self._accepted and self._refusal is None:
            return None
        if self._refusal is None:
            self._refusal = refusal(self._account, what, proven=proven)
        self._decide()
        return self._refusal

    def _deny(self, what: str) -> IdentityError:
        """Rows name another exchange user than the recorded one: refused whatever was
        decided before (the user id is authoritative)."""
        if self._refusal is None:
            self._refusal = refusal(self._account, what, proven=True)
            self._accepted = False
        self._decide()
        return self._refusal

    def _decide(self) -> None:
        self._decided.set()
        self._changed.set()

    async def _accept(self, user_id: str | None) -> None:
        """The new key reaches the archived user: decide at once (before any await, so a
        concurrent refusal is a no-op), then record its fingerprint and release the writes."""
        if self._candidate is None or self._decided.is_set():
            return
        self._identity = replace(self._candidate, user_id=user_id or self._identity.user_id)
        self._candidate = None
        self._accepted = True
        self._recorded = True
        self._decide()
        await self._call(self._archive.record_identity, self._identity)

    async def _check_owner(self, records: Sequence[Record]) -> None:
        owners = {r.owner for r in records if r.owner is not None}
        if not owners:
            return
        if len(owners) > 1:
            raise self._deny(f"one page names several exchange users ({', '.join(sorted(owners))})")
        owner = owners.pop()
        known = self._identity.user_id
        if known is not None and owner != known:
            override = (" (--accept-new-identity never overrides the exchange's user id)"
                        if self._accepting else "")
            raise self._deny(f"the config's API key reaches exchange user {owner}, the archive "
                             f"holds user {known}{override}")
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
        matched = False
        missing = []
        for record in inside:
            found = archived.get(record.record_id)
            if found is None:
                missing.append(record.record_id)
            elif found[0] == record.raw or found[1]:   # equal bytes, or archived as changing
                matched = True
            # an equal id with other bytes: no evidence either way
        if matched:
            await self._accept(None)
            return
        self._missing += len(missing)
        if self._missing >= MISSING_TO_REFUSE:
            self._refuse(f"the config's API key reaches another exchange user: {self._missing} of "
                         f"its records in the archived coverage (e.g. {missing[0]} in "
                         f"{key.stream}/{key.partition}) are not in the archive, and none "
                         f"matches an archived one",
                         proven=True)
