"""Bitget UTA v3 client: ``GET /api/v3/account/financial-records``, one page per call.

Requests are signed (:mod:`.auth`), rate limited by the process-wide limiter of
(``bitget``, API key, ``financial-records``), retried and classified by
:class:`~cexledger.exchanges._http.Requester` with the code table below. Query keys are sent
sorted ascending, exactly as signed.

Error codes (docs/exchanges.md, Bitget "Errors"), compared with leading zeros dropped:

=====================================================  ===========================
code                                                   outcome
=====================================================  ===========================
``00000`` (also ``0``)                                 success
40001 40002 40003 40005 40006 40009 40011 40012        ``FatalAccountError``
40014 40018 40084 (classic, not UTA, account)
40008 (timestamp expired)                              retried, signed with the server's
                                                       clock, when the answer carries
                                                       ``requestTime``; else
                                                       ``FatalAccountError`` (clock hint)
429, 25004                                             rate limited, retried
00001, 40017, 40704, 40705, anything unknown           ``FatalStreamError``
=====================================================  ===========================

Parsing: the envelope is decoded with msgspec keeping every row of ``data.list`` as
``msgspec.Raw`` -- the exact bytes of that row, archived byte for byte -- then each row is
handed on as bytes; the stream's normalizer decodes them (``cexledger._json.loads``: numbers as
``Decimal``).
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

from typing import TYPE_CHECKING, Any, Optional

import msgspec

from ..._json import loads, to_id
from .._fields import identify
from ...errors import FatalStreamError
from .._classify import ErrorCodes, Verdict
from .._client import BaseClient
from .._limits import RATE_SAFETY
from ..base import Budget, RawPage
from .auth import BitgetAuth, BitgetCredentials

if TYPE_CHECKING:
    from ...config import Account

__all__ = [
    "BITGET_CATEGORIES", "BITGET_CODES", "BITGET_FUTURES_CATEGORIES", "FINANCIAL_BUDGET", "FUNDING_BUDGET", "TAX_BUDGET", "BitgetClient",
    "BitgetCredentials", "BitgetTaxClient",
]

BITGET_FUTURES_CATEGORIES = ("USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES")
BITGET_CATEGORIES = ("SPOT", "MARGIN", *BITGET_FUTURES_CATEGORIES, "OTHER")

CLASSIC_ACCOUNT = "40084"     # a classic (non-UTA) account: every UTA endpoint refuses it

_ACCOUNT_CODES = (
    "40001", "40002", "40003", "40005", "40006",
    "40009", "40011", "40012", "40014", "40018", CLASSIC_ACCOUNT,
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
    causes={
        CLASSIC_ACCOUNT: "this is a classic Bitget account: cexledger reads the Unified Trading "
                 "Account (UTA) API, so upgrade the account to UTA or use a UTA sub-account",
    },
)

_PATH = "/api/v3/account/financial-records"
_FUNDING_PATH = "/api/v3/account/funding-financial-records"
_TAX_PATH = "/api/v3/tax/records"
_MAX_LIMIT = 100          # financial records [doc], funding wallet [assumed]
_TAX_MAX_LIMIT = 500      # tax records [doc]
#: The rate-limit budget of each endpoint (documented requests/s per UID).
FINANCIAL_BUDGET = Budget("financial-records", 20.0)
FUNDING_BUDGET = Budget("funding-records", 10.0)       # [assumed]: no documented figure found
TAX_BUDGET = Budget("tax-records", 1.0)


class _Data(msgspec.Struct):
    rows: Optional[list[msgspec.Raw]] = msgspec.field(default=None, name="list")
    cursor: msgspec.Raw = msgspec.Raw(b"null")


_data_decoder = msgspec.json.Decoder(Optional[_Data])
_list_decoder = msgspec.json.Decoder(Optional[list[msgspec.Raw]])


def _parse_list(data: msgspec.Raw) -> list[msgspec.Raw]:
    return _list_decoder.decode(data) or []


def _parse(data: msgspec.Raw) -> _Data:
    return _data_decoder.decode(data) or _Data()


class BitgetClient(BaseClient[BitgetCredentials]):
    """Bitget UTA account records of one account: financial records and the funding wallet
    (the account's key), or tax records (a :class:`BitgetTaxClient`, the tax key)."""

    EXCHANGE = "bitget"
    BUDGET = FINANCIAL_BUDGET
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
    ) -> RawPage:
        """One page of ``category``'s records in ``[start_ms, end_ms]``, after ``cursor``: each
        row's exact bytes (normalized later, by the stream's normalizer)."""
        if not category:
            raise ValueError("category is required")
        return await self._cursor_page(_PATH, self._limiter, {"category": category}, start_ms=start_ms,
                                       end_ms=end_ms, cursor=cursor, limit=limit)

    async def funding_records(
        self,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> RawPage:
        """One page of the funding wallet's records (deposits, withdrawals, transfers) in
        ``[start_ms, end_ms]``, after ``cursor``."""
        return await self._cursor_page(_FUNDING_PATH, self.limiter(FUNDING_BUDGET), {},
                                       start_ms=start_ms, end_ms=end_ms, cursor=cursor, limit=limit)

    async def tax_records(
        self,
        biz_type: str,
        *,
        start_ms: int,
        end_ms: int,
        cursor: str | None = None,
        limit: int = _TAX_MAX_LIMIT,
        margin_type: str | None = None,
    ) -> RawPage:
        """One page of ``biz_type``'s tax records in ``[start_ms, end_ms]`` (at most 7 days
        apart), after the record id ``cursor``. The answer's ``data`` is the bare list of rows;
        the next cursor is the last row's id (``None`` on an empty page). Needs the tax key."""
        if not biz_type:
            raise ValueError("biz_type is required")
        if not 1 <= limit <= _TAX_MAX_LIMIT:
            raise ValueError(f"limit must be 1..{_TAX_MAX_LIMIT}, not {limit}")
        params = {"bizType": biz_type, "startTime": str(start_ms), "endTime": str(end_ms),
                  "limit": str(limit)}
        if margin_type:
            params["marginType"] = margin_type
        if cursor:
            params["cursor"] = cursor
        rows = await self._requester.get(
            _TAX_PATH, sorted(params.items()), limiter=self.limiter(TAX_BUDGET), auth=self._auth,
            parse=_parse_list,
        )
        raws = [bytes(raw) for raw in rows]
        return RawPage(rows=raws, cursor=self._last_id(raws[-1]) if raws else None)

    async def _cursor_page(self, path: str, limiter, params: dict[str, str], *, start_ms: int | None,
                           end_ms: int | None, cursor: str | None, limit: int) -> RawPage:
        """One page of an endpoint answering ``data.list`` and ``data.cursor``."""
        if not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be 1..{_MAX_LIMIT}, not {limit}")
        params = {**params, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        if cursor:
            params["cursor"] = cursor
        data = await self._requester.get(
            path, sorted(params.items()), limiter=limiter, auth=self._auth, parse=_parse
        )
        rows = data.rows or []
        next_cursor = self._cursor(data.cursor) if rows else None
        return RawPage(rows=[bytes(raw) for raw in rows], cursor=next_cursor)

    def _last_id(self, raw: bytes) -> str:
        """The id of a row (the tax endpoint's cursor); a row without one cannot be paged past."""
        try:
            return identify(raw, "ts")[0]
        except ValueError as exc:
            raise self._stream_error(f"the last row of the page has no usable id: {exc}", _TAX_PATH) from None

    def _cursor(self, raw: msgspec.Raw) -> str | None:
        value = loads(bytes(raw))
        try:
            return to_id(value)
        except ValueError:
            raise self._stream_error(f"cursor is not an id: {value!r}") from None

    def _stream_error(self, message: str, path: str = _PATH) -> FatalStreamError:
        self.stats.failures += 1
        return FatalStreamError(
            message, exchange="bitget", account=self.account, method="GET", path=path
        )


class BitgetTaxClient(BitgetClient):
    """The client of an account's tax API key (``tax_api_key``/``tax_api_secret``/
    ``tax_passphrase``): the tax records endpoint only, on its own budget."""

    BUDGET = TAX_BUDGET

    def __init__(self, account: str, credentials: BitgetCredentials, *, rate: float | None = None,
                 **kwargs: Any) -> None:
        # the account's rate_limit (made for its main key's 20/s) only ever slows the tax key
        capped = TAX_BUDGET.rate * RATE_SAFETY
        super().__init__(account, credentials, rate=capped if rate is None else min(rate, capped), **kwargs)

    @classmethod
    def credentials(cls, account: Account) -> BitgetCredentials:
        return BitgetCredentials(
            api_key=account.tax_api_key or "",
            api_secret=account.tax_api_secret or "",
            passphrase=account.tax_passphrase or "",
            demo=account.demo,
        )
