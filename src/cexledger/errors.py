"""The exception tree. Every error cexledger raises on purpose derives from ``CexledgerError``.

    CexledgerError
    ├── ConfigError                 the config file or an option is wrong (user must fix)
    ├── ArchiveError                the database cannot be opened, migrated or written
    │   ├── ArchiveLockedError      another process holds the database
    │   └── NoArchiveError          nothing is archived there (and it was not to be created)
    └── ExchangeError               an exchange answered with an error (carries context)
        ├── RetriableError          try again later: HTTP 429/5xx, rate-limit codes,
        │                           timeouts, dropped connections, malformed bodies
        ├── FatalAccountError       stop this account now: auth / permission / IP errors
        │   └── IdentityError       the keys do not (provably) reach the archived user
        └── FatalStreamError        stop this stream: parameter errors, a cursor loop,
            │                       retries exhausted
            └── KeyRefusedError     one of the account's keys was refused (Bitget's tax
                                    key): stop the streams on that key, not the account

Errors carry the request context (exchange, account, method, path, the exchange's code and
text) and never a secret: messages are built only from those fields.
"""

from __future__ import annotations

__all__ = [
    "CexledgerError",
    "ConfigError",
    "ArchiveError",
    "ArchiveLockedError",
    "NoArchiveError",
    "ExchangeError",
    "RetriableError",
    "FatalAccountError",
    "FatalStreamError",
    "IdentityError",
    "KeyRefusedError",
]


class CexledgerError(Exception):
    """Base of every deliberate cexledger error; its ``str`` is one line for the user."""


class ConfigError(CexledgerError):
    """Configuration is missing or invalid."""


class ArchiveError(CexledgerError):
    """The archive database cannot be opened, migrated, read or written."""


class ArchiveLockedError(ArchiveError):
    """Another process holds a lock on the archive database."""


class NoArchiveError(ArchiveError):
    """No archive at ``where`` (a missing file, an empty database), and the open was not
    to create one."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


class ExchangeError(CexledgerError):
    """An exchange request failed.

    ``code`` and ``text`` are what the exchange said (or a transport description);
    ``status`` is the HTTP status, ``None`` if no response arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        exchange: str | None = None,
        account: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | None = None,
        text: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.exchange = exchange
        self.account = account
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.text = text
        self.retry_after = retry_after

    @property
    def cause(self) -> str:
        """What went wrong, without the account or the request: the message and what the
        exchange said (one cause met on several endpoints reads alike)."""
        detail = ""
        if self.code is not None or self.text:
            detail = f": exchange said {self.code or '-'} {self.text or ''}".rstrip()
        return f"{super().__str__()}{detail}"

    @property
    def reason(self) -> str:
        """What went wrong, without the account: :attr:`cause` and the request (errors of
        several streams of one account with one cause read alike)."""
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return f"{self.cause}{where}"

    def __str__(self) -> str:
        parts = []
        if self.account:
            parts.append(f"account {self.account!r}")
        if self.exchange:
            parts.append(self.exchange)
        prefix = " ".join(parts)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class RetriableError(ExchangeError):
    """A transient failure: back off and try again."""


class FatalAccountError(ExchangeError):
    """Credentials, permissions or IP were refused: stop every stream of this account."""


class FatalStreamError(ExchangeError):
    """This stream cannot go on (bad parameter, cursor loop, retries exhausted)."""


class KeyRefusedError(FatalStreamError):
    """One key of an account (Bitget's tax key) was refused: the streams that use it stop,
    with one line naming the key; the account's other streams go on."""


class IdentityError(FatalAccountError):
    """The configured keys do not (provably) reach the exchange user whose history the
    archive holds under the account's name: refused before anything of them is written."""
