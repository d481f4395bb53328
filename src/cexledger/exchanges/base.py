"""The connector contract: what the engine knows about an exchange, and nothing more.

An exchange is a :class:`Connector`: its name, its :class:`StreamSpec` s (one per endpoint
archived: retention, time windows, the rate-limit budget it draws on, its normalizer), a
factory for its clients and a planner that turns one configured account into work items.
The engine (``sync.py``) and everything after it (status, reparse, exports) see exchanges
only through this module; exchanges never import the engine. They see it through
:class:`PlanContext`, the sink a work item writes to.

Stages, each in its own place::

    client (sign, rate-limit, retry)  ─► RawPage (row bytes, cursor)      exchanges/<x>/client.py
    Normalizer (pure, versioned)      ─► Record (raw + entries)           exchanges/<x>/normalize.py
    paginator (stop rule, loop guard) ─► which page next, or the end      exchanges/_paging.py
    work item (which pages to fetch)  ─► PlanContext.write (one txn/page) exchanges/_windows.py, <x>/streams.py

Adding an endpoint: a client method returning :class:`RawPage`, a normalizer, a
:class:`StreamSpec`, and its planning (usually :func:`exchanges._windows.plan_stream`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._clock import DAY_MS
from ..model import LedgerEntry, Record, StreamKey

if TYPE_CHECKING:
    from ..archive import Checkpoint, StreamSummary, WriteResult
    from ..config import Account

__all__ = ["Budget", "Connector", "Normalizer", "PlanContext", "RawPage", "StreamSpec", "Work", "DAY_MS"]

ParseFn = Callable[[str, str, bytes], tuple[Record, bool]]


@dataclass(frozen=True)
class Normalizer:
    """A pure function from one row's exact bytes to its record, and its version.

    ``parse(account, partition, raw) -> (record, understood)``; ``understood`` is False for
    a row archived raw without entries. Raises ``ValueError`` for a row that cannot be
    archived at all (no id, no time). ``version`` grows whenever the entries it builds
    change; archived streams built by an older version are re-derived (``reparse``).
    """

    version: int
    parse: ParseFn

    def page(self, account: str, partition: str, rows: Sequence[bytes]) -> tuple[list[Record], int]:
        """The records of one page's rows, and how many of them were not understood (kept
        raw only). Raises ``ValueError`` naming the row's position for a row that cannot be
        archived at all."""
        records, unparsed = [], 0
        parse = self.parse
        for index, raw in enumerate(rows):
            try:
                record, understood = parse(account, partition, raw)
            except ValueError as exc:
                raise ValueError(f"row {index} of the page cannot be archived: {exc}") from None
            unparsed += not understood
            records.append(record)
        return records, unparsed


@dataclass(eq=False)
class Budget:
    """A rate-limit budget of an exchange: the documented requests per second per key (or
    UID) that the endpoints drawing on it share. The one definition of each limit (the
    config check, the clients' default pace and the benchmarks read it)."""

    name: str
    rate: float


@dataclass(frozen=True)
class StreamSpec:
    """One endpoint archived as streams, one per partition (category, instrument).

    ``retention_ms``: how far back the exchange serves it. ``window_ms``: the longest time
    range one request may span (``None``: the endpoint has no time parameters).
    ``budget``: the rate-limit budget its requests draw on. ``title``: its name for people.
    ``requires``: what an account needs configured for this stream (``None``: nothing more
    than the account's key), said by ``status`` when it is missing.
    ``shadowed_by``: the stream of the same exchange that archives the same movements per
    partition and is the authority where it is covered (Bitget's tax records: financial
    records). The ledger (entry exports) counts each movement once by it: see
    :func:`cexledger.archive.queries.ledger_excluded`. Raw records are never affected.
    """

    exchange: str
    name: str
    title: str
    retention_ms: int
    normalizer: Normalizer
    budget: Budget
    window_ms: int | None = None
    requires: str | None = None
    shadowed_by: str | None = None

    @property
    def retention_days(self) -> int:
        return self.retention_ms // DAY_MS


@dataclass
class RawPage:
    """One page as the exchange sent it: each row's exact bytes, the cursor of the next page
    (``None``: the server says paging ended) and ``total`` as claimed (untrusted)."""

    rows: list[bytes]
    cursor: str | None = None
    total: int | None = None


class PlanContext(Protocol):
    """The engine as work items see it: the archive (coverage, checkpoints, meta), the sink
    (``write``: records, checkpoint and coverage in one transaction), the normalizer stage
    and the counters the planners size their concurrency from."""

    now_ms: int
    recheck_open: bool

    def normalize(self, key: StreamKey, rows: Sequence[bytes]) -> list[Record]: ...

    async def write(self, key: StreamKey, records: Sequence[Record], *, slot: str | None = None,
                    state: dict | None = None, done: bool = False,
                    cover: tuple[int, int] | None = None) -> WriteResult: ...

    async def coverage(self, key: StreamKey) -> list[tuple[int, int]]: ...

    async def checkpoints(self, account: str) -> list[Checkpoint]: ...

    async def streams(self, account: str) -> list[StreamSummary]: ...

    async def mutable_ids(self, key: StreamKey) -> dict[str, int]: ...

    async def entries(self, key: StreamKey, since_ms: int, until_ms: int) -> list[LedgerEntry]: ...

    async def get_meta(self, key: StreamKey, name: str) -> str | None: ...

    async def set_meta(self, key: StreamKey, name: str, value: str) -> None: ...

    def count_page(self, key: StreamKey) -> None: ...

    def running(self, lane: tuple[str, str]) -> int: ...

    def reserve(self, lane: tuple[str, str], extra: int) -> None: ...

    def estimate(self, lane: tuple[str, str], token: int, pages: float | None) -> None: ...

    def remaining(self, lane: tuple[str, str]) -> float: ...

    def note(self, account: str, text: str) -> None: ...

    def fail(self, account: str, cause: str, key: StreamKey | None = None) -> None: ...


class Work(Protocol):
    """A unit of work: fetch some pages of one stream, write each, maybe hand on more work."""

    key: StreamKey
    unit: str                  # what a failure count of this kind of work is counted in

    @property
    def label(self) -> str: ...

    @property
    def rate(self) -> float:
        """Requests per second its budget allows (the pace of its work left)."""
        ...

    @property
    def budget(self) -> str:
        """The name of the rate-limit budget it draws on: its lane, with its account, for
        the engine's concurrency counts."""
        ...

    async def run(self, ctx: PlanContext) -> Sequence[Work]: ...


class Connector(Protocol):
    """One exchange, as the engine sees it.

    ``streams``: every endpoint it archives, by stream name. ``fields``: the config keys an
    account of this exchange may set beyond the common ones; ``secrets`` the credentials it
    needs, ``optional_secrets`` credentials configured all together or not at all. ``open(account, stats,
    limiters)`` returns the account's clients (an object with ``aclose()``), handed to
    ``plan``, which returns the work items of one sync of the account.
    ``unconfigured(account)``: the streams the account cannot sync as configured, each with
    one line saying why and what to do (for ``status``).
    """

    name: str
    default_base_url: str
    streams: Mapping[str, StreamSpec]
    fields: frozenset[str]
    secrets: tuple[str, ...]
    optional_secrets: tuple[str, ...]

    def open(self, account: Account, stats: Any, limiters: Any = None, http: Any = None) -> Any: ...

    def plan(self, account: Account, clients: Any, ctx: PlanContext) -> Awaitable[list[Work]]: ...

    def unconfigured(self, account: Account) -> list[tuple[StreamSpec, str]]: ...
