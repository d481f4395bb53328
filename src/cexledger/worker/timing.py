"""The worker's clock constants, one definition each, and the one knob that scales them.

A worker writes a heartbeat every :data:`HEARTBEAT_S`; a worker whose heartbeat is older
than :data:`STALLED_AFTER_S` is taken for dead (SIGKILL, a lost machine) and its running
jobs for stalled; every worker looks for stalled jobs every :data:`RECOVERY_EVERY_S` and
puts them back in the queue; an idle worker looks for jobs every :data:`POLL_S` (besides
PostgreSQL's ``LISTEN``/``NOTIFY``, which wakes it at once for a new job, but not for a
job put back). An account a dead worker was syncing is therefore resumed by another worker
within

    STALLED_AFTER_S + RECOVERY_EVERY_S + POLL_S + HANDOVER  =  30 + 15 + 5 + 1  =  51 s,

stated as :data:`RECOVERY_S` = 60 s (the rest is margin for a loaded machine).

``CEXLEDGER_WORKER_TIME_SCALE`` (a factor, default 1) multiplies all of them: the tests run
with 0.1 (a resumed account within 6 s) so they need not wait a minute per kill. Keep it
at 1 in production: a heartbeat every second costs nothing, but a worker briefly stuck
(a long GC, a suspended VM) for more than the stalled time would see its job handed to
another worker while it still runs it.
"""

from __future__ import annotations

import os

from ..errors import ConfigError

__all__ = ["HEARTBEAT_S", "POLL_S", "RECOVERY_EVERY_S", "RECOVERY_S", "SCALE_ENV",
           "STALLED_AFTER_S", "scale"]

SCALE_ENV = "CEXLEDGER_WORKER_TIME_SCALE"

HEARTBEAT_S = 10.0
STALLED_AFTER_S = 30.0
RECOVERY_EVERY_S = 15.0
POLL_S = 5.0
RECOVERY_S = 60.0


def scale() -> float:
    """The factor of ``CEXLEDGER_WORKER_TIME_SCALE`` (1 when unset)."""
    text = os.environ.get(SCALE_ENV, "").strip()
    if not text:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.001 <= value <= 1.0:
        raise ConfigError(f"{SCALE_ENV}={text!r}: give a factor between 0.001 and 1 (tests only)")
    return value


def scaled(seconds: float) -> float:
    """``seconds`` times :func:`scale`."""
    return seconds * scale()
