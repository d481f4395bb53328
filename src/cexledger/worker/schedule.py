"""The ``[worker]`` table of the config: how often every account is synced.

    [worker]
    every = "1h"            # 30s, 15m, 1h, 6h, 1d … (a whole divisor of the next unit)
    # cron = "17 3 * * *"   # or a cron line (5 fields; a 6th for seconds), UTC

``every`` becomes a cron line aligned on the clock ("1h" is ``0 * * * *``: on the hour), so
every worker on every machine computes the same instants; procrastinate records each instant
it deferred (``procrastinate_periodic_defers``, unique per task and instant), so the tick of an
instant runs once however many workers are running. Pure: no procrastinate import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["Schedule", "parse_worker_table"]

_EVERY = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 60, "m": 60, "h": 24, "d": 1}  # a step must divide the next unit


@dataclass(frozen=True)
class Schedule:
    cron: str
    text: str        # as the config gave it: "every 1h" or "cron 17 3 * * *"


def _cron_of_every(n: int, unit: str, ctx: str) -> str:
    limit = _UNITS[unit]
    if not (n == 1 if unit == "d" else 1 <= n < limit and limit % n == 0):
        raise ConfigError(f"{ctx}: every = \"{n}{unit}\": give a whole divisor of the next unit "
                          "(e.g. 30s, 15m, 2h, 1d) or a cron line (cron = \"…\")")
    step = "*" if n == 1 else f"*/{n}"
    if unit == "s":
        return f"* * * * * {step}"
    if unit == "m":
        return f"{step} * * * *"
    if unit == "h":
        return f"0 {step} * * *"
    return "0 0 * * *"


def parse_worker_table(table: Any, where: str) -> Schedule | None:
    """The schedule of a ``[worker]`` table (``None`` when it sets none)."""
    ctx = f"{where}: [worker]"
    if not isinstance(table, dict):
        raise ConfigError(f"{ctx} must be a table")
    unknown = sorted(set(table) - {"every", "cron"})
    if unknown:
        raise ConfigError(f"{ctx}: unknown setting {unknown[0]!r} (expected every or cron)")
    if "every" in table and "cron" in table:
        raise ConfigError(f"{ctx}: give every or cron, not both")
    if "every" in table:
        value = table["every"]
        match = _EVERY.match(value.strip().lower()) if isinstance(value, str) else None
        if match is None:
            raise ConfigError(f"{ctx}: every = {value!r}: give a duration such as \"1h\", \"30m\", \"1d\"")
        n, unit = int(match.group(1)), match.group(2)
        return Schedule(_cron_of_every(n, unit, ctx), f"every {n}{unit}")
    if "cron" in table:
        value = table["cron"]
        fields = value.split() if isinstance(value, str) else []
        if len(fields) not in (5, 6):
            raise ConfigError(f"{ctx}: cron = {value!r}: give 5 fields (minute hour day month "
                              "weekday), or 6 with seconds last")
        try:
            import croniter
        except ImportError:
            croniter = None
        if croniter is not None and not croniter.croniter.is_valid(value):
            raise ConfigError(f"{ctx}: cron = {value!r} is not a valid cron line")
        return Schedule(" ".join(fields), f"cron {' '.join(fields)}")
    return None
