"""Headless Chromium for the tests and the benchmark: Debian's ``chromium`` driven by
Playwright (``executable_path``: no ``playwright install``), with the network refused.

Refused three ways: host names resolve nowhere (``--host-resolver-rules``), every connection
goes to a dead proxy, and every request the page makes other than ``file://`` is recorded
and aborted by a route. A page's requests (all of them, ``file://`` included), its uncaught
script errors and its console errors are recorded for the test to assert on.

Without the browser these raise (a test errors, never skips): ``scripts/test.sh`` installs
it, and a test of the page that cannot open the page has not passed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CHROMIUM", "PageLog", "artifacts_dir", "chromium_path", "offline_page", "render_seconds"]

CHROMIUM = "/usr/bin/chromium"
OFFLINE_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-background-networking",
    "--no-first-run",
)


def chromium_path() -> str:
    """The browser, or an error saying how to get it."""
    found = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if found is None:
        raise RuntimeError(f"headless Chromium not found at {CHROMIUM} or on PATH: install Debian's `chromium` "
                    "(scripts/test.sh does)")
    return found


def artifacts_dir() -> Path:
    """Where tests keep what a person looks at: ``$CEXLEDGER_ARTIFACTS``, else ``artifacts/``."""
    where = Path(os.environ.get("CEXLEDGER_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where


@dataclass
class PageLog:
    """What a page did: every request's URL, what was refused, script and console errors."""

    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def offline_page(path: Path, *, width: int = 1280, height: int = 900) -> Iterator[tuple[object, PageLog]]:
    """``path`` loaded from ``file://`` (until its ``load`` event) in a fresh headless
    Chromium with the network refused; yields the Playwright page and its log."""
    from playwright.sync_api import sync_playwright

    log = PageLog()

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            log.refused.append(url)
            request_route.abort("blockedbyclient")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=list(OFFLINE_ARGS))
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
            context.route("**/*", route)
            page = context.new_page()
            page.on("request", lambda request: log.requests.append(request.url))
            page.on("pageerror", lambda error: log.errors.append(f"script error: {error}"))
            page.on("console", lambda message: log.errors.append(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning") else None)
            page.goto(path.resolve().as_uri(), wait_until="load")
            yield page, log
        finally:
            browser.close()


def render_seconds(path: Path, *, width: int = 1280) -> float:
    """Seconds from navigating to ``path`` to its first frame painted after ``load`` (the
    browser's start not counted): the benchmark's "time to render in headless Chromium"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=list(OFFLINE_ARGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            start = time.perf_counter()
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            return time.perf_counter() - start
        finally:
            browser.close()
