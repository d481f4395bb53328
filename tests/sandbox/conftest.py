"""Sandbox fixtures: real servers on 127.0.0.1, each with a signed test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cexledger.sandbox import SandboxConfig, SandboxServer

from .support import Sandbox


class Running(Sandbox):
    """A started ``SandboxServer`` plus its client; ``state`` is the in-process hook."""

    def __init__(self, server: SandboxServer) -> None:
        super().__init__(server.url)
        self.server = server
        self.state = server.state


def _start(**config: Any) -> Running:
    return Running(SandboxServer(SandboxConfig(**config)).start())


def _stop(sandbox: Running) -> None:
    sandbox.close()
    sandbox.server.stop()


@pytest.fixture(scope="session")
def standard() -> Iterator[Running]:
    """A read-only standard-dialect sandbox, no rate limit: 2 000 rows per account."""
    sandbox = _start(rate_limit=False)
    yield sandbox
    _stop(sandbox)


@pytest.fixture(scope="session")
def variant() -> Iterator[Running]:
    """A read-only variant-dialect sandbox, no rate limit."""
    sandbox = _start(rate_limit=False, dialect="variant")
    yield sandbox
    _stop(sandbox)


@pytest.fixture(params=["standard", "variant"])
def either(request: pytest.FixtureRequest) -> Running:
    """Each read-only sandbox in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Running]]:
    """Start fresh sandboxes with ``SandboxConfig`` overrides; all stopped after the test."""
    started: list[Running] = []

    def make(**config: Any) -> Running:
        sandbox = _start(**config)
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        _stop(sandbox)
