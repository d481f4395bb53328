"""CoinW futures client: ``GET /v1/perpum/orders/deals/history`` by page number, and the
public instrument list.

Requests are signed (:mod:`.auth`), rate limited by the limiter of (``coinw``, API key,
``deals-history``) in the client's :class:`~cexledger.exchanges._limits.LimiterPool`,
retried and classified by :class:`~cexledger.exchanges._http.Requester` with the code table
below (the shared plumbing: :class:`~cexledger.exchanges._client.BaseClient`). The query is sent
in the order ``instrument``, ``page``, ``pageSize``, ``originType``, ``positionModel`` and
signed exactly as sent; ``instrument`` is sent upper-cased (the API ignores case).

Error codes (docs/exchanges.md, CoinW "Errors"):

===================================  ===========================================
code                                 outcome
===================================  ===========================================
``0`` (int or ``"0"``)               success
29001                                rate limited, retried (body ``{code,msg}`` or
                                     ``{code,message,retry,success}``, HTTP 200 or 429)
6000, 6001, 6003                     ``FatalAccountError``
402, anything unknown                ``FatalStreamError``
===================================  ===========================================

Parsing: rows of ``data.rows`` are kept as ``msgspec.Raw`` (the exact bytes sent, archived
byte for byte), then decoded with ``cexledger._json.loads``: JSON numbers such as
``85992.4`` or ``1E-8`` become ``Decimal`` and integer ids above 2^53 stay integers, never
floats. Tolerated shapes [I]: ``data`` null/absent, ``rows`` null/absent/``[]``; ``total``,
``nextId``, ``prevId`` absent; ``total`` as a number or a string (anything else: ``None`` --
it is never trusted for paging anyway).

The instrument list (``GET /v1/perpumPublic/instruments``, unsigned [I]) has its own budget,
``public``, shared by every key (its limiter in the pool has no key), at the client's pace.
It is read tolerantly:
``data`` may list strings or objects; of an object the first non-empty of ``base``, ``name``,
``instrument``, ``symbol`` is taken, cut at a ``-``/``_``/``/`` separator, and a ``symbol``
such as ``BTCUSDT`` loses its ``USDT`` suffix. Names are upper-cased and deduplicated in order.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import msgspec

from ..._json import loads, to_decimal
from ...errors import FatalStreamError
from ...model import Record
from .._classify import ErrorCodes, Verdict
from .._client import BaseClient
from .auth import CoinwAuth, CoinwCredentials
from .normalize import COIN, coinw_parse

if TYPE_CHECKING:
    from ...config import Account

__all__ = ["COINW_CODES", "CoinwPage", "CoinwClient", "CoinwCredentials", "closest_instrument"]

COINW_CODES = ErrorCodes(
    success=frozenset({"0"}),
    verdicts={
        "29001": Verdict.RATE_LIMITED,
        "6000": Verdict.ACCOUNT,
        "6001": Verdict.ACCOUNT,
        "6003": Verdict.ACCOUNT,
        "402": Verdict.STREAM,
    },
    hints={
        "6001": "invalid signature: check the API secret",
        "6003": "the API key lacks the permission for futures history",
    },
)

_PATH = "/v1/perpum/orders/deals/history"
_INSTRUMENTS_PATH = "/v1/perpumPublic/instruments"
_PUBLIC_BUDGET = "public"
_INSTRUMENT_KEYS = ("base", "name", "instrument", "symbol")


class _Data(msgspec.Struct):
    rows: Optional[list[msgspec.Raw]] = None
    total: msgspec.Raw = msgspec.Raw(b"null")


_data_decoder = msgspec.json.Decoder(Optional[_Data])
_list_decoder = msgspec.json.Decoder(Optional[list[Any]])


def _parse(data: msgspec.Raw) -> _Data:
    return _data_decoder.decode(data) or _Data()


def _parse_list(data: msgspec.Raw) -> list[Any]:
    return _list_decoder.decode(data) or []


@dataclass
class CoinwPage:
    """One page: normalized records, the number of rows sent, ``total`` as the exchange
    claims it (untrusted; ``None`` if absent), and the page number and size requested."""

    records: list[Record]
    rows: int
    total: int | None
    page: int
    page_size: int


class CoinwClient(BaseClient[CoinwCredentials]):
    """CoinW futures transaction details of one account."""

    EXCHANGE = "coinw"
    BUDGET = "deals-history"
    BUDGET_RATE = 5.0  # documented 5/s per user and IP
    CODES = COINW_CODES
    BASE_URL = "https://api.coinw.com"

    def __init__(self, account: str, credentials: CoinwCredentials, **kwargs: Any) -> None:
        super().__init__(account, credentials, **kwargs)
        self._public_limiter = self.limiters.get(self.EXCHANGE, "", _PUBLIC_BUDGET, self.rate)

    @classmethod
    def credentials(cls, account: Account) -> CoinwCredentials:
        return CoinwCredentials(api_key=account.api_key, api_secret=account.api_secret)

    def _make_auth(self, credentials: CoinwCredentials) -> CoinwAuth:
        return CoinwAuth(credentials)

    async def deals_history(
        self,
        instrument: str,
        *,
        page: int = 1,
        page_size: int = 100,
        origin_type: str | None = None,
        position_model: int | None = None,
    ) -> CoinwPage:
        """One page of ``instrument``'s transaction details (newest first, as served)."""
        if not instrument.strip():
            raise ValueError("instrument is required")
        if page < 1 or page_size < 1:
            raise ValueError(f"page and page_size must be >= 1, not {page}, {page_size}")
        params = [
            ("instrument", instrument.strip().upper()),
            ("page", str(page)),
            ("pageSize", str(page_size)),
        ]
        if origin_type is not None:
            params.append(("originType", origin_type))
        if position_model is not None:
            params.append(("positionModel", str(position_model)))
        data = await self._requester.get(
            _PATH, params, limiter=self._limiter, auth=self._auth, parse=_parse
        )
        rows = data.rows or []
        records = [self._record(instrument, index, raw) for index, raw in enumerate(rows)]
        return CoinwPage(
            records=records,
            rows=len(rows),
            total=_total(data.total),
            page=page,
            page_size=page_size,
        )

    async def instruments(self) -> list[str]:
        """Base names of the listed perpetuals (``BTC``, ``1000PEPE``, …), upper-cased."""
        items = await self._requester.get(
            _INSTRUMENTS_PATH, [], limiter=self._public_limiter, auth=None, parse=_parse_list
        )
        names = (_instrument_name(item) for item in items)
        return list(dict.fromkeys(name for name in names if name))

    def _record(self, instrument: str, index: int, raw: msgspec.Raw) -> Record:
        try:
            record, understood = coinw_parse(self.account, instrument, bytes(raw))
        except ValueError as exc:
            self.stats.failures += 1
            raise FatalStreamError(
                f"row {index} of the page cannot be archived: {exc}",
                exchange="coinw",
                account=self.account,
                method="GET",
                path=_PATH,
            ) from None
        if not understood:
            self.stats.unparsed += 1
        return record


def _total(raw: msgspec.Raw) -> int | None:
    try:
        value = to_decimal(loads(bytes(raw)))
    except ValueError:
        return None
    if value is None or value.adjusted() > 18 or value != value.to_integral_value():
        return None                # no row count has 19 digits; int() of 1E+999999999 never ends
    return int(value)


def _instrument_name(item: Any) -> str | None:
    if isinstance(item, str):
        return _base_name(item, from_symbol=False)
    if isinstance(item, dict):
        for key in _INSTRUMENT_KEYS:
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return _base_name(value, from_symbol=key == "symbol")
    return None


def _base_name(value: str, *, from_symbol: bool) -> str | None:
    name = value.strip().upper()
    for separator in "-_/":
        name = name.partition(separator)[0]
    if from_symbol and name.endswith(COIN) and len(name) > len(COIN):
        name = name[: -len(COIN)]
    return name or None


def closest_instrument(name: str, known: list[str]) -> str | None:
    """The known instrument a mistyped ``name`` most likely means, or ``None``.

    First the instrument list's own naming rules (``BTCUSDT``, ``btc-usdt``, ``BTC_USDT``
    all mean ``BTC``), then the closest spelling (``difflib``)."""
    for from_symbol in (True, False):
        base = _base_name(name, from_symbol=from_symbol)
        if base in known:
            return base
    base = _base_name(name, from_symbol=True) or name.upper()
    matches = difflib.get_close_matches(base, known, n=1)
    return matches[0] if matches else None
