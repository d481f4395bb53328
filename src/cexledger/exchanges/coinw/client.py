"""CoinW futures client: ``GET /v1/perpum/orders/deals/history`` by page number, and the
public instrument list.

Requests are signed (:mod:`.auth`), rate limited by the process-wide limiter of
(``coinw``, API key, ``deals-history``), retried and classified by
:class:`~cexledger.exchanges._http.Requester` with the code table below. The query is sent
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
byte for byte) and handed on as bytes; the stream's normalizer decodes them with
``cexledger._json.loads``: JSON numbers such as
``85992.4`` or ``1E-8`` become ``Decimal`` and integer ids above 2^53 stay integers, never
floats. Tolerated shapes [I]: ``data`` null/absent, ``rows`` null/absent/``[]``; ``total``,
``nextId``, ``prevId`` absent; ``total`` as a number or a string (anything else: ``None`` --
it is never trusted for paging anyway).

The instrument list (``GET /v1/perpumPublic/instruments``, unsigned [I]) is read tolerantly:
``data`` may list strings or objects; of an object the first non-empty of ``base``, ``name``,
``instrument``, ``symbol`` is taken, cut at a ``-``/``_``/``/`` separator, and a ``symbol``
such as ``BTCUSDT`` loses its ``USDT`` suffix. Names are upper-cased and deduplicated in order.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Optional

import msgspec

from ..._json import loads, to_decimal
from .._classify import ErrorCodes, Verdict
from .._client import BaseClient
from ..base import Budget, RawPage
from .auth import CoinwAuth, CoinwCredentials
from .normalize import COIN

if TYPE_CHECKING:
    from ...config import Account

__all__ = ["COINW_CODES", "CoinwClient", "CoinwCredentials", "closest_instrument"]

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

#: The rate-limit budget of deals/history (documented requests/s per user and IP).
DEALS_BUDGET = Budget("deals-history", 5.0)

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


class CoinwClient(BaseClient[CoinwCredentials]):
    """CoinW futures transaction details of one account."""

    EXCHANGE = "coinw"
    BUDGET = DEALS_BUDGET
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
    ) -> RawPage:
        """One page of ``instrument``'s transaction details (newest first, as served): each
        row's exact bytes, and ``total`` as claimed."""
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
        return RawPage(rows=[bytes(raw) for raw in data.rows or []], total=_total(data.total))

    async def instruments(self) -> list[str]:
        """Base names of the listed perpetuals (``BTC``, ``1000PEPE``, …), upper-cased."""
        items = await self._requester.get(
            _INSTRUMENTS_PATH, [], limiter=self._public_limiter, auth=None, parse=_parse_list
        )
        names = (_instrument_name(item) for item in items)
        return list(dict.fromkeys(name for name in names if name))


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
