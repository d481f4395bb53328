"""What ``cexledger queue`` shows: per configured account, its last sync, its next one,
where it runs now, its failed jobs and retries, and why its latest job's last run failed.
Read in four queries, however many accounts (the archive's run log, procrastinate's jobs,
cexledger's job runs). A database no worker has used yet has no queue: every account shows
no job."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from .app import SYNC_TASK
from .schema import RUNS_TABLE

__all__ = ["AccountQueue", "queue_rows"]

# procrastinate's ``attempts`` counts a job's runs that ended (its last one included): every
# ended run of a job still to run (or running) was retried, all but the last of a finished one.
_JOBS = """
SELECT j.args->>'account' AS account,
       min(j.scheduled_at) FILTER (WHERE j.status = 'todo') AS next_at,
       count(*) FILTER (WHERE j.status = 'todo') AS waiting,
       count(*) FILTER (WHERE j.status = 'failed') AS failed,
       coalesce(sum(CASE WHEN j.status IN ('succeeded', 'failed', 'aborted')
                         THEN greatest(j.attempts - 1, 0) ELSE j.attempts END), 0) AS retries,
       max(j.id) FILTER (WHERE j.status = 'doing') AS doing_job
  FROM procrastinate_jobs j
 WHERE j.task_name = %(task)s
 GROUP BY 1
"""
_RUNS = f"SELECT job_id, host, pid, started FROM {RUNS_TABLE} WHERE job_id = ANY(%(ids)s)"
_LAST = "SELECT account, max(finished_ms) FROM sync_runs GROUP BY account"
# Per account, its latest job that ran: the reason its last run failed (NULL: it succeeded
# or is running its first run), and the job's state.
_ERRORS = f"""
SELECT DISTINCT ON (r.account) r.account, r.error, r.failed_at, j.status::text
  FROM {RUNS_TABLE} r JOIN procrastinate_jobs j ON j.id = r.job_id
 ORDER BY r.account, r.job_id DESC
"""


@dataclass(frozen=True)
class AccountQueue:
    account: str
    last_sync: str | None       # ISO 8601 UTC of the last finished sync run, any process
    next_sync: str | None       # when its waiting job may start (None: none waiting)
    next_is_schedule: bool      # next_sync is the schedule's next tick, no job waiting yet
    running_on: str | None      # host:pid of the worker syncing it now
    running_since: str | None
    failed: int                 # its jobs that ended failed (not retried any more)
    retries: int                # retries of its jobs (every run after a job's first)
    last_error: str | None      # why its latest job's last run failed (one line, no secret)
    last_error_at: str | None
    last_error_state: str | None  # that job now: "failed" (given up), "todo" (to retry), "doing"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def queue_rows(conninfo: str, accounts: list[str], next_tick: dt.datetime | None) -> list[AccountQueue]:
    """One row per name of ``accounts`` (in that order); ``next_tick``: the schedule's next
    instant, shown for an account with no job waiting."""
    import psycopg

    with psycopg.connect(conninfo) as conn:
        has_queue, has_runs = conn.execute(
            f"SELECT to_regclass('procrastinate_jobs') IS NOT NULL AND to_regclass('{RUNS_TABLE}') "
            "IS NOT NULL, to_regclass('sync_runs') IS NOT NULL").fetchone()
        jobs, runs, errors = {}, {}, {}
        if has_queue:
            jobs = {r[0]: r for r in conn.execute(_JOBS, {"task": SYNC_TASK}).fetchall()}
            doing = [r[5] for r in jobs.values() if r[5] is not None]
            runs = {r[0]: r for r in conn.execute(_RUNS, {"ids": doing}).fetchall()} if doing else {}
            errors = {r[0]: r for r in conn.execute(_ERRORS).fetchall() if r[1] is not None}
        last = dict(conn.execute(_LAST).fetchall()) if has_runs else {}
    rows = []
    for name in accounts:
        job = jobs.get(name)
        run = runs.get(job[5]) if job is not None and job[5] is not None else None
        finished = last.get(name)
        next_at = job[1] if job is not None else None
        rows.append(AccountQueue(
            account=name,
            last_sync=None if finished is None else _iso(dt.datetime.fromtimestamp(finished / 1000, dt.UTC)),
            next_sync=_iso(next_at if next_at is not None else next_tick),
            next_is_schedule=next_at is None and next_tick is not None,
            running_on=f"{run[1]}:{run[2]}" if run else None,
            running_since=_iso(run[3]) if run else None,
            failed=int(job[3]) if job else 0,
            retries=int(job[4]) if job else 0,
            last_error=errors[name][1] if name in errors else None,
            last_error_at=_iso(errors[name][2]) if name in errors else None,
            last_error_state=errors[name][3] if name in errors else None,
        ))
    return rows


def next_tick(cron: str | None, now: dt.datetime) -> dt.datetime | None:
    """The schedule's next instant after ``now`` (UTC)."""
    if cron is None:
        return None
    import croniter

    return croniter.croniter(cron, now).get_next(dt.datetime)
