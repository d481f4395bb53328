"""Control endpoints under ``/_sandbox`` (no auth): the HTTP face of ``SandboxState``.

``stream`` (truth, versions, append, inject-row; optional) names one of an exchange's streams
(``STREAMS``; default the first: ``financial-records`` / ``deals-history``); an unknown one
answers 400.

Unknown exchanges, accounts or rows answer 404, malformed input 400, both as
``{"error": "..."}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Awaitable, Callable

from aiohttp import web

from .._json import dumps, loads
from .faults import Injection
from .state import SandboxState, UnknownError

__all__ = ["routes"]

PREFIX = "/_sandbox"


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dumps(obj), content_type="application/json")


def _rows(key: bytes, rows: list[bytes]) -> web.Response:
    body = b'{"%s":[%s]}' % (key, b",".join(rows))
    return web.Response(body=body, content_type="application/json")


_Route = Callable[[web.Request], Awaitable[web.Response]]


def _safe(handler: _Route) -> _Route:
    """Turn lookup and input errors into 404 / 400 JSON answers."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except UnknownError as error:
            return _json({"error": str(error)}, 404)
        except (ValueError, TypeError, KeyError) as error:
            return _json({"error": f"bad request: {error}"}, 400)

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    data = loads(await request.read() or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("count must be a non-negative integer")
    return value


def routes(state: SandboxState) -> list[web.RouteDef]:
    """All ``/_sandbox`` routes bound to ``state``."""

    async def accounts(request: web.Request) -> web.Response:
        return _json({"accounts": [a.as_json() for a in state.accounts]})

    async def truth(request: web.Request) -> web.Response:
        q = request.query
        return _rows(b"rows", state.truth(q["exchange"], q["account"], q.get("stream"),
                                          q.get("partition")))

    async def versions(request: web.Request) -> web.Response:
        q = request.query
        return _rows(b"versions", state.versions(q["exchange"], q["account"], int(q["id"]),
                                                 q.get("stream")))

    async def append(request: web.Request) -> web.Response:
        body = await _body(request)
        instrument = body.get("instrument")
        if instrument is not None and not isinstance(instrument, str):
            raise ValueError("instrument must be a string")
        ids = state.append(body["exchange"], body["account"], _count(body["count"]), instrument,
                           _text(body.get("stream"), "stream"))
        return _json({"ids": ids})

    async def inject_row(request: web.Request) -> web.Response:
        body = await _body(request)
        raw, partition = body["raw"], body.get("partition")
        if not isinstance(raw, str) or not (partition is None or isinstance(partition, str)):
            raise ValueError("raw (the row's exact text) and partition must be strings")
        return _json({"id": state.inject(body["exchange"], body["account"], raw.encode(), partition,
                                         _text(body.get("stream"), "stream"))})

    async def mutate(request: web.Request) -> web.Response:
        body = await _body(request)
        return _json({"ids": state.mutate(body["exchange"], body["account"], _count(body["count"]))})

    async def stats(request: web.Request) -> web.Response:
        return _json(state.stats.snapshot())

    async def stats_reset(request: web.Request) -> web.Response:
        state.stats.reset()
        return _json(state.stats.snapshot())

    async def keys(request: web.Request) -> web.Response:
        body = await _body(request)
        tax = body.get("tax", False)
        if not isinstance(tax, bool):
            raise ValueError("tax must be true or false")
        return _json(state.new_key(body["exchange"], body["account"], tax).as_json())

    async def settings(request: web.Request) -> web.Response:
        body = await _body(request)
        return _json(state.update_settings({k: _plain(v) for k, v in body.items()}))

    async def inject(request: web.Request) -> web.Response:
        body = await _body(request)
        account = state.account(body["account"])
        if account.exchange != body["exchange"]:
            raise UnknownError(f"unknown {body['exchange']} account {account.name!r}")
        retry_after = body.get("retry_after")
        if retry_after is not None and (isinstance(retry_after, bool)
                                        or not isinstance(retry_after, (int, Decimal))):
            raise ValueError("retry_after must be a number of seconds")
        http_date = body.get("http_date", False)
        if not isinstance(http_date, bool):
            raise ValueError("http_date must be true or false")
        injection = Injection(body["kind"], None if retry_after is None else float(retry_after),
                              http_date)
        count = _count(body.get("count", 1))
        tax = body.get("tax", False)
        if not isinstance(tax, bool) or (tax and account.tax_api_key is None):
            raise ValueError("tax must be true or false (and only for a Bitget account)")
        state.injections.add(account.tax_api_key if tax else account.api_key, injection, count)
        return _json({"queued": count})

    async def requests(request: web.Request) -> web.Response:
        q = request.query
        keys = None
        if "account" in q:
            account = state.account(q["account"])
            if account.exchange != q.get("exchange", account.exchange):
                raise UnknownError(f"unknown {q['exchange']} account {account.name!r}")
            keys = {account.api_key, account.tax_api_key} - {None}
        return _json({"requests": state.stats.log(keys, q.get("path"))})

    return [
        web.get(f"{PREFIX}/accounts", _safe(accounts)),
        web.get(f"{PREFIX}/truth", _safe(truth)),
        web.get(f"{PREFIX}/versions", _safe(versions)),
        web.post(f"{PREFIX}/append", _safe(append)),
        web.post(f"{PREFIX}/mutate", _safe(mutate)),
        web.post(f"{PREFIX}/inject-row", _safe(inject_row)),
        web.get(f"{PREFIX}/stats", _safe(stats)),
        web.post(f"{PREFIX}/stats/reset", _safe(stats_reset)),
        web.post(f"{PREFIX}/settings", _safe(settings)),
        web.post(f"{PREFIX}/inject", _safe(inject)),
        web.get(f"{PREFIX}/requests", _safe(requests)),
        web.post(f"{PREFIX}/keys", _safe(keys)),
    ]


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _plain(value: Any) -> Any:
    """Settings are probabilities and milliseconds, not money: a JSON decimal becomes a float."""
    return float(value) if isinstance(value, Decimal) else value
