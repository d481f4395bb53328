"""Paging rules shared by every stream: when a chain of pages ends, and when it is stuck.

A *chain* is one sequence of pages read in order: a Bitget window followed by cursor, or a
CoinW pass over page numbers. Each chain gets its own :class:`PageChain` (small, single
use, explicit stop rules) and feeds it every cursor it sends and every page it receives.

End of a chain (:meth:`PageChain.is_last`): a page with no rows is the last; so is a page
shorter than the longest page the endpoint has sent before it in this sync — in the same
chain, or in any chain sharing its :class:`PageSize` (the connectors share one per account
and endpoint: every window and category of a Bitget endpoint, every instrument of CoinW's).
A server that silently caps ``limit`` (or ``pageSize``) below what was asked sends short
full pages, and a page alone cannot tell that cap from the end of the list; but a server
that has sent a page of ``n`` rows caps at ``n`` or more, so a page shorter than that can
only be the end. So the first page of the first chain is never the last for being short
alone, and neither is any page at least as long as every page before it. The price is one
request more for each page that is the longest yet and not full (a handful per endpoint
and sync: the running maxima of the pages' lengths), and for a last page that happens to
be exactly full. A server's own end signal (Bitget: no cursor) still ends a chain at once.

No progress (:meth:`PageChain.received`, :meth:`PageChain.sending`): a chain that sends
the same cursor twice is in a loop; a chain whose pages bring no new rows is going
nowhere. A page brings no new rows when it is, id for id in order, a page this chain has
already received, or when every id on it was on one of the chain's last ``RECENT_PAGES``
pages. (So memory stays a few bytes per page, not per row: each page is remembered by a
64-bit fingerprint, only the last pages by their ids.) ``NO_PROGRESS_PAGES`` such pages in
a row are tolerated (rows inserted at the top of a page-numbered list while it is read
shift older rows onto the next page, which may then bring nothing new); one more stops the
chain with :class:`NoProgress` (a ``FatalStreamError``): nothing it read is marked covered.
A page that repeats the previous page exactly is reported to the caller (``received``
returns True): a server that clamps page numbers to its last page does that, and the
caller decides whether that ends the list. Empty pages never count: they end the chain.

Every check is bounded by pages, never by time. :class:`StreamHalt` lets the chains of one
stream (a Bitget category's windows) stop together after one of them made no progress, so
the stream reports one line and does not go on requesting: the first chain to stop raises
:class:`NoProgress`, every other one :class:`StreamHalted` (at its next check or page),
which its work item ends on quietly, leaving its range uncovered.

Paginators (small, single use, one per chain) put a chain's rules in one place for each
way of paging: :class:`CursorPaginator` (follow the server's cursor: Bitget windows) and
:class:`PageNumbers` (pages 1, 2, …: CoinW). A stream feeds each page it receives to its
paginator's ``update`` and asks ``has_next``; the paginator also keeps the checkpoint
(``resume``): the cursor or page after the last page that brought new rows, so a chain
stopped for no progress resumes before the pages it could not trust.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import FatalStreamError

__all__ = [
    "NO_PROGRESS_PAGES", "RECENT_PAGES", "CursorPaginator", "NoProgress", "PageChain", "PageNumbers",
    "PageSize", "StreamHalt", "StreamHalted",
]

NO_PROGRESS_PAGES = 3     # pages in a row without new rows a chain tolerates before it stops
RECENT_PAGES = 2 * (NO_PROGRESS_PAGES + 1)   # pages whose ids a chain remembers one by one


class NoProgress(FatalStreamError):
    """A chain of pages made no progress: a repeated cursor, or pages with no new rows."""


class StreamHalted(Exception):
    """Another chain of the same stream stopped for no progress (and said so): stop quietly."""


@dataclass
class StreamHalt:
    """Shared by the chains of one stream: set once one of them stopped for no progress."""

    reason: str | None = None


@dataclass
class PageSize:
    """The longest page (in rows) one endpoint has sent in a sync, shared by the chains that
    read it: a lower bound on the server's page size."""

    longest: int = 0


@dataclass
class PageChain:
    """The stop rules of one chain of pages (see the module docstring).

    ``uncovered`` names, in the message, what is left uncovered when the chain stops
    (``"window"``, ``"range"``); the message names no page or window, so that chains
    stopped for one cause read alike.
    """

    exchange: str
    account: str
    uncovered: str = "range"
    halt: StreamHalt = field(default_factory=StreamHalt)
    size: PageSize = field(default_factory=PageSize)   # shared by the endpoint's chains
    tolerance: int = NO_PROGRESS_PAGES
    longest: int = 0               # rows of the longest page seen so far in this chain
    stale: int = 0                 # pages in a row that brought no new rows
    _pages: set[int] = field(default_factory=set)      # fingerprints of every page received
    _recent: deque[frozenset[str]] = field(default_factory=lambda: deque(maxlen=RECENT_PAGES))
    _sent: set[str] = field(default_factory=set)
    _previous: list[str] | None = None

    def check(self) -> None:
        """Before a request: raise :class:`StreamHalted` if the stream has been stopped."""
        if self.halt.reason is not None:
            raise StreamHalted(self.halt.reason)

    def sending(self, cursor: str | None) -> None:
        """Record a cursor about to be sent; the same cursor twice is a paging loop."""
        if cursor is None:
            return
        if cursor in self._sent:
            self._stop("the exchange sent a cursor it had sent before (a paging loop)")
        self._sent.add(cursor)

    def received(self, ids: Sequence[str]) -> bool:
        """Record a page's record ids (in page order); True if it repeats the previous page.

        Raises :class:`NoProgress` once more than ``tolerance`` non-empty pages in a row
        brought no new rows.
        """
        ids = list(ids)
        repeat = bool(ids) and ids == self._previous
        self._previous = ids
        if not ids:
            return False
        fingerprint = hash(tuple(ids))
        page = frozenset(ids)
        new = fingerprint not in self._pages and not page.issubset(set().union(*self._recent))
        self._pages.add(fingerprint)
        self._recent.append(page)
        self.stale = 0 if new else self.stale + 1
        if self.stale > self.tolerance:
            self._stop(f"{self.stale} pages in a row brought no new rows")
        return repeat

    def is_last(self, rows: int) -> bool:
        """Whether a page of ``rows`` rows ends the chain: empty, or shorter than the longest
        page the endpoint sent before it (then it is counted as sent)."""
        last = rows == 0 or rows < max(self.longest, self.size.longest)
        self.longest = max(self.longest, rows)
        self.size.longest = max(self.size.longest, rows)
        return last

    def _stop(self, why: str) -> None:
        self.check()
        message = f"no progress: {why}; {self.uncovered} left uncovered"
        self.halt.reason = message
        raise NoProgress(message, exchange=self.exchange, account=self.account)


@dataclass
class CursorPaginator:
    """One chain of pages followed by cursor, from ``cursor`` (``None``: the first page).

    ``update(ids, rows, cursor)`` with each page received: the page ends the chain when the
    server sends no cursor or :meth:`PageChain.is_last` says so; otherwise ``cursor`` is the
    one to send next (checked for loops). ``resume`` is the checkpoint cursor.
    """

    chain: PageChain
    cursor: str | None = None
    has_next: bool = True
    resume: str | None = None

    def __post_init__(self) -> None:
        self.chain.sending(self.cursor)
        self.resume = self.cursor

    def update(self, ids: Sequence[str], rows: int, cursor: str | None) -> None:
        self.chain.received(ids)
        self.has_next = not (self.chain.is_last(rows) or cursor is None)
        if self.has_next:
            self.chain.sending(cursor)
        if not self.chain.stale:       # a page that brought nothing new is not progress
            self.resume = cursor
        self.cursor = cursor


@dataclass
class PageNumbers:
    """One pass over pages ``start, start + 1, …`` of a page-numbered list.

    ``update(page, ids, rows)`` with each page, in page order; returns whether the page
    repeats the previous one row for row (a server clamping page numbers to its last page).
    ``has_next`` is False once a page ends the list (:meth:`PageChain.is_last`, or a
    repeat). ``resume`` is the checkpoint page.
    """

    chain: PageChain
    start: int = 1
    has_next: bool = True
    resume: int = 0

    def __post_init__(self) -> None:
        self.resume = self.start

    def update(self, page: int, ids: Sequence[str], rows: int) -> bool:
        repeated = self.chain.received(ids)      # raises when pages stop bringing new rows
        end = self.chain.is_last(rows)
        self.has_next = not (repeated or end)
        if self.has_next and not self.chain.stale:
            self.resume = page + 1
        return repeated
