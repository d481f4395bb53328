"""The Requester's own HTTP client asks a pooled connection's socket nothing per request
beyond whether it is readable (no ``getpeername``: see ``_http._Stream``)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from cexledger.exchanges._http import transport

BODY = b'{"code":"00000","data":[]}'


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        if not head:
            break
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        await writer.drain()


async def test_pooled_connections_are_not_asked_their_peer_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    calls = 0
    real = socket.socket.getpeername

    def counting(self: socket.socket) -> object:
        nonlocal calls
        calls += 1
        return real(self)

    monkeypatch.setattr(socket.socket, "getpeername", counting)
    async with server, httpx.AsyncClient(transport=transport()) as http:
        url = f"http://127.0.0.1:{port}/x"
        # several connections in the pool, then many requests over them
        answers = await asyncio.gather(*(http.get(url) for _ in range(4)))
        after_connecting = calls
        for _ in range(20):
            answers += await asyncio.gather(*(http.get(url) for _ in range(4)))
    assert all(a.content == BODY for a in answers)
    assert calls == after_connecting
