"""End-to-end harness: the real ``cexledger`` executable against ``cexledger sandbox serve``,
both as subprocesses, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest

from cexledger import _json
from cexledger.demo import write_sandbox_config

CLI = str(Path(sys.executable).parent / "cexledger")
START_TIMEOUT = 60.0


@dataclass
class Sandbox:
    url: str
    proc: subprocess.Popen
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def accounts(self, exchange: str | None = None) -> list[dict]:
        accs = self.http.get("/_sandbox/accounts").json()["accounts"]
        return [a for a in accs if exchange is None or a["exchange"] == exchange]

    def truth(self, exchange: str, account: str, stream: str | None = None) -> dict[str, object]:
        """id -> row decoded exactly (Decimal numbers, int ids), of ``stream`` (default: the
        exchange's first stream, financial records or deals history)."""
        params = {"exchange": exchange, "account": account, **({"stream": stream} if stream else {})}
        body = self.http.get("/_sandbox/truth", params=params).content
        rows = msgspec.json.decode(body, type=dict[str, list[msgspec.Raw]])["rows"]
        result = {}
        for raw in rows:
            row = _json.loads(bytes(raw))
            result[_json.to_id(row["id"])] = row
        return result

    def stats(self) -> dict:
        return self.http.get("/_sandbox/stats").json()

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/stats/reset").raise_for_status()

    def post(self, path: str, payload: dict) -> dict:
        resp = self.http.post(path, json=payload)
        resp.raise_for_status()
        return resp.json()

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sandbox(*args: str) -> Sandbox:
    proc = subprocess.Popen(
        [CLI, "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=deadline - time.monotonic()):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("sandbox listening on "):
            return Sandbox(line.split()[-1].strip(), proc)
    proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    raise RuntimeError(f"sandbox did not start: {''.join(seen)} {stderr}")


@pytest.fixture
def sandbox_factory() -> Iterator:
    started: list[Sandbox] = []

    def factory(*args: str) -> Sandbox:
        sb = start_sandbox(*args)
        started.append(sb)
        return sb

    yield factory
    for sb in started:
        sb.stop()


@dataclass
class Cli:
    """Runs the real executable with a config and a database in a temp dir."""

    tmp: Path
    config: Path
    db: Path
    outputs: list[str] = field(default_factory=list)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")}
        env["HOME"] = str(self.tmp / "home")   # platform dirs never touch the real home
        env["XDG_CONFIG_HOME"] = str(self.tmp / "home" / ".config")
        env["XDG_DATA_HOME"] = str(self.tmp / "home" / ".local" / "share")
        env["COLUMNS"] = "200"
        return env

    def args(self, *args: str) -> list[str]:
        return [CLI, "--config", str(self.config), "--db", self.db_url, *args]

    def run(self, *args: str, timeout: float = 300, check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.args(*args), capture_output=True, text=True, timeout=timeout, env=self.env())
        self.outputs += [proc.stdout, proc.stderr]
        if check and proc.returncode != 0:
            raise AssertionError(f"cexledger {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env())

    def export_jsonl(self, *extra: str) -> list[dict]:
        proc = self.run("export", "--format", "jsonl", *extra, check=True)
        return [_json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


@pytest.fixture
def cli_for(tmp_path: Path):
    """cli_for(sandbox, accounts=None, tax=False, **settings) -> Cli configured for the sandbox's
    accounts; their tax API keys only with ``tax=True`` (a first sync with one reads a year of
    tax records at 1 request/s, minutes: only the tests of that stream need it)."""
    counter = iter(range(1000))

    def make(sandbox: Sandbox, accounts: list[dict] | None = None, tax: bool = False,
             **settings: object) -> Cli:
        """``settings`` (e.g. ``timeout=5``) are added to every account."""
        n = next(counter)
        d = tmp_path / f"cli{n}"
        d.mkdir()
        config = d / "config.toml"
        listed = accounts if accounts is not None else sandbox.accounts()
        accs = [dict({k: v for k, v in a.items() if tax or not k.startswith("tax_")}, **settings)
                for a in listed]
        write_sandbox_config(config, sandbox.url, accs)
        return Cli(tmp=d, config=config, db=d / "archive.db")

    return make


DEFAULT_STREAM = {"bitget": "financial-records", "coinw": "deals-history"}


def by_id(lines: list[dict], exchange: str, account: str, stream: str | None = None) -> dict[str, object]:
    """Export lines of one account's ``stream`` (default: the one ``Sandbox.truth`` defaults
    to) as id -> raw, failing on duplicate ids."""
    stream = stream or DEFAULT_STREAM[exchange]
    result: dict[str, object] = {}
    for line in lines:
        if line["exchange"] == exchange and line["account"] == account and line["stream"] == stream:
            assert line["id"] not in result, f"duplicate id {line['id']} in export"
            result[line["id"]] = line["raw"]
    return result


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    """Poll a condition until it holds (not a sleep-as-synchronisation: it waits for a fact)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def kill_sync_midway(cli: Cli, sandbox: Sandbox, after_requests: int) -> None:
    """Start ``cexledger sync``, SIGKILL it once the sandbox has seen ``after_requests``."""
    proc = cli.popen("sync", "--quiet")
    try:
        wait_for(lambda: sandbox.stats()["requests"] >= after_requests or proc.poll() is not None,
                 what=f"{after_requests} requests")
        assert proc.poll() is None, "sync finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
