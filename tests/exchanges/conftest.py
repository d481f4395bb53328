"""Helpers for connector tests: a scripted ``httpx.MockTransport``, fast clients, and the
normalizer stage a sync runs each page through (:func:`normalized`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from cexledger.exchanges._retry import RetryPolicy
from cexledger.exchanges.bitget import BitgetClient, BitgetCredentials
from cexledger.exchanges.base import RawPage, StreamSpec
from cexledger.exchanges.coinw import CoinwClient, CoinwCredentials
from cexledger.model import Record, StreamKey
from cexledger.sync import AccountReport, SyncContext

FAST_RETRY = RetryPolicy(attempts=4, base=0.0, cap=0.0, timeout=5.0)
SECRET = "s3cr3t-SECRET-value"
PASSPHRASE = "pa55-PHRASE-value"
_keys = itertools.count()

Step = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers requests with the given steps in order (the last one repeats)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            if isinstance(step, httpx.RequestError):
                step._request = request
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def json_response(body: bytes | str, status: int = 200, **headers: str) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=content, headers=headers)


def bitget_ok(rows: list[bytes] | None, cursor: bytes | None = b'"next"') -> httpx.Response:
    """A Bitget success body whose rows are exactly the given bytes."""
    listed = b"null" if rows is None else b"[" + b" ,\n  ".join(rows) + b"]"
    data = b'{"list": ' + listed + (b', "cursor": ' + cursor if cursor is not None else b"") + b"}"
    return json_response(b'{"code":"00000","msg":"success","requestTime":1750135478641,"data":' + data + b"}")


def coinw_ok(rows: list[bytes] | None, total: bytes | None = b"21") -> httpx.Response:
    listed = b"null" if rows is None else b"[" + b",\n ".join(rows) + b"]"
    data = b'{"nextId":0,"prevId":0,"rows":' + listed + (b',"total":' + total if total is not None else b"") + b"}"
    return json_response(b'{"code":0,"data":' + data + b',"msg":""}')


def normalized(page: RawPage | Sequence[bytes], spec: StreamSpec, partition: str,
               account: str = "main") -> tuple[list[Record], int]:
    """A page's records as a sync archives them, and how many rows were kept raw only.

    Runs the rows through the engine's own normalizer stage (``SyncContext.normalize``),
    so a row that cannot be archived raises the ``FatalStreamError`` a sync stops on, and the
    count is the stream's ``StreamStats.unparsed`` for this one page.
    """
    rows = page.rows if isinstance(page, RawPage) else list(page)
    report = AccountReport(account, spec.exchange)
    ctx = SyncContext(None, 0, {account: report})  # type: ignore[arg-type]  # reads no archive
    key = StreamKey(account, spec.exchange, spec.name, partition)
    records = ctx.normalize(key, rows)
    stats = report.streams.get(key)
    return records, stats.unparsed if stats is not None else 0


def unique_key(prefix: str) -> str:
    return f"{prefix}-key-{next(_keys)}"


@pytest.fixture
def make_bitget():
    def make(script: Script, **kwargs: Any) -> BitgetClient:
        creds = BitgetCredentials(
            unique_key("bg"), SECRET, PASSPHRASE, demo=kwargs.pop("demo", False)
        )
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("rate", 10_000.0)
        return BitgetClient("main", creds, base_url="https://bitget.test", http=script.http(), **kwargs)

    return make


@pytest.fixture
def make_coinw():
    def make(script: Script, **kwargs: Any) -> CoinwClient:
        creds = CoinwCredentials(unique_key("cw"), SECRET)
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("rate", 10_000.0)
        return CoinwClient("futures", creds, base_url="https://coinw.test", http=script.http(), **kwargs)

    return make
