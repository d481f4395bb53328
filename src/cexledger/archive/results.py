"""Values the archive returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model import StreamKey

__all__ = ["AccountIdentity", "ArchivedRecord", "Checkpoint", "RederiveResult", "StreamSummary", "WriteResult"]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``write_page`` did to the page's (de-duplicated) records."""

    new: int
    updated: int      # raw bytes changed: previous version kept, entries replaced
    unchanged: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A stream's saved paging state for one slot (e.g. one time window)."""

    key: StreamKey
    slot: str
    state: dict[str, Any]
    updated_ms: int


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """One stream at a glance; ``oldest_ts``/``newest_ts`` are ``None`` without records."""

    key: StreamKey
    records: int
    oldest_ts: int | None
    newest_ts: int | None
    coverage: list[tuple[int, int]]
    last_write_ms: int | None


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """The latest version of one archived record, raw bytes exactly as the exchange sent them."""

    key: StreamKey
    record_id: str
    ts: int
    raw: bytes
    version: int


@dataclass(frozen=True, slots=True)
class RederiveResult:
    """What re-deriving entries from archived raw bytes did (one batch or a whole run).

    ``records`` re-derived, ``changed`` of them got different entries (or flag), ``raw_only``
    the normalizer still does not understand, ``unreadable`` whose identity no longer reads
    (their entries are left as they are); ``last_id`` is the batch's last record id (``None``:
    nothing left)."""

    records: int = 0
    changed: int = 0
    raw_only: int = 0
    unreadable: int = 0
    last_id: str | None = None

    def __add__(self, other: RederiveResult) -> RederiveResult:
        return RederiveResult(
            self.records + other.records, self.changed + other.changed,
            self.raw_only + other.raw_only, self.unreadable + other.unreadable, other.last_id,
        )


@dataclass(frozen=True, slots=True)
class AccountIdentity:
    """Whose history an account name holds: never a key or a secret, only a fingerprint.

    ``user_id`` is the exchange's user id once a response told it (``None`` until then, and
    on exchanges whose responses never say).
    """

    account: str
    exchange: str
    base_url: str
    key_fingerprint: str
    user_id: str | None = None
    created_ms: int | None = None
    updated_ms: int | None = None
