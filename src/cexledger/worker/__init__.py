"""Sync workers on the PostgreSQL archive, with procrastinate (a PostgreSQL task queue).

Many ``cexledger worker`` processes, on any number of machines, share one job queue that
lives in the archive's own database. Each job syncs one account with the engine of
``cexledger sync`` (:mod:`.tasks`). What cexledger relies on procrastinate for, and nothing
more (``docs/workers.md`` says why each is enough):

- a job's ``lock``: no two jobs with one lock run at once, on any machine (enforced in SQL);
  the lock stands for the exchange keys the account's sync uses (:func:`.app.job_locks`);
- a job's ``queueing_lock``: a second job with it is refused while one waits;
- ``RetryStrategy``: when a failed job runs again;
- periodic tasks, deduplicated across workers by the instant they are due (:mod:`.schedule`);
- workers' heartbeats and ``get_stalled_jobs`` / ``retry_job``: the jobs of a dead worker go
  back to the queue (:mod:`.run`, :mod:`.timing`).

The queue's schema is installed and upgraded by cexledger (:mod:`.schema`). Nothing here
imports procrastinate at import time: the config reads :mod:`.schedule` without it.
"""
