"""The product's sandbox exchange and its CLI, run as subprocesses for the benchmark.

``Sandbox`` starts ``cexledger sandbox serve --port 0 …`` and reads the ``sandbox listening
on URL`` line; its control endpoints give accounts, ground truth and request statistics.
``run_cli`` runs one ``cexledger`` command with a generated config and a temporary SQLite
archive, measuring wall time and the child's own resource usage (``os.wait4``: peak RSS,
CPU). ``StatsPoller`` samples ``GET /_sandbox/stats`` while a sync runs, which shows when
the first request arrived, the request rate and the tail, without touching the product.
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import httpx
import msgspec

from cexledger.demo import write_sandbox_config

START_TIMEOUT = 300.0
_RUNS = itertools.count(1)  # distinct output files for runs that overlap (--smoke)
_EXE = Path(sys.executable).parent / "cexledger"


def cli() -> list[str]:
    """The ``cexledger`` executable of this interpreter's environment."""
    if _EXE.exists():
        return [str(_EXE)]
    return [sys.executable, "-m", "cexledger.cli"]


class _Row(msgspec.Struct):
    id: Union[str, int]
    category: Union[str, None] = None
    instrument: Union[str, None] = None
    ts: Union[str, int, None] = None


class _Truth(msgspec.Struct):
    rows: list[_Row]


class Sandbox:
    """``cexledger sandbox serve`` in a subprocess; use as a context manager."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*cli(), "sandbox", "serve", "--host", "127.0.0.1", "--port", "0", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.url = self._wait_for_url()
        self.startup_s = time.perf_counter() - self.started
        self.http = httpx.Client(base_url=self.url, timeout=120)

    def _wait_for_url(self) -> str:
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        seen = []
        while time.monotonic() < deadline:
            if not sel.select(timeout=deadline - time.monotonic()):
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("sandbox listening on "):
                return line.split()[-1].strip()
        self.proc.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        raise RuntimeError(f"sandbox {' '.join(self.args)} did not start: {''.join(seen)} {err}")

    def accounts(self, exchange: str) -> list[dict[str, Any]]:
        accounts = self.http.get("/_sandbox/accounts").json()["accounts"]
        return [a for a in accounts if a["exchange"] == exchange]

    def truth(self, exchange: str, account: str, stream: str | None = None,
              partition: str | None = None) -> list[_Row]:
        """The rows a perfect archive of ``stream`` (default: the exchange's first) holds now
        (id, ts, and Bitget's category), of one ``partition`` (Bitget category) if given."""
        params = {"exchange": exchange, "account": account}
        if stream is not None:
            params["stream"] = stream
        if partition is not None:
            params["partition"] = partition
        body = self.http.get("/_sandbox/truth", params=params).content
        return msgspec.json.decode(body, type=_Truth).rows

    def truth_ids(self, exchange: str, account: str, stream: str | None = None) -> set[str]:
        return {str(r.id) for r in self.truth(exchange, account, stream)}

    def stats(self) -> dict[str, Any]:
        return self.http.get("/_sandbox/stats").json()

    def path_stats(self, path: str) -> dict[str, int]:
        """Requests to one endpoint ``path`` since the last reset, how many of them were
        answered with a rate-limit refusal (HTTP 429), and when the first arrived and the last
        was answered (the server's monotonic clock, seconds; None without requests), from the
        sandbox's request log."""
        log = self.http.get("/_sandbox/requests", params={"path": path}).json()["requests"]
        return {"requests": len(log), "rate_limited": sum(1 for e in log if e["status"] == "429"),
                "first_arrived": min((float(e["arrived"]) for e in log), default=None),
                "last_answered": max((float(e["answered"]) for e in log), default=None)}

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/stats/reset").raise_for_status()

    def settings(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post("/_sandbox/settings", json=changes)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_config(path: Path, sandbox: Sandbox, exchange: str, *, tax: bool = False, **settings: Any) -> Path:
    """A cexledger config for the sandbox's accounts of ``exchange``, with extra settings;
    their tax API keys only with ``tax``."""
    accounts = [{**{k: v for k, v in a.items() if tax or not k.startswith("tax_")}, **settings}
                for a in sandbox.accounts(exchange)]
    write_sandbox_config(path, sandbox.url, accounts)
    return path


@dataclass
class ProcResult:
    """One finished CLI run: wall time and the child's own rusage."""

    argv: list[str]
    returncode: int
    wall_s: float
    maxrss_mb: float
    user_s: float
    sys_s: float
    stdout: str
    stderr: str

    def check(self) -> ProcResult:
        if self.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.argv[-4:])} exited {self.returncode}:\n{self.stdout[-2000:]}\n{self.stderr[-2000:]}"
            )
        return self


# Runs one command and reports its rusage. Started with -I -S (a ~10 MB interpreter) so that
# the measured child forks from a small process: Linux carries the RSS high-water mark of the
# memory a process had *before* exec into its ``ru_maxrss``, and a child forked (or vforked,
# as ``subprocess`` does) straight from this big benchmark process would report this
# process's peak instead of its own.
_SPAWN = r"""
import json, os, sys, time
out, err, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        fo = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fe = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fi = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fi, 0); os.dup2(fo, 1); os.dup2(fe, 2)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall": wall, "maxrss_kb": ru.ru_maxrss,
                  "user": ru.ru_utime, "sys": ru.ru_stime}))
"""


def run_cli(args: list[str], workdir: Path, *, timeout: float = 1800.0,
            rate_scale: float | None = None) -> ProcResult:
    """Run ``cexledger ARGS``; wall time and the process's own rusage (``os.wait4``).

    ``rate_scale`` runs it through ``_scaled_cli.py``: the exchanges' documented rate limits
    multiplied by it (for runs against a sandbox with its limits scaled or off)."""
    argv = [*cli(), *args]
    if rate_scale is not None:
        argv = [sys.executable, str(Path(__file__).with_name("_scaled_cli.py")), str(rate_scale), *args]
    if not os.path.isabs(argv[0]):
        argv[0] = str(Path(argv[0]).resolve())
    if argv[0].endswith("cexledger"):  # a console script: exec its interpreter explicitly
        argv = [sys.executable, *argv]
    return run_argv(argv, workdir, timeout=timeout, what=" ".join(args))


def run_argv(argv: list[str], workdir: Path, *, timeout: float = 1800.0, what: str = "") -> ProcResult:
    """Run ``argv``; wall time and the process's own rusage (``os.wait4``)."""
    tag = f"cli-{next(_RUNS)}"
    out_path, err_path = workdir / f"{tag}.stdout", workdir / f"{tag}.stderr"
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    spawner = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _SPAWN, str(out_path), str(err_path), *argv],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    try:
        stdout, _ = spawner.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(spawner.pid, signal.SIGKILL)  # the spawner's own session: it and its child
        spawner.communicate()
        raise RuntimeError(f"{what or ' '.join(argv)} did not finish in {timeout} s") from None
    report = json.loads(stdout)
    return ProcResult(
        argv=argv,
        returncode=report["code"],
        wall_s=report["wall"],
        maxrss_mb=report["maxrss_kb"] / 1024,  # Linux: kilobytes
        user_s=report["user"],
        sys_s=report["sys"],
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def sync(config: Path, db: Path, workdir: Path, *, timeout: float = 1800.0,
         rate_scale: float | None = None) -> ProcResult:
    return run_cli(["--config", str(config), "--db", f"sqlite:///{db}", "sync", "--quiet"], workdir,
                   timeout=timeout, rate_scale=rate_scale)


@dataclass
class StatsPoller:
    """Samples the sandbox's request counters every ``interval`` seconds in a thread: all
    requests, or only those to the endpoint ``path`` (then ``rate_limited`` counts all)."""

    sandbox: Sandbox
    interval: float = 0.1
    path: str | None = None
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, requests, rate_limited)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._client = httpx.Client(base_url=self.sandbox.url, timeout=30)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StatsPoller:
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                s = self._client.get("/_sandbox/stats").json()
                n = s["requests"] if self.path is None else s["by_path"].get(self.path, 0)
                self.samples.append((time.perf_counter() - self.t0, n, s["rate_limited"]))
            except httpx.HTTPError:
                pass
            self._stop.wait(self.interval)

    def timeline(self, wall_s: float) -> dict[str, float | None]:
        """When requests started and stopped arriving, and the rate between (sampling ±interval)."""
        active = [(t, n) for t, n, _ in self.samples if n > 0]
        if not active:
            return {"per_second": [], "rate_limited_at_s": [], "first_request_s": None, "last_request_s": None,
                    "active_s": None, "active_req_per_s": None, "tail_s": None}
        total = active[-1][1]
        first = active[0][0]
        last = next(t for t, n in active if n == total)
        span = max(last - first, 1e-9)
        limited_at, previous = [], 0
        for t, _, limited in self.samples:
            if limited > previous:
                limited_at.append(round(t, 1))
                previous = limited
        per_second = []  # requests arriving in each whole second since the first one
        for k in range(1, int(last - first) + 1):
            per_second.append(_count_at(self.samples, first + k) - _count_at(self.samples, first + k - 1))
        return {
            "per_second": per_second,
            "rate_limited_at_s": limited_at[:20],
            "first_request_s": round(first, 2),
            "last_request_s": round(last, 2),
            "active_s": round(span, 2),
            "active_req_per_s": round(total / span, 2),
            "tail_s": round(wall_s - last, 2),
        }


def _count_at(samples: list[tuple[float, int, int]], t: float) -> int:
    """Requests counted by time ``t`` (the last sample at or before it)."""
    count = 0
    for ts, n, _ in samples:
        if ts > t:
            break
        count = n
    return count


def archive_ids(db: Path, streams: tuple[str, ...] = ("financial-records", "deals-history")) -> list[str]:
    """Record ids of ``streams`` in a SQLite archive (read-only, straight from the file): by
    default the streams the sandbox's default truth holds (not the funding wallet's)."""
    marks = ", ".join("?" * len(streams))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute(
            f"SELECT r.record_id FROM records r JOIN streams s ON s.id = r.stream_id WHERE s.stream IN ({marks})",
            streams)]


def archive_counts(db: Path) -> tuple[int, int]:
    """(records, streams holding records) of a SQLite archive."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        records = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        streams = conn.execute("SELECT count(DISTINCT stream_id) FROM records").fetchone()[0]
    return records, streams


def archive_streams(db: Path) -> dict[str, int]:
    """Per stream name, how many of its partitions hold records."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute(
            "SELECT s.stream, count(DISTINCT s.id) FROM streams s JOIN records r ON r.stream_id = s.id"
            " GROUP BY s.stream").fetchall())
