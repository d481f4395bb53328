"""Workers end to end, continued (issue 12): retries through real fault storms, one lock for
one exchange key under two names, and what ``cexledger queue`` / ``enqueue`` say.

Real ``cexledger worker`` processes, a real PostgreSQL archive, the real sandbox over HTTP;
the harness and its conventions are those of ``test_workers.py``."""

from __future__ import annotations

import json
import re
import signal

import psycopg

from cexledger.worker.app import conninfo_of

from .conftest import by_id, wait_for
from .test_workers import JOB_WAIT_S, Workers, all_done, assert_archive_is_truth, enqueue_all, pg_cli, q

SECRET_MARK = "sbx-secret-"


def test_a_fault_storm_fails_a_run_and_the_retry_ends_exact(sandbox_factory, cli_for, postgres_url) -> None:
    """Every request of a first run fails (5xx, bad gateway, truncated, dropped, too slow for
    the 1 s timeout) and 429s come before them: the run fails past the connector's own
    retries; once the storm is over the job's retry succeeds and the archive is the truth."""
    sandbox = sandbox_factory("--bitget-accounts", "1", "--coinw-accounts", "1", "--records", "300",
                              "--seed", "21")
    accounts = sandbox.accounts()
    cli = pg_cli(cli_for(sandbox, timeout=1), postgres_url)
    for acc in accounts:
        sandbox.post("/_sandbox/inject", {"exchange": acc["exchange"], "account": acc["name"],
                                          "kind": "rate_limited", "retry_after": 0, "count": 10})
    sandbox.post("/_sandbox/settings", {"faults": 1.0})
    workers = Workers(cli, 2, 2)
    try:
        enqueue_all(cli, len(accounts))
        failed_runs = wait_for(lambda: q(cli.url, "SELECT account, error FROM cexledger_job_runs "
                                                  "WHERE error IS NOT NULL"), JOB_WAIT_S, "a failed run")
        shown = json.loads(cli.run("queue", "--json", check=True).stdout)
        sandbox.post("/_sandbox/settings", {"faults": 0.0})            # the storm is over
        wait_for(lambda: all_done(cli.url, [a["name"] for a in accounts]), JOB_WAIT_S, "every account synced")
    finally:
        workers.stop_all()
    stats = sandbox.stats()
    assert stats["faults"] > 0 and stats["rate_limited"] > 0, stats
    jobs = q(cli.url, "SELECT args->>'account', status::text, attempts FROM procrastinate_jobs")
    assert {a for a, s, _ in jobs if s == "succeeded"} == {a["name"] for a in accounts}
    assert {a for a, _, n in jobs if n >= 2} >= {a for a, _ in failed_runs}   # retried, not new jobs
    assert len(jobs) == len(accounts)
    failing = {r["account"]: r for r in shown if r["last_error"]}
    assert set(failing) >= {a for a, _ in failed_runs}
    for row in failing.values():
        assert "\n" not in row["last_error"] and row["last_error_state"] in ("todo", "doing"), row
    assert_archive_is_truth(cli, sandbox, accounts)
    after = json.loads(cli.run("queue", "--json", check=True).stdout)
    assert all(r["last_error"] is None and r["failed"] == 0 for r in after), after
    runs = {a: n for a, _, n in jobs}
    assert {r["account"]: r["retries"] for r in after} == {a: n - 1 for a, n in runs.items()}
    assert sum(r["retries"] for r in after) >= len(failed_runs)
    assert "will retry" in workers.text()
    assert SECRET_MARK not in workers.text() + json.dumps(shown)


def test_two_names_for_one_key_are_never_synced_at_once(sandbox_factory, cli_for, postgres_url) -> None:
    """One exchange key configured under two names gets one job lock: the two syncs run one
    after the other (the archive's run times do not overlap), on any worker, and both
    archives are the key's truth."""
    sandbox = sandbox_factory("--bitget-accounts", "2", "--coinw-accounts", "2", "--records", "800",
                              "--latency-ms", "20", "--seed", "33")
    accounts = sandbox.accounts()
    twins = [dict(acc, name=f"{acc['name']}-again") for acc in accounts if acc["name"] in ("bitget-1", "coinw-1")]
    cli = pg_cli(cli_for(sandbox, accounts + twins), postgres_url)
    workers = Workers(cli, 2, 4)
    names = [a["name"] for a in accounts + twins]
    try:
        wait_for(lambda: workers_up(cli.url) == 2, JOB_WAIT_S, "both workers running")
        enqueue_all(cli, len(names))
        wait_for(lambda: all_done(cli.url, names), JOB_WAIT_S, "every account synced")
    finally:
        workers.stop_all()
    assert all(p.returncode == 0 for p in workers.procs), workers.text()
    runs = dict((a, (s, f)) for a, s, f in q(cli.url, "SELECT account, started_ms, finished_ms FROM sync_runs"))
    assert set(runs) == set(names)
    locks = dict(q(cli.url, "SELECT args->>'account', lock FROM procrastinate_jobs"))
    for twin in twins:
        first = twin["name"].removesuffix("-again")
        assert locks[first] == locks[twin["name"]]
        (s1, f1), (s2, f2) = runs[first], runs[twin["name"]]
        recovered = [line for line in workers.text().splitlines() if "stopped sending heartbeats" in line]
        assert f1 <= s2 or f2 <= s1, (first, runs[first], runs[twin["name"]], recovered)
        truth = {str(k): v for k, v in sandbox.truth(twin["exchange"], first).items()}
        lines = cli.export_jsonl()
        for name in (first, twin["name"]):
            got = {line["id"]: line["raw"] for line in lines if line["account"] == name
                   and line["stream"] == ("financial-records" if twin["exchange"] == "bitget" else "deals-history")}
            assert got == truth, name
    assert len(set(locks.values())) == len(accounts)     # the other accounts: locks of their own


def test_queue_refuses_a_database_without_an_archive(sandbox_factory, cli_for, postgres_url) -> None:
    sandbox = sandbox_factory("--records", "5")
    cli = pg_cli(cli_for(sandbox), postgres_url)
    for args in (["queue"], ["queue", "--json"]):
        done = cli.run(*args)
        assert done.returncode == 1, done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cexledger: error: no archive at "), done.stderr
        assert done.stdout == ""
    assert q(cli.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


def test_queue_before_any_worker_and_a_refused_account(sandbox_factory, cli_for, postgres_url) -> None:
    """An archive no worker has used yet: every account, no job, nothing installed. Then an
    account whose key the exchange refuses: failed, not retried, its reason on one line
    without the secret; ``enqueue --quiet`` prints nothing."""
    sandbox = sandbox_factory("--bitget-accounts", "1", "--coinw-accounts", "1", "--records", "20", "--seed", "4")
    accounts = sandbox.accounts()
    bad = dict(next(a for a in accounts if a["exchange"] == "coinw"), name="coinw-revoked",
               api_key="not-a-key-the-exchange-knows")
    cli = pg_cli(cli_for(sandbox, accounts + [bad]), postgres_url)
    cli.run("sync", "--quiet", "bitget-1", check=True)
    shown = json.loads(cli.run("queue", "--json", check=True).stdout)
    assert [r["account"] for r in shown] == ["bitget-1", "coinw-1", "coinw-revoked"]
    assert shown[0]["last_sync"] and all(r["next_sync"] is None and r["last_error"] is None for r in shown)
    assert q(cli.url, "SELECT to_regclass('procrastinate_jobs')") == [(None,)]
    quiet = cli.run("enqueue", "--quiet", check=True)
    assert quiet.stdout == "" and quiet.stderr == ""
    workers = Workers(cli, 1, 3)
    try:
        wait_for(lambda: {a for _, a, s, _, _ in _jobs(cli.url) if s in ("succeeded", "failed")} ==
                 {"bitget-1", "coinw-1", "coinw-revoked"}, JOB_WAIT_S, "every job ended")
    finally:
        workers.stop_all()
    rows = {r["account"]: r for r in json.loads(cli.run("queue", "--json", check=True).stdout)}
    revoked = rows["coinw-revoked"]
    assert (revoked["failed"], revoked["retries"], revoked["last_error_state"]) == (1, 0, "failed")
    assert "coinw-revoked" in revoked["last_error"] and "\n" not in revoked["last_error"]
    assert rows["coinw-1"]["failed"] == 0 and rows["coinw-1"]["last_error"] is None
    text = cli.run("queue", check=True).stdout
    assert "last failures:" in text and "coinw-revoked (" in text and "given up" in text, text
    log = workers.text()
    assert "refused (not retried)" in log and "Traceback" not in log
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line) for line in log.splitlines() if line), log
    everything = text + json.dumps(rows) + log
    for secret in (bad["api_secret"], bad["api_key"]):
        assert secret not in everything
    assert SECRET_MARK not in everything


def test_a_worker_stopped_while_starting_exits_cleanly(sandbox_factory, cli_for, postgres_url) -> None:
    """SIGTERM while the worker waits to install the queue's schema (another process holds
    its lock): a stop, exit code 0, one line; nothing was installed by it."""
    from cexledger.worker.schema import _PG_QUEUE_SCHEMA_LOCK

    sandbox = sandbox_factory("--records", "5")
    cli = pg_cli(cli_for(sandbox), postgres_url)
    cli.run("sync", "--quiet", check=True)          # the archive exists; the queue does not
    with psycopg.connect(conninfo_of(cli.url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_PG_QUEUE_SCHEMA_LOCK,))
        proc = cli.popen("worker")
        try:
            wait_for(lambda: q(cli.url, "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"),
                     JOB_WAIT_S, "the worker waiting for the schema lock")
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("stopped while starting: no job was taken"), err
    assert q(cli.url, "SELECT to_regclass('procrastinate_jobs')") == [(None,)]


def workers_up(url: str) -> int:
    """How many workers are registered in the queue (0 before it exists)."""
    try:
        return q(url, "SELECT count(*) FROM procrastinate_workers")[0][0]
    except psycopg.errors.UndefinedTable:
        return 0


def _jobs(url: str) -> list[tuple]:
    try:
        return q(url, "SELECT id, args->>'account', status::text, worker_id, attempts FROM procrastinate_jobs")
    except psycopg.errors.UndefinedTable:
        return []


def test_a_job_queued_under_other_keys_is_queued_again_under_the_workers(sandbox_factory, cli_for,
                                                                         postgres_url) -> None:
    """``enqueue`` with a config where an account has one key, a worker whose config gives it
    another (a rotated key, or machines' configs that differ): the worker queues it again
    under its own keys' lock and syncs that; a job queued again that another config still
    puts under other keys is refused, with its reason in ``cexledger queue``."""
    import asyncio

    from cexledger.config import load_config
    from cexledger.worker.app import job_locks, open_queue
    from cexledger.worker.tasks import defer_sync

    sandbox = sandbox_factory("--bitget-accounts", "3", "--coinw-accounts", "0", "--records", "40", "--seed", "8")
    one, two, three = sandbox.accounts()
    queuing = pg_cli(cli_for(sandbox, [dict(one, name="desk")]), postgres_url)
    working = pg_cli(cli_for(sandbox, [dict(two, name="desk")]), postgres_url)
    queuing.run("enqueue", check=True)
    workers = Workers(working, 1, 2)
    try:
        wait_for(lambda: [s for _, a, s, _, _ in _jobs(working.url)].count("succeeded") == 2, JOB_WAIT_S,
                 "the job and the one queued again done")
    finally:
        workers.stop_all()
    jobs = q(working.url, "SELECT id, lock, status::text, args ? 'requeued' FROM procrastinate_jobs ORDER BY id")
    (first, lock1, _, again1), (second, lock2, _, again2) = jobs
    assert lock1 != lock2 and (again1, again2) == (False, True)
    assert f"queued again as job {second}" in workers.text()
    runs = q(working.url, "SELECT account, count(*) FROM sync_runs GROUP BY 1")
    assert runs == [("desk", 1)]                       # one sync: the job queued again
    assert by_id(working.export_jsonl(), "bitget", "desk") == {str(k): v for k, v in sandbox.truth("bitget", two["name"]).items()}

    # a job queued again (by a worker with the first config) that a worker with a third finds
    cfg = load_config(queuing.config)
    app = open_queue(queuing.url, queuing.config)

    async def defer() -> int | None:
        async with app.open_async():
            lock = job_locks(cfg.accounts.values())["desk"]
            return await defer_sync(app, cfg.accounts["desk"], lock, requeued=True)

    job = asyncio.run(defer())
    third = pg_cli(cli_for(sandbox, [dict(three, name="desk")]), postgres_url)
    workers = Workers(third, 1, 2)
    try:
        wait_for(lambda: any(i == job and s == "failed" for i, _, s, _, _ in _jobs(third.url)), JOB_WAIT_S,
                 "the job queued again refused")
    finally:
        workers.stop_all()
    (row,) = json.loads(third.run("queue", "--json", check=True).stdout)
    assert row["failed"] == 1 and row["retries"] == 0 and "same config file" in row["last_error"], row
    assert "refused (not retried)" in workers.text() and SECRET_MARK not in workers.text()
    assert q(third.url, "SELECT count(*) FROM sync_runs") == [(1,)]     # nothing synced by it


def test_a_worker_keeps_its_archive_open_but_every_job_checks_the_schema(sandbox_factory, cli_for,
                                                                         postgres_url) -> None:
    """A worker opens the archive once for all its jobs; a newer cexledger upgrading the
    archive meanwhile fails the next job before any request (one line saying what to do),
    as opening the archive per job did; the schema back as this cexledger knows it, the
    job's retry syncs the account."""
    import asyncio

    import procrastinate

    from cexledger.archive.migrate import HEAD
    from cexledger.config import load_config
    from cexledger.worker.app import Runtime, job_locks
    from cexledger.worker.tasks import defer_sync, register

    def execute(sql: str, params: dict | None = None) -> None:
        with psycopg.connect(conninfo_of(cli.url)) as conn:
            conn.execute(sql, params or {})

    sandbox = sandbox_factory("--bitget-accounts", "1", "--coinw-accounts", "1", "--records", "20", "--seed", "6")
    cli = pg_cli(cli_for(sandbox), postgres_url)
    workers = Workers(cli, 1, 2)
    try:
        enqueue_all(cli, 2)
        wait_for(lambda: all_done(cli.url, ["bitget-1", "coinw-1"]), JOB_WAIT_S, "both accounts synced")
        execute("UPDATE cexledger_alembic_version SET version_num = '9999'")
        sandbox.reset_stats()
        conninfo = conninfo_of(cli.url)
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
        register(app, Runtime(cli.url, conninfo, cli.config), schedule=None)
        cfg = load_config(cli.config)

        async def defer() -> int | None:
            async with app.open_async():
                lock = job_locks(cfg.accounts.values())["bitget-1"]
                return await defer_sync(app, cfg.accounts["bitget-1"], lock)

        job = asyncio.run(defer())
        error = wait_for(lambda: q(cli.url, "SELECT error FROM cexledger_job_runs WHERE job_id = %(j)s AND "
                                            "error IS NOT NULL", {"j": job}), JOB_WAIT_S, "the job failed")[0][0]
        assert "schema is now revision 9999" in error and "upgrade cexledger" in error, error
        assert sandbox.stats()["requests"] == 0
        execute("UPDATE cexledger_alembic_version SET version_num = %(h)s", {"h": HEAD})
        wait_for(lambda: q(cli.url, "SELECT status::text FROM procrastinate_jobs WHERE id = %(j)s",
                           {"j": job}) == [("succeeded",)], JOB_WAIT_S, "the retry succeeded")
    finally:
        workers.stop_all()
    assert all(p.returncode == 0 for p in workers.procs), workers.text()
    assert_archive_is_truth(cli, sandbox, sandbox.accounts())
    assert "Traceback" not in workers.text()
