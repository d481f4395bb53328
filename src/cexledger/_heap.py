"""Keeping the garbage collector's pauses short in a long run (a sync, a worker, the sandbox).

CPython's full collection walks every object that can hold references. Once a sync's
libraries are loaded that is ~85 000 objects (the sandbox adds its generated rows): a full
collection then paused the process for 50-75 ms, measured in a sync and in the sandbox. A
pause between a request's rate-limit slot and its sending delays that request alone, so the
next ones arrive bunched behind it: with the limiter's margin under the exchange's 1-second
window at 15-30 ms, a 74 ms pause put 11 requests in one second (a 429). ``gc.freeze`` moves
what is alive at the start (modules, classes, configuration, a sandbox's data) out of the
collector's reach for good, so a full collection walks only what the run itself made.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_loaded"]


def freeze_loaded() -> None:
    """Collect once, then leave every object alive now out of later collections.

    Call it once per process, when the long run's libraries and data are loaded and before
    it starts: what is frozen is never freed (the collector no longer looks at it), so a
    process that froze repeatedly would keep the garbage of each run.
    """
    gc.collect()
    gc.freeze()
