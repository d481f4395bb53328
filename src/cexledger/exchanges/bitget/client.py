"""Bitget UTA v3 client: ``GET /api/v3/account/financial-records``, one page per call.

Requests are signed (:mod:`.auth`), rate limited by the limiter of (``bitget``, API key,
``financial-records``) in the client's :class:`~cexledger.exchanges._limits.LimiterPool`,
retried and classified by :class:`~cexledger.exchanges._http.Requester` with the code table
below (the shared plumbing: :class:`~cexledger.exchanges._client.BaseClient`). Query keys are sent
sorted ascending, exactly as signed.

Error codes (docs/exchanges.md, Bitget "Errors"), compared with leading zeros dropped:

=====================================================  ===========================
code                                                   outcome
=====================================================  ===========================
``00000`` (also ``0``)                                 success
40001 40002 40003 40005 40006 40009 40011 40012        ``FatalAccountError``
40014 40018
40008 (timestamp expired)                              retried, signed with the server's
                                                       clock, when the answer carries
                                                       ``requestTime``; else
                                                       ``FatalAccountError`` (clock hint)
429, 25004                                             rate limited, retried
00001, 40017, 40704, 40705, anything unknown           ``FatalStreamError``
=====================================================  ===========================

Parsing: the envelope is decoded with msgspec keeping every row of ``data.list`` as
``msgspec.Raw`` -- the exact bytes of that row, archived byte for byte -- then each row is
decoded with ``cexledger._json.loads`` (numbers as ``Decimal``) and normalized.
Tolerated shapes [I]: ``data`` null or absent, ``data.list`` null or absent, ``cursor`` null,
absent, ``""``, a string or a JSON number (kept as its digits). The server says paging
ended (``cursor`` is ``None``) when the list is null/empty or the cursor is
null/absent/empty. Cursors are opaque (not necessarily row ids). Whether a chain of pages
ends earlier or is stuck in a loop is decided per chain, by ``exchanges._paging``.

Server clock: requests are signed with this machine's time plus the offset of Bitget's clock,
learned from every answer's ``requestTime`` (one :class:`ServerClock` per client), so a
machine whose clock is off by more than Bitget's 30-second window still syncs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import msgspec

from ..._json import loads, to_id
from ...errors import FatalStreamError
from ...model import Record
from .._classify import ErrorCodes, Verdict
from .._client import BaseClient
from .auth import BitgetAuth, BitgetCredentials
from .normalize import bitget_parse

if TYPE_CHECKING:
    from ...config import Account

__all__ = ["BITGET_CATEGORIES", "BITGET_CODES", "BitgetPage", "BitgetClient", "BitgetCredentials"]

BITGET_CATEGORIES = ("SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER")

_ACCOUNT_CODES = (
    "40001", "40002", "40003", "40005", "40006",
    "40009", "40011", "40012", "40014", "40018",
)  # fmt: skip

BITGET_CODES = ErrorCodes(
    success=frozenset({"00000"}),
    verdicts={
        **{code: Verdict.ACCOUNT for code in _ACCOUNT_CODES},
        "40008": Verdict.CLOCK,
        "429": Verdict.RATE_LIMITED,
        "25004": Verdict.RATE_LIMITED,
        "00001": Verdict.STREAM,
        "40017": Verdict.STREAM,
        "40704": Verdict.STREAM,
        "40705": Verdict.STREAM,
    },
    hints={
        "40008": "request timestamp expired: check that this machine's clock is synchronised",
        "40014": "the API key lacks the read permission for UTA account records",
        "40018": "this IP address is not on the API key's allow list",
    },
)

_PATH = "/api/v3/account/financial-records"
_MAX_LIMIT = 100


class _Data(msgspec.Struct):
    rows: Optional[list[msgspec.Raw]] = msgspec.field(default=None, name="list")
    cursor: msgspec.Raw = msgspec.Raw(b"null")


_data_decoder = msgspec.json.Decoder(Optional[_Data])


def _parse(data: msgspec.Raw) -> _Data:
    return _data_decoder.decode(data) or _Data()


@dataclass
class BitgetPage:
    """One page: normalized records, the cursor of the next page (``None``: paging ended)
    and the number of rows the exchange sent."""

    records: list[Record]
    cursor: str | None
    rows: int


class BitgetClient(BaseClient[BitgetCredentials]):
    """Bitget financial records of one account."""

    EXCHANGE = "bitget"
    BUDGET = "financial-records"
    BUDGET_RATE = 20.0  # documented 20/s per UID
    CODES = BITGET_CODES
    BASE_URL = "https://api.bitget.com"
    SERVER_CLOCK = True

    @classmethod
    def credentials(cls, account: Account) -> BitgetCredentials:
        return BitgetCredentials(
            api_key=account.api_key,
            api_secret=account.api_secret,
            passphrase=account.passphrase or "",
            demo=account.demo,
        )

    def _make_auth(self, credentials: BitgetCredentials) -> BitgetAuth:
        return BitgetAuth(credentials, self.server_clock)

    async def financial_records(
        self,
        category: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> BitgetPage:
        """One page of ``category``'s records in ``[start_ms, end_ms]``, after ``cursor``."""
        if not category:
            raise ValueError("category is required")
        if not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be 1..{_MAX_LIMIT}, not {limit}")
        params = {"category": category, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        if cursor:
            params["cursor"] = cursor
        data = await self._requester.get(
            _PATH, sorted(params.items()), limiter=self._limiter, auth=self._auth, parse=_parse
        )
        rows = data.rows or []
        records = [self._record(category, index, raw) for index, raw in enumerate(rows)]
        next_cursor = self._cursor(data.cursor) if rows else None
        return BitgetPage(records=records, cursor=next_cursor, rows=len(rows))

    def _record(self, category: str, index: int, raw: msgspec.Raw) -> Record:
        try:
            record, understood = bitget_parse(self.account, category, bytes(raw))
        except ValueError as exc:
            raise self._stream_error(f"row {index} of the page cannot be archived: {exc}") from None
        if not understood:
            self.stats.unparsed += 1
        return record

    def _cursor(self, raw: msgspec.Raw) -> str | None:
        value = loads(bytes(raw))
        try:
            return to_id(value)
        except ValueError:
            raise self._stream_error(f"cursor is not an id: {value!r}") from None

    def _stream_error(self, message: str) -> FatalStreamError:
        self.stats.failures += 1
        return FatalStreamError(
            message, exchange="bitget", account=self.account, method="GET", path=_PATH
        )
