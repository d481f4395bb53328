"""The Requester's own transport (``_http.Transport``: httpx's requests over aiohttp's pool)
sends httpx's request byte for byte, keeps connections for the next requests, hands the
answer back undecoded for httpx to decode, and turns every failure into the httpx error the
requester sorts (retried or fatal)."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest

from cexledger.exchanges._http import Transport

BODY = b'{"code":"00000","data":[]}'


class Server:
    """An HTTP/1.1 server on 127.0.0.1 answering each request with ``answer(head)`` (the
    request's bytes up to its blank line); counts connections, keeps what it was sent."""

    def __init__(self, answer=None, hang_up: bool = False) -> None:
        self.answer = answer or (lambda head: _ok(BODY))
        self.hang_up = hang_up             # close the connection after each answer
        self.connections = 0
        self.heads: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                reply = self.answer(head)
                if reply is None:          # hang up without answering
                    break
                writer.write(reply)
                await writer.drain()
                if self.hang_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


def _ok(body: bytes, *headers: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


async def test_requests_are_sent_as_httpx_builds_them_over_kept_connections() -> None:
    server = Server()
    async with server as url, httpx.AsyncClient(transport=Transport()) as http:
        params = [("symbol", "BTC/USDT"), ("cursor", "a b+c"), ("limit", "100")]
        answers = await asyncio.gather(*(http.get(url + "/api/x", params=params, headers={"ACCESS-SIGN": "s="})
                                         for _ in range(4)))
        for _ in range(20):
            answers += await asyncio.gather(*(http.get(url + "/api/x", params=params) for _ in range(4)))
        built = http.build_request("GET", url + "/api/x", params=params)
    assert all(a.status_code == 200 and a.content == BODY for a in answers)
    assert server.connections <= 4            # 84 requests over the first ones' connections
    first = server.heads[0].decode("latin-1").split("\r\n")
    assert first[0] == f"GET {built.url.raw_path.decode()} HTTP/1.1"
    assert "?symbol=BTC%2FUSDT&cursor=a+b%2Bc&limit=100" in first[0]
    sent = {line.split(": ", 1)[0].lower(): line.split(": ", 1)[1] for line in first[1:] if line}
    assert sent["access-sign"] == "s=" and sent["user-agent"] == built.headers["user-agent"]
    assert sent["host"] == built.headers["host"]


async def test_a_compressed_answer_is_decoded_by_httpx() -> None:
    server = Server(lambda head: _ok(gzip.compress(BODY), b"Content-Encoding: gzip"))
    async with server as url, httpx.AsyncClient(transport=Transport()) as http:
        answer = await http.get(url)
    assert answer.content == BODY


@pytest.mark.parametrize(("reply", "error"), [
    (lambda head: None, httpx.ReadError),                                        # hung up
    (lambda head: _ok(BODY)[:-5], httpx.ReadError),                               # body cut short
    (lambda head: b"HTTP/1.1 two hundred\r\n\r\n", httpx.RemoteProtocolError),    # not HTTP
])
async def test_a_broken_answer_is_the_httpx_error_the_requester_retries(reply, error) -> None:
    async with Server(reply, hang_up=True) as url, httpx.AsyncClient(transport=Transport()) as http:
        with pytest.raises(error):
            await http.get(url)


async def test_no_server_is_a_connect_error() -> None:
    async with Server() as url:
        pass                                          # closed: nobody listens on its port now
    async with httpx.AsyncClient(transport=Transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_a_silent_server_is_a_read_timeout() -> None:
    started = asyncio.Event()

    def silent(head: bytes) -> bytes:
        started.set()
        return b""                                   # nothing: the client waits for an answer

    async with Server(silent) as url, httpx.AsyncClient(transport=Transport(), timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url)
    assert started.is_set()


async def test_a_url_aiohttp_cannot_send_is_fatal_not_retried() -> None:
    async with httpx.AsyncClient(transport=Transport()) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/x")


def test_the_tls_context_and_aiohttp_are_ready_before_the_first_request() -> None:
    """Loading the CA bundle and importing aiohttp take 0.1 s each: done when the client is
    made, they cannot delay the first request past the rate limiter's slot (a 429 from the
    exchange's window). A process that sends nothing imports no aiohttp client."""
    import subprocess
    import sys

    from cexledger.exchanges._http import tls_context

    tls_context.cache_clear()
    Transport()
    assert tls_context.cache_info().currsize == 1
    code = ("import sys, cexledger.exchanges._http as h; a = 'aiohttp.client' in sys.modules; h.Transport(); "
            "print(a, 'aiohttp.client' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "True"]
