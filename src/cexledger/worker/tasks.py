"""The worker's tasks: sync one account, and the schedule's tick that queues every account.

``sync_account(account)`` runs exactly ``cexledger sync --account NAME``'s engine
(:func:`cexledger.sync.sync_accounts` on one account: its own rate limiters, the archive's
account lock, the identity gate, page-atomic writes) and sorts the outcome:

==========================================  ==================================================
outcome                                     the job
==========================================  ==================================================
every stream synced                         succeeded
some work failed (network, 5xx, rate        failed and retried (:data:`MAX_ATTEMPTS`, waits
limits past the connector's own retries,    of ``RETRY_WAIT_BASE_S ** attempt`` seconds):
another process holding the account), or    :class:`SyncIncomplete` (or the error itself)
anything unexpected (the database away)
the account refused (a bad or revoked key,  failed, not retried: :class:`SyncRefused` (a
identity refused, incomplete config)        person must act; the next schedule tries again)
the worker stopping (SIGTERM)               the sync is cancelled (pages already written
                                            stay; a page being written is committed, in its
                                            own thread, before the process ends) and the job
                                            is put back in the queue at once:
                                            :class:`WorkerStopping`
==========================================  ==================================================

``schedule_tick(timestamp)`` is procrastinate's periodic task: it queues a sync of every
configured account (one already waiting is left as it is: its queueing lock).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from ..config import Config, default_config_path, load_config
from ..errors import ArchiveError, CexledgerError
from . import timing
from .app import QUEUE, SYNC_TASK, TICK_TASK, Runtime, job_locks, queueing_lock
from .schema import RUNS_TABLE

if TYPE_CHECKING:
    import procrastinate

    from ..archive import Archive

__all__ = ["MAX_ATTEMPTS", "RETRY_WAIT_BASE_S", "SyncIncomplete", "SyncRefused", "WorkerStopping",
           "close_archive", "defer_sync", "register", "request_stop", "shared_archive"]

log = logging.getLogger("cexledger.worker")

MAX_ATTEMPTS = 5
"""Runs of a sync job, the first included, before a transient failure is left failed."""

RETRY_WAIT_BASE_S = 4
"""Seconds before the n-th retry of a transient failure: ``RETRY_WAIT_BASE_S ** n`` (4, 16,
64, 256), times :func:`.timing.scale` (the tests' 0.1: 0.4, 1.6, 6.4, 25.6)."""

WHERE = f"{socket.gethostname()}:{os.getpid()}"
"""This worker process, as ``cexledger queue`` shows it: host and process id."""


class SyncIncomplete(CexledgerError):
    """Some of the account's work failed for a reason that may pass: retried."""


class SyncRefused(CexledgerError):
    """The account was refused (credentials, identity, config): not retried."""


class WorkerStopping(CexledgerError):
    """The worker is stopping: the job goes back to the queue, to run at once elsewhere."""


_stop: asyncio.Event | None = None
_config: tuple[tuple[Any, ...], Config] | None = None
_locks: tuple[Config, dict[str, str]] | None = None
_archive: Archive | None = None
_opening: asyncio.Lock | None = None


def current_config(path: Any) -> Config:
    """The config file as it is now, for every job: parsed again only when the file has
    changed (its inode, size, modification or change time), so a worker of a config with
    hundreds of accounts does not parse them all again for each one's job (60 ms for 200)."""
    global _config
    path = path or default_config_path()
    try:
        st = os.stat(path)
        stamp: tuple[Any, ...] = (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        return load_config(path)          # the one-line error of a missing or unreadable file
    if _config is None or _config[0] != stamp:
        _config = (stamp, load_config(path))
    return _config[1]


def config_locks(cfg: Config) -> dict[str, str]:
    """:func:`.app.job_locks` of ``cfg``'s accounts, computed once per config read
    (:func:`current_config`): each job checks its own account's lock, and computing them
    all for every job made a job's cost grow with the number of accounts."""
    global _locks
    if _locks is None or _locks[0] is not cfg:
        _locks = (cfg, job_locks(cfg.accounts.values()))
    return _locks[1]


async def shared_archive(db_url: str) -> Archive:
    """The archive every job of this process syncs into: opened by the first job, kept
    until :func:`close_archive` (the worker stopping). ``Archive`` is safe to share between
    threads; its account locks exclude two jobs of one process as they do two processes.
    A job opening its own would pay, each time, new database sessions (the server forks a
    backend for each) and the schema checks of an open; the one thing those checks could
    find changed while the worker runs, a newer cexledger's schema, every job still checks
    (:func:`_start_run`)."""
    global _archive, _opening
    from ..archive import Archive

    if _opening is None:
        _opening = asyncio.Lock()
    async with _opening:
        if _archive is None:
            _archive = await asyncio.to_thread(Archive.open, db_url)
    return _archive


def close_archive() -> None:
    """Close the jobs' archive (its connections; every account lock is released)."""
    global _archive
    if _archive is not None:
        _archive.close()
        _archive = None


def _stop_event() -> asyncio.Event:
    global _stop
    if _stop is None:
        _stop = asyncio.Event()
    return _stop


def request_stop() -> None:
    """Make every running sync job of this process end now (SIGTERM)."""
    _stop_event().set()


def _retry_strategy() -> procrastinate.BaseRetryStrategy:
    import procrastinate

    class SyncRetry(procrastinate.BaseRetryStrategy):
        def get_retry_decision(self, *, exception: BaseException, job: Any) -> Any:
            if isinstance(exception, WorkerStopping):
                return procrastinate.RetryDecision(retry_in={"seconds": 0})
            if isinstance(exception, SyncRefused) or job.attempts + 1 >= MAX_ATTEMPTS:
                return None
            return procrastinate.RetryDecision(
                retry_in={"seconds": timing.scaled(RETRY_WAIT_BASE_S ** (job.attempts + 1))})

    return SyncRetry()


def one_line(exc: BaseException, secrets: list[str]) -> str:
    """The reason a job's run failed, on one line, without any of ``secrets``."""
    text = str(exc) if isinstance(exc, CexledgerError) else f"internal error: {type(exc).__name__}: {exc}"
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return " ".join(text.split()) or type(exc).__name__


async def defer_sync(app: procrastinate.App, account: Any, lock: str, tick: int | None = None,
                     requeued: bool = False) -> int | None:
    """Queue a sync of ``account`` (a config ``Account``) under job ``lock`` (its entry in
    :func:`.app.job_locks` of the config); its job id, or ``None`` when one is already
    waiting. ``requeued``: queued again by a worker whose config gave it another lock."""
    from procrastinate.exceptions import AlreadyEnqueued

    task = app.tasks[SYNC_TASK]
    kwargs: dict[str, Any] = {"account": account.name, "tick": tick}
    if requeued:
        kwargs["requeued"] = True
    try:
        return await task.configure(lock=lock, queueing_lock=queueing_lock(account.name),
                                    queue=QUEUE).defer_async(**kwargs)
    except AlreadyEnqueued:
        return None


async def _lock_moved(app: procrastinate.App, cfg: Config, job: Any, account: Any, requeued: bool) -> bool:
    """Whether the job was queued under a lock this worker's config ``cfg`` does not give
    ``account`` (its keys changed since, or the machines' configs differ): then it is queued
    again under this config's lock, once (``True``: this job has nothing more to do); a job
    queued again that still does not match is refused."""
    name = account.name
    lock = config_locks(cfg)[name]
    if job.lock == lock:
        return False
    if requeued:
        raise SyncRefused(f"account {name!r} uses other keys in this worker's config than in the "
                          "config it was queued with: give every worker and `cexledger enqueue` "
                          "the same config file")
    again = await defer_sync(app, account, lock, tick=job.task_kwargs.get("tick"), requeued=True)
    log.info("job %s: account %r was queued under another key's lock than this worker's config "
             "gives it: %s", job.id, name,
             f"queued again as job {again}" if again is not None else "a job for it is already waiting")
    return True


def register(app: procrastinate.App, rt: Runtime, *, schedule: str | None) -> None:
    """Register the tasks on ``app`` (and the periodic tick when ``schedule`` is a cron)."""

    @app.task(name=SYNC_TASK, queue=QUEUE, pass_context=True, retry=_retry_strategy())
    async def sync_account(context: Any, account: str, tick: int | None = None,
                           requeued: bool = False) -> dict[str, int]:
        job = context.job
        log.info("job %s: sync of account %r started on %s (attempt %d)", job.id, account, WHERE,
                 job.attempts + 1)
        secrets: list[str] = []
        try:
            result = await _sync_one(app, rt, job, account, secrets, requeued)
        except WorkerStopping:
            log.info("job %s: sync of account %r stopped (worker stopping): back in the queue",
                     job.id, account)
            raise
        except Exception as exc:
            reason = one_line(exc, secrets)
            await _record_end(app, job.id, reason)
            if isinstance(exc, SyncRefused):
                log.error("job %s: sync of account %r refused (not retried): %s", job.id, account, reason)
            else:
                again = "will retry" if job.attempts + 1 < MAX_ATTEMPTS else "no retries left"
                log.warning("job %s: sync of account %r incomplete (%s): %s", job.id, account, again,
                            reason)
            raise
        await _record_end(app, job.id, None)
        if result is None:
            return {"new": 0, "updated": 0, "requests": 0}
        log.info("job %s: sync of account %r ok: %d new, %d updated, %d requests", job.id,
                 account, result["new"], result["updated"], result["requests"])
        return result

    if schedule is None:
        return

    @app.periodic(cron=schedule, periodic_id="every-account")
    @app.task(name=TICK_TASK, queue=QUEUE, pass_context=True)
    async def schedule_tick(context: Any, timestamp: int) -> dict[str, int]:
        try:
            cfg = current_config(rt.config_path)
        except CexledgerError as exc:
            log.error("schedule tick %d: nothing queued: %s", timestamp, " ".join(str(exc).split()))
            raise
        accounts = list(cfg.accounts.values())
        locks = config_locks(cfg)
        queued = sum([await defer_sync(app, acc, locks[acc.name], tick=timestamp) is not None
                      for acc in accounts])
        log.info("schedule tick %d: queued %d accounts, %d already waiting", timestamp, queued,
                 len(accounts) - queued)
        return {"queued": queued, "waiting": len(accounts) - queued}


async def _record_end(app: procrastinate.App, job_id: int, error: str | None) -> None:
    """Record how the job's run ended: ``error`` (one line), or ``None`` for success."""
    try:
        await app.connector.execute_query_async(
            f"UPDATE {RUNS_TABLE} SET error = %(error)s, failed_at = CASE WHEN %(error)s::text "
            "IS NULL THEN NULL ELSE now() END WHERE job_id = %(job)s", job=job_id, error=error)
    except Exception as exc:  # noqa: BLE001 - the job's own end is recorded by procrastinate
        log.warning("job %s: could not record its end for `cexledger queue`: %s", job_id,
                    " ".join(str(exc).split()))


async def _start_run(app: procrastinate.App, job_id: int, name: str) -> None:
    """Record where the job runs (for ``cexledger queue``) and, in the same statement, read
    the archive's schema revision: one this worker's cexledger does not know (a newer
    cexledger upgraded the archive while this worker ran) fails the job, as opening the
    archive would have, before anything is fetched or written."""
    from ..archive.migrate import HEAD, VERSION_TABLE

    row = await app.connector.execute_query_one_async(
        f"INSERT INTO {RUNS_TABLE} (job_id, account, host, pid) VALUES (%(job)s, %(account)s, "
        "%(host)s, %(pid)s) ON CONFLICT (job_id) DO UPDATE SET host = EXCLUDED.host, "
        f"pid = EXCLUDED.pid, started = now() RETURNING (SELECT min(version_num) FROM {VERSION_TABLE}) "
        "AS revision", job=job_id, account=name, host=WHERE.rsplit(":", 1)[0], pid=os.getpid())
    if row["revision"] != HEAD:
        raise ArchiveError(f"the archive's schema is now revision {row['revision']} (this worker's "
                           f"cexledger knows up to {HEAD}): a newer cexledger upgraded it; upgrade "
                           "cexledger on this machine and restart the worker")


async def _sync_one(app: procrastinate.App, rt: Runtime, job: Any, name: str,
                    secrets: list[str], requeued: bool) -> dict[str, int] | None:
    """Sync account ``name``; ``secrets`` gets its secrets (and keys) once it is known, so a
    failure's reason can be shown without them. ``None``: not synced, queued again under
    another lock (:func:`_lock_moved`)."""
    from ..sync import sync_accounts

    job_id = job.id
    await _start_run(app, job_id, name)
    cfg = current_config(rt.config_path)
    account = cfg.accounts.get(name)
    if account is None:
        raise SyncRefused(f"account {name!r} is no longer in the config "
                          f"(configured: {', '.join(sorted(cfg.accounts)) or 'none'})")
    secrets += [*account.secrets(), *(k for k in (account.api_key, account.tax_api_key) if k)]
    if await _lock_moved(app, cfg, job, account, requeued):
        return None
    stop = _stop_event()
    if stop.is_set():
        raise WorkerStopping("worker stopping")
    archive = await shared_archive(rt.db_url)

    def waiting(who: str) -> None:
        log.info("job %s: waiting for account %r: another cexledger job or process is syncing it",
                 job_id, who)

    run = asyncio.create_task(sync_accounts([account], archive, on_wait=waiting,
                                            announce=lambda line: log.info("job %s: %s", job_id, line)))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([run, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not run.done():
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        raise WorkerStopping("worker stopping")
    report = run.result().accounts[0]
    if report.errors:
        text = "; ".join(report.error_lines())
        raise (SyncRefused if report.fatal else SyncIncomplete)(text)
    return {"new": report.new, "updated": report.updated, "requests": report.requests.requests}
