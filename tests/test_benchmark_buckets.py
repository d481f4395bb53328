"""Figure 12's profile buckets (``benchmarks/_workers.py``) sort cProfile's names of built-ins
as Python 3.11 writes them: the event loop's epoll wait is idle, httpcore's readability poll
of a pooled connection (an injected httpx client's) is HTTP, socket sends are sockets."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _workers import BUCKETS, profile_buckets  # noqa: E402


def stat(seconds: float) -> tuple:
    return (1, 1, seconds, seconds, {})


def test_builtins_named_as_python_311_names_them_land_in_their_buckets() -> None:
    stats = SimpleNamespace(stats={
        ("~", 0, "<method 'poll' of 'select.epoll' objects>"): stat(4.0),
        ("~", 0, "<method 'poll' of 'select.poll' objects>"): stat(3.0),
        ("~", 0, "<method 'send' of '_socket.socket' objects>"): stat(2.0),
        ("~", 0, "<method 'register' of 'select.epoll' objects>"): stat(0.5),
        ("/x/src/cexledger/exchanges/bitget/normalize.py", 160, "bitget_record"): stat(1.0),
    })
    got = profile_buckets(stats)                       # type: ignore[arg-type]
    idle, http, sockets = BUCKETS[0][0], "HTTP (httpx, aiohttp, signing, limiter)", "asyncio, selectors, sockets"
    assert got["seconds"][idle] == 4.0
    assert got["seconds"][http] == 3.0
    assert got["seconds"][sockets] == 2.5
    assert "other" not in got["seconds"]
    assert got["busy_s"] == 6.5
