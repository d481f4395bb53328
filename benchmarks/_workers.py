"""Figures 11 and 12: real ``cexledger worker`` processes on a real PostgreSQL archive
(``_postgres.py``) against the real sandbox over HTTP on 127.0.0.1 (issue 12).

* ``resync``: many accounts backfilled, a few rows added to each in the sandbox
  (``POST /_sandbox/append``), then one incremental re-sync of them all with 1 and then with
  2 worker processes (rows added again in between): wall time ÷ the ideal, which is the
  requests made ÷ the sum of the accounts' rate limits (every account in parallel, each at
  its documented budgets: a Bitget account's financial records and funding wallet, a CoinW
  account's deals).
* ``backfill``: Bitget accounts backfilled by 2 workers at 300 ms latency: financial-record
  rows/s ÷ (accounts × the per-account ceiling, 20 req/s × 100 rows); CPU of the workers,
  the sandbox and PostgreSQL beside the wall time; then the same backfill once more with one
  worker under cProfile (``profile_worker``), its time sorted into parse / normalize /
  store / HTTP / procrastinate / the rest.

Wall time is the server's: from the first job's ``deferred`` event to the last job's
``succeeded`` event in ``procrastinate_events``. Every run checks that each account's
archive holds exactly the sandbox's ids.
"""

from __future__ import annotations

import math
import os
import pstats
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
from _postgres import Postgres, proc_cpu_s, proc_cpu_split, server_written_bytes, stored_bytes, wal_position
from _sandbox import Sandbox, cli, write_config

from cexledger.exchanges.bitget.client import FINANCIAL_BUDGET, FUNDING_BUDGET
from cexledger.exchanges.coinw.client import DEALS_BUDGET
from cexledger.exchanges.bitget.streams import FINANCIAL, FUNDING
from cexledger.exchanges.coinw.streams import DEALS
from cexledger.worker.app import SYNC_TASK

__all__ = ["LIMIT_REQ_PER_S", "backfill", "profile_buckets", "resync"]

#: Requests/s an account may make, all its budgets together (what the ideal divides by).
LIMIT_REQ_PER_S = {"bitget": FINANCIAL_BUDGET.rate + FUNDING_BUDGET.rate, "coinw": DEALS_BUDGET.rate}
#: The streams whose rows the sandbox's default truth holds, and the funding wallet.
TRUTH_STREAMS = {"bitget": (FINANCIAL.name, FUNDING.name), "coinw": (DEALS.name,)}
ROWS_PER_PAGE = 100
JOB_WAIT_S = 900.0
POLL_S = 0.2


class Worker:
    """One ``cexledger worker`` process (optionally under cProfile); ``stop`` gives its rusage."""

    def __init__(self, config: Path, url: str, concurrency: int, log: Path, profile: Path | None = None) -> None:
        exe = cli()
        argv = [*exe, "--config", str(config), "--db", url, "worker", "--concurrency", str(concurrency)]
        if profile is not None:
            argv = [sys.executable, "-m", "cProfile", "-o", str(profile),
                    *(exe[1:] if exe[0] == sys.executable else exe), *argv[len(exe):]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")}
        self.log = log
        self._fh = log.open("w")
        self.proc = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        """SIGTERM, wait; exit code and CPU seconds of the whole run."""
        if self.proc.returncode is not None:       # already reaped (it exited early): no rusage
            self._fh.close()
            return {"exit": self.proc.returncode, "cpu_s": None, "maxrss_mb": None}
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                pid, status, usage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.05)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._fh.close()
        return {"exit": self.proc.returncode, "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "maxrss_mb": round(usage.ru_maxrss / 1024, 1)}


def _max_job(pg: Postgres, db: str) -> int:
    try:
        return pg.query(db, "SELECT coalesce(max(id), 0) FROM procrastinate_jobs")[0][0]
    except Exception:  # noqa: BLE001 - no queue schema yet
        return 0


def _wait_workers(pg: Postgres, db: str, n: int, workers: list[Worker]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for w in workers:
            if w.proc.poll() is not None:      # reaps it: stop() then reports no rusage
                raise RuntimeError(f"worker exited {w.proc.returncode}: {w.log.read_text()[-2000:]}")
        try:
            if pg.query(db, "SELECT count(*) FROM procrastinate_workers")[0][0] >= n:
                return
        except Exception:  # noqa: BLE001 - the schema is being installed
            pass
        time.sleep(POLL_S)
    raise RuntimeError(f"{n} workers did not register in 120 s")


def _run_jobs(pg: Postgres, db: str, config: Path, url: str, accounts: int, after: int) -> dict[str, Any]:
    """``cexledger enqueue`` (every account), then wait until every job after ``after`` is over."""
    done = subprocess.run([*cli(), "--config", str(config), "--db", url, "enqueue"], capture_output=True,
                          text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")})
    if done.returncode != 0:
        raise RuntimeError(f"enqueue exited {done.returncode}: {done.stderr[-2000:]}")
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        rows = pg.query(db, "SELECT status::text, count(*) FROM procrastinate_jobs WHERE id > %(a)s "
                            "AND task_name = %(t)s GROUP BY 1", {"a": after, "t": SYNC_TASK})
        by = dict(rows)
        if sum(by.values()) >= accounts and not by.get("todo") and not by.get("doing"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs not over in {JOB_WAIT_S} s: {by}")
        time.sleep(POLL_S)
    (first, last, attempts), = pg.query(
        db, "SELECT min(e.at) FILTER (WHERE e.type = 'deferred'), max(e.at) FILTER (WHERE e.type = 'succeeded'), "
            "count(*) FILTER (WHERE e.type = 'started') FROM procrastinate_events e "
            "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.id > %(a)s AND j.task_name = %(t)s",
        {"a": after, "t": SYNC_TASK})
    if by.get("succeeded", 0) != accounts:
        raise RuntimeError(f"not every job succeeded: {by}")
    return {"wall_s": round((last - first).total_seconds(), 3), "jobs": by, "starts": attempts}


def _complete(pg: Postgres, db: str, sandbox: Sandbox, accounts: list[dict[str, Any]]) -> bool:
    """Every account's archived ids of its truth streams are exactly the sandbox's."""
    got: dict[tuple[str, str], set[str]] = defaultdict(set)
    for account, stream, rid in pg.query(db, "SELECT s.account, s.stream, r.record_id FROM records r "
                                             "JOIN streams s ON s.id = r.stream_id"):
        got[(account, stream)].add(rid)
    for acc in accounts:
        for stream in TRUTH_STREAMS[acc["exchange"]]:
            if got.get((acc["name"], stream), set()) != sandbox.truth_ids(acc["exchange"], acc["name"], stream):
                return False
    return True


def _workers(n: int, config: Path, url: str, concurrency: int, workdir: Path, tag: str) -> list[Worker]:
    return [Worker(config, url, concurrency, workdir / f"{tag}-worker{i}.log") for i in range(n)]


def resync(sandbox: Sandbox, pg: Postgres, workdir: Path, *, new_rows: int, concurrency: int) -> dict[str, Any]:
    """Backfill every account (2 workers), then per worker count (1, 2): ``new_rows`` rows added
    to each account, a re-sync of all: wall ÷ ideal."""
    accounts = sandbox.accounts("bitget") + sandbox.accounts("coinw")
    db = pg.database("resync")
    url = pg.url(db)
    config = workdir / "resync.toml"
    write_config(config, sandbox, "bitget")
    with config.open("a") as fh:     # both exchanges' accounts in one config
        write_config(workdir / "resync-coinw.toml", sandbox, "coinw")
        fh.write("\n" + (workdir / "resync-coinw.toml").read_text())
    limits = sum(LIMIT_REQ_PER_S[a["exchange"]] for a in accounts)
    out: dict[str, Any] = {"accounts": len(accounts), "by_exchange": {e: sum(a["exchange"] == e for a in accounts)
                                                                      for e in LIMIT_REQ_PER_S},
                           "limit_sum_req_per_s": limits, "new_rows_per_account": new_rows,
                           "concurrency_per_worker": concurrency, "db": db}
    workers = _workers(2, config, url, concurrency, workdir, "resync-backfill")
    try:
        _wait_workers(pg, db, 2, workers)
        started = time.perf_counter()
        out["backfill"] = _run_jobs(pg, db, config, url, len(accounts), 0)
        out["backfill"]["client_wall_s"] = round(time.perf_counter() - started, 2)
    finally:
        out["backfill_workers"] = [w.stop() for w in workers]
    out["backfill"]["complete"] = _complete(pg, db, sandbox, accounts)
    for n in (1, 2):
        for acc in accounts:
            sandbox.http.post("/_sandbox/append", json={"exchange": acc["exchange"], "account": acc["name"],
                                                       "count": new_rows}).raise_for_status()
        workers = _workers(n, config, url, concurrency, workdir, f"resync-{n}")
        try:
            _wait_workers(pg, db, n, workers)
            after = _max_job(pg, db)
            sandbox.reset_stats()
            pg_cpu = pg.cpu_s()
            run = _run_jobs(pg, db, config, url, len(accounts), after)
            run["postgres_cpu_s"] = round(pg.cpu_s() - pg_cpu, 2)
            stats = sandbox.stats()
        finally:
            run_workers = [w.stop() for w in workers]
        run["workers"] = run_workers
        run["requests"] = stats["requests"]
        run["by_path"] = stats["by_path"]
        run["rate_limited"] = stats["rate_limited"]
        run["ideal_s"] = round(stats["requests"] / limits, 3)
        run["ratio"] = round(run["wall_s"] / run["ideal_s"], 2) if run["ideal_s"] else None
        run.update(_slowest_account(sandbox, accounts))
        # not the figure: the wall ÷ what no parallelism removes, the larger of the
        # ideal and the slowest account's own requests ÷ its own limit
        floor = max(run["ideal_s"], run["slowest_account_s"] or 0.0)
        run["floor_s"] = floor
        run["ratio_to_floor"] = round(run["wall_s"] / floor, 2) if floor else None
        run["complete"] = _complete(pg, db, sandbox, accounts)
        out[f"workers_{n}"] = run
    return out


def _slowest_account(sandbox: Sandbox, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    """The floor no parallelism removes: the account whose own requests ÷ its own limit take
    longest (the issue's ideal averages the accounts; a CoinW account's 5 req/s is not)."""
    limit_of = {a["api_key"]: LIMIT_REQ_PER_S[a["exchange"]] for a in accounts}
    name_of = {a["api_key"]: a["name"] for a in accounts}
    per_key: dict[str, int] = defaultdict(int)
    for entry in sandbox.http.get("/_sandbox/requests").json()["requests"]:
        per_key[entry["key"]] += 1
    if not per_key:
        return {"slowest_account": None, "slowest_account_s": None}
    key = max(per_key, key=lambda k: per_key[k] / limit_of.get(k, math.inf))
    return {"slowest_account": name_of.get(key), "slowest_account_requests": per_key[key],
            "slowest_account_s": round(per_key[key] / limit_of[key], 3)}


def backfill(sandbox: Sandbox, pg: Postgres, workdir: Path, *, concurrency: int) -> dict[str, Any]:
    """Every Bitget account of the sandbox backfilled by 2 workers: rows/s ÷ the accounts' ceilings."""
    accounts = sandbox.accounts("bitget")
    db = pg.database("backfill")
    url = pg.url(db)
    config = write_config(workdir / "backfill.toml", sandbox, "bitget")
    rows = sum(len(sandbox.truth_ids("bitget", a["name"])) for a in accounts)
    funding = sum(len(sandbox.truth_ids("bitget", a["name"], FUNDING.name)) for a in accounts)
    ceiling = len(accounts) * FINANCIAL_BUDGET.rate * ROWS_PER_PAGE
    workers = _workers(2, config, url, concurrency, workdir, "backfill")
    try:
        _wait_workers(pg, db, 2, workers)
        sandbox.reset_stats()
        with psycopg.connect(pg.conninfo(db), autocommit=True) as conn:
            before = _server_now(conn, pg)
        kernel = _kernel_s(sandbox, workers)
        cpu = _cpu_now(pg, sandbox, workers)
        run = _run_jobs(pg, db, config, url, len(accounts), 0)
        used = {k: v - cpu[k] for k, v in _cpu_now(pg, sandbox, workers).items()}
        kernel = {k: v - kernel[k] for k, v in _kernel_s(sandbox, workers).items()}
        with psycopg.connect(pg.conninfo(db), autocommit=True) as conn:
            server = _server_work(conn, before, _server_now(conn, pg), rows + funding)
        machine = used.pop("machine")
        used["rest_of_machine"] = max(0.0, machine - sum(used.values()))
        run["cpu_s"] = {k: round(v, 2) for k, v in used.items()}
        run["machine_busy_cores"] = round(machine / max(1e-9, run["wall_s"]), 2)
        stats = sandbox.stats()
    finally:
        run["workers"] = [w.stop() for w in workers]
    rows_per_s = rows / run["wall_s"]
    run.update({
        "accounts": len(accounts), "rows": rows, "funding_rows_beside": funding,
        "concurrency_per_worker": concurrency,
        "rows_per_s": round(rows_per_s, 1), "ceiling_rows_per_s": ceiling, "ratio": round(rows_per_s / ceiling, 4),
        "requests": stats["requests"], "by_path": stats["by_path"], "rate_limited": stats["rate_limited"],
        "complete": _complete(pg, db, sandbox, accounts),
        "ideal_s": round(rows / ceiling, 2),
    })
    total = sum(run["cpu_s"].values())
    run["cpu_share"] = {k: round(v / total, 3) for k, v in run["cpu_s"].items()} if total else {}
    run["cpu_us_per_row"] = {k: round(v * 1e6 / rows, 1) for k, v in run["cpu_s"].items()}
    run["system_share"] = {k: round(v / max(1e-9, run["cpu_s"][k]), 3) for k, v in kernel.items()}
    run["postgres"] = server
    return run


def _kernel_s(sandbox: Sandbox, workers: list[Worker]) -> dict[str, float]:
    """System (kernel) CPU seconds so far of the workers and of the sandbox."""
    return {"workers": sum(proc_cpu_split(w.proc.pid)[1] for w in workers),
            "sandbox": proc_cpu_split(sandbox.proc.pid)[1]}


def _server_now(conn: psycopg.Connection, pg: Postgres) -> tuple[float, float, int, int]:
    """PostgreSQL's CPU so far (user, system), its WAL position and the bytes it has written."""
    return (*pg.cpu_split(), wal_position(conn), server_written_bytes(pg.pid))


def _server_work(conn: psycopg.Connection, before: tuple[float, float, int, int],
                 after: tuple[float, float, int, int], rows: int) -> dict[str, Any]:
    """What PostgreSQL did for a run's ``rows`` (every row written, whatever its stream): the
    share of its CPU that was the kernel's, and in bytes per row the WAL it wrote, all it
    wrote (WAL, data files, sockets) and what its archive tables and their indexes hold."""
    user, system, wal, written = (a - b for a, b in zip(after, before))
    sizes = stored_bytes(conn)
    return {"system_share": round(system / max(1e-9, user + system), 3),
            "wal_bytes_per_row": round(wal / rows), "written_bytes_per_row": round(written / rows),
            "stored_bytes_per_row": {name: round(size / rows) for name, size in sizes.items()}}


def _cpu_now(pg: Postgres, sandbox: Sandbox, workers: list[Worker]) -> dict[str, float]:
    """CPU seconds so far of the workers, the sandbox and PostgreSQL, and of the machine."""
    return {"workers": sum(w.cpu_s() for w in workers), "sandbox": proc_cpu_s(sandbox.proc.pid),
            "postgres": pg.cpu_s(), "machine": _machine_busy_s()}


def _machine_busy_s() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def profile_worker(sandbox: Sandbox, pg: Postgres, workdir: Path, *, concurrency: int) -> dict[str, Any]:
    """The same backfill once more into a fresh database, by one worker under cProfile."""
    accounts = sandbox.accounts("bitget")
    db = pg.database("profile")
    url = pg.url(db)
    config = write_config(workdir / "profile.toml", sandbox, "bitget")
    out = workdir / "worker.prof"
    worker = Worker(config, url, concurrency, workdir / "profile-worker.log", profile=out)
    try:
        _wait_workers(pg, db, 1, [worker])
        run = _run_jobs(pg, db, config, url, len(accounts), 0)
    finally:
        run["worker"] = worker.stop(timeout=120)
    if not out.exists():
        raise RuntimeError(f"no profile written: {worker.log.read_text()[-2000:]}")
    run["buckets"] = profile_buckets(pstats.Stats(str(out)))
    return run


#: Where a function's own time goes, by its file (first match wins).
BUCKETS = (
    # cProfile names a built-in "<method 'poll' of 'select.epoll' objects>" (3.11) or with
    # braces (older): the marks leave the bracket out. The event loop's epoll wait is idle; a
    # ``select.poll`` is httpcore (an injected httpx client's pool) asking an idle pooled
    # connection whether it is readable.
    ("idle (waiting in the event loop's poll)", ("method 'poll' of 'select.epoll'", "method 'select' of 'select.")),
    ("parse (exact JSON, envelope, client)", ("cexledger/_json", "msgspec", "exchanges/_classify",
                                                "exchanges/bitget/client", "exchanges/coinw/client")),
    ("normalize (the stream's normalizer and its field readers)", ("normalize", "exchanges/_fields")),
    ("store (archive, SQLAlchemy, psycopg)", ("cexledger/archive", "sqlalchemy", "psycopg")),
    ("HTTP (httpx, aiohttp, signing, limiter)", ("httpx", "aiohttp", "yarl", "multidict", "httpcore", "h11",
                                                  "anyio", "exchanges/_http", "method 'poll' of 'select.poll'",
                                                  "exchanges/_limits", "auth", "hmac", "hashlib", "ssl")),
    ("procrastinate", ("procrastinate",)),
    ("imports and start-up", ("importlib", "marshal.loads", "builtins.compile", "posix.stat", "builtins.exec",
                              "__build_class__", "pygments", "typer", "click", "rich", "tomllib")),
    ("sync engine (plan, paging, sink)", ("cexledger/sync", "exchanges/_paging", "exchanges/_windows",
                                          "streams.py")),
    ("asyncio, selectors, sockets", ("asyncio", "selectors", "socket", "method 'recv", "method 'send",
                                     "of 'select.epoll'")),
)


def profile_buckets(stats: pstats.Stats) -> dict[str, Any]:
    """Own (tottime) seconds per bucket, their shares (of all, and of the time not idle), and
    the top functions."""
    seconds: dict[str, float] = defaultdict(float)
    top = []
    for (filename, line, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{line}({func})"
        bucket = next((name for name, marks in BUCKETS if any(m in where for m in marks)), "other")
        seconds[bucket] += tottime
        top.append((tottime, where, bucket))
    total = sum(seconds.values())
    busy = total - seconds.get(BUCKETS[0][0], 0.0)
    top.sort(reverse=True)
    return {"total_s": round(total, 2), "busy_s": round(busy, 2),
            "busy_share": {k: round(v / busy, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])
                           if k != BUCKETS[0][0]} if busy else {},
            "seconds": {k: round(v, 2) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])},
            "share": {k: round(v / total, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])} if total else {},
            "top": [{"function": w.split("site-packages/")[-1].split("src/")[-1], "tottime_s": round(t, 3), "bucket": b}
                    for t, w, b in top[:20]]}


def compare_writes(sandbox: Sandbox, pg: Postgres, workdir: Path, repeats: int, writers: int) -> dict[str, Any]:
    """Pages of one Bitget account recorded (latency and limit off for it), then written into
    SQLite and PostgreSQL side by side on one core, then into PostgreSQL by ``writers``
    threads at once (``_replay.py --writes``)."""
    import json

    import _replay

    saved = sandbox.settings()
    sandbox.settings(latency_ms=0, rate_limit=False)
    try:
        pages = workdir / "compare-pages.pkl"
        recorded = _replay.record(sandbox.url, sandbox.accounts("bitget")[0], pages, workdir / "compare-record.db")
    finally:
        sandbox.settings(latency_ms=saved["latency_ms"], rate_limit=saved["rate_limit"])
    urls = [pg.url(pg.database("writes")) for _ in range(repeats + 1)]
    proc = subprocess.run([sys.executable, str(Path(_replay.__file__)), "--writes", str(pages), str(workdir),
                           str(pg.pid), str(writers), *urls], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"write comparison failed: {proc.stderr[-2000:]}")
    return {"recorded": recorded, **json.loads(proc.stdout)}
