"""Which part of the ledger a read wants: account, exchange, kind and a UTC time range.

Times are half-open, ``since <= ts < until``, so a tax year is ``since 2026-01-01, until
2027-01-01`` and consecutive ranges never share an entry. :func:`to_ms` reads every way a
person or a program gives a time: a date (``2026-01-01``: its midnight, UTC), a date and time
(``2026-01-01T12:30``, ``2026-01-01 12:30:05.250``; no offset means UTC, ``Z`` or ``+02:00``
are honoured), a ``datetime``/``date``, or Unix milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

from ..errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..archive import Archive
from ..model import Kind

__all__ = ["Filters", "check_filters", "to_ms", "kind_of"]

_FORMS = "a date (2026-01-01) or a UTC date and time (2026-01-01T12:30:00)"


def to_ms(value: str | date | datetime | int | None, what: str = "time") -> int | None:
    """Unix milliseconds of ``value`` (see the module docstring); ``None`` stays ``None``.
    Raises ``ConfigError`` naming ``what`` for anything else."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{what}: {value!r} is not a time; give {_FORMS}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"{what}: {value!r} is not a time; give {_FORMS}") from None
    if not isinstance(value, datetime):
        if not isinstance(value, date):
            raise ConfigError(f"{what}: {value!r} is not a time; give {_FORMS}")
        value = datetime.combine(value, time(), timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def kind_of(value: str | Kind | None) -> Kind | None:
    """``value`` as a :class:`Kind` (its name or value, any case); ``ConfigError`` naming the
    kinds that exist otherwise."""
    if value is None or isinstance(value, Kind):
        return value
    try:
        return Kind(str(value).strip().lower())
    except ValueError:
        names = ", ".join(k.value for k in Kind)
        raise ConfigError(f"kind {value!r} does not exist (kinds: {names})") from None


@dataclass(frozen=True, slots=True)
class Filters:
    """A selection of the ledger; ``None`` selects everything on that axis."""

    account: str | None = None
    exchange: str | None = None
    kind: Kind | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    @classmethod
    def of(cls, *, account: str | None = None, exchange: str | None = None,
           kind: str | Kind | None = None, since: str | date | datetime | int | None = None,
           until: str | date | datetime | int | None = None) -> Filters:
        """Filters from what a person gives (times as :func:`to_ms` reads them)."""
        filters = cls(account, exchange, kind_of(kind), to_ms(since, "since"), to_ms(until, "until"))
        if filters.since_ms is not None and filters.until_ms is not None and filters.since_ms >= filters.until_ms:
            raise ConfigError("since must be before until (the range is since <= time < until)")
        return filters

    def archive_args(self) -> dict[str, object]:
        """The keyword arguments of the archive's reads (``Archive.entry_batches``)."""
        return {"account": self.account, "exchange": self.exchange,
                "since_ms": self.since_ms, "until_ms": self.until_ms}


def check_filters(archive: Archive, account: str | None, exchange: str | None = None, *,
                  both: str = "drop --exchange or --account") -> str | None:
    """Refuse an ``account`` the archive does not hold, an ``exchange`` cexledger does not
    support, or the two together when that account holds no history of that exchange (``both``
    says what to do then), naming what exists; returns the exchange in its canonical form."""
    from ..config import exchange_names

    if exchange is not None:
        if exchange.lower() not in exchange_names():
            raise ConfigError(f"unknown exchange {exchange!r} (supported: {', '.join(exchange_names())})")
        exchange = exchange.lower()
    if account is not None:
        names = archive.account_names()
        if account not in names:
            raise ConfigError(
                f"no account {account!r} in the archive (archived: {', '.join(names) or 'none'})"
            )
        if exchange is not None:    # both: they must not contradict each other (0 rows)
            held = sorted({s.key.exchange for s in archive.streams(account)})
            if exchange not in held:
                raise ConfigError(f"account {account!r} holds {', '.join(held)} history, not "
                                  f"{exchange}: {both}")
    return exchange
