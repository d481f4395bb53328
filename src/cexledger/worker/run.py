"""``cexledger worker``: one procrastinate worker process, until SIGTERM or SIGINT.

Beside procrastinate's own loop (fetching jobs, its heartbeat, the periodic deferrer that
defers the schedule's ticks), the process runs the stalled-job recovery (:func:`recover`):
every :data:`~.timing.RECOVERY_EVERY_S` it asks procrastinate for the jobs still ``doing``
on a worker whose heartbeat is older than :data:`~.timing.STALLED_AFTER_S` (a worker killed
by SIGKILL, a machine lost) and puts each back in the queue (``retry_job``: ``todo`` at once,
its lock free again). Every worker does this; two putting back one job is harmless (the
second finds it no longer ``doing``).

SIGTERM / SIGINT: the running sync jobs stop (see :mod:`.tasks`: the page being written
commits, the job goes back to the queue), procrastinate stops fetching, records every job's
end, unregisters the worker, and the process exits 0. No job is left ``doing``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from .. import _heap
from . import timing
from .app import QUEUE, open_queue
from .tasks import WHERE, close_archive, request_stop

__all__ = ["recover", "run_worker"]

log = logging.getLogger("cexledger.worker")


class _OneLine(logging.Formatter):
    """Time, level, text, on one line whatever the text (a libpq message, a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(super().format(record).split())


def _journal_logging() -> None:
    """One line per event on stderr, readable in a journal: time, level, text. procrastinate
    and psycopg's connection pool (the database away for a while) speak at WARNING and above
    only (procrastinate's per-job lines repeat ours)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    handler.addFilter(_not_a_job_end)
    root = logging.getLogger("cexledger")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("procrastinate", "psycopg"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


_JOB_ENDS = frozenset({"job_error", "job_error_retry"})


def _not_a_job_end(record: logging.LogRecord) -> bool:
    """procrastinate's line for a failed job, with its traceback: ours says it in one line."""
    return getattr(record, "action", None) not in _JOB_ENDS


async def recover(app: object) -> int:
    """Put the stalled jobs of the queue back to ``todo``; how many were."""
    from procrastinate.exceptions import ConnectorException

    manager = app.job_manager  # type: ignore[attr-defined]
    stalled = await manager.get_stalled_jobs(queue=QUEUE,
                                             seconds_since_heartbeat=timing.scaled(timing.STALLED_AFTER_S))
    count = 0
    for job in stalled:
        try:
            await manager.retry_job(job)
        except ConnectorException:        # another worker put it back first
            continue
        count += 1
        log.warning("job %s (%s %s) was running on a worker that stopped sending heartbeats: "
                    "back in the queue", job.id, job.task_name, job.task_kwargs.get("account", ""))
    return count


async def _recovery_loop(app: object) -> None:
    while True:
        try:
            await recover(app)
        except Exception as exc:  # noqa: BLE001 - the database away for a moment: try again
            log.warning("stalled-job check failed: %s", exc)
        await asyncio.sleep(timing.scaled(timing.RECOVERY_EVERY_S))


async def _run(app: object, concurrency: int) -> None:
    async with app.open_async():  # type: ignore[attr-defined]
        worker = app._worker(  # type: ignore[attr-defined]
            queues=[QUEUE], concurrency=concurrency, name=WHERE, install_signal_handlers=False,
            update_heartbeat_interval=timing.scaled(timing.HEARTBEAT_S),
            stalled_worker_timeout=timing.scaled(timing.STALLED_AFTER_S),
            fetch_job_polling_interval=timing.scaled(timing.POLL_S),
            shutdown_graceful_timeout=None)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            log.info("worker %s stopping: ending the running jobs after the page being written",
                     WHERE)
            request_stop()
            worker.stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        recovery = asyncio.create_task(_recovery_loop(app))
        log.info("worker %s started: concurrency %d, heartbeat every %g s", WHERE, concurrency,
                 timing.scaled(timing.HEARTBEAT_S))
        try:
            await worker.run()
        finally:
            recovery.cancel()
            await asyncio.gather(recovery, return_exceptions=True)
            await asyncio.to_thread(close_archive)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("worker %s stopped", WHERE)


def run_worker(db_url: str, config_path: Path | None, concurrency: int, schedule: str | None) -> None:
    """Run a worker on the archive at ``db_url`` until SIGTERM or SIGINT."""
    import secrets

    from ..exchanges import _http

    _journal_logging()
    _http.PROCESS_TAG = secrets.token_hex(6)
    try:
        app = open_queue(db_url, config_path, schedule=schedule, pool_size=concurrency + 4)
    except KeyboardInterrupt:   # SIGTERM or Ctrl-C while starting (e.g. waiting for the
        # schema lock): no job taken, nothing to give back; a stop, not a failure
        log.info("worker %s stopped while starting: no job was taken", WHERE)
        return
    _heap.freeze_loaded()
    asyncio.run(_run(app, concurrency))
