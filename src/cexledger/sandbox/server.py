"""The sandbox HTTP server: app factory, a background-thread server for tests, and ``serve``."""

from __future__ import annotations

import asyncio
import signal
import threading
from contextlib import suppress
from typing import AsyncIterator

from aiohttp import web

from .._heap import freeze_loaded
from . import bitget, coinw, control
from .config import SandboxConfig
from .state import SandboxState

__all__ = ["STATE_KEY", "build_app", "SandboxServer", "serve"]

STATE_KEY = web.AppKey("sandbox_state", SandboxState)


def build_app(config: SandboxConfig | SandboxState) -> web.Application:
    """The aiohttp app speaking both exchanges' APIs plus ``/_sandbox`` control endpoints.

    Pass a config to generate fresh state, or an existing ``SandboxState`` to serve it. The
    state is available as ``app[STATE_KEY]``.
    """
    state = config if isinstance(config, SandboxState) else SandboxState(config)
    app = web.Application()
    app[STATE_KEY] = state
    app.add_routes([*bitget.routes(state), *coinw.routes(state), *control.routes(state)])
    if state.config.append_every > 0 and state.config.append_count > 0:
        app.cleanup_ctx.append(_live_growth)
    return app


async def _live_growth(app: web.Application) -> AsyncIterator[None]:
    """Every ``append_every`` seconds append ``append_count`` rows to every account."""
    state = app[STATE_KEY]

    async def grow() -> None:
        while True:
            await asyncio.sleep(state.config.append_every)
            state.append_all(state.config.append_count)

    task = asyncio.create_task(grow())
    yield
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def _start(state: SandboxState) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(build_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, state.config.host, state.config.port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


class SandboxServer:
    """Runs the sandbox in a background thread with its own event loop.

    ``with SandboxServer(config) as srv: srv.url; srv.state``. The state is generated in the
    constructor and may be used (thread-safely) from the caller's thread while serving.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state = SandboxState(self.config)
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Start serving; returns once the port is bound (or raises what prevented it)."""
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        self._thread = threading.Thread(target=self._run, name="cexledger-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to finish."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                runner, self.port = loop.run_until_complete(_start(self.state))
                self._stop = asyncio.Event()
            except BaseException as error:  # reported to start()
                self._error = error
                return
            finally:
                self._loop = loop
                self._ready.set()
            loop.run_until_complete(self._stop.wait())
            loop.run_until_complete(runner.cleanup())
        finally:
            loop.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve(config: SandboxConfig) -> None:
    """Serve until cancelled, SIGTERM or SIGINT; print one ``sandbox listening on`` line."""
    runner, port = await _start(SandboxState(config))
    freeze_loaded()   # the generated rows: out of every later collection (see _heap)
    print(f"sandbox listening on http://{config.host}:{port}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
            pass
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
