"""Exports: one module per output format. ``writer(name)`` gives a format's writer,
``writer(archive, out, *, account=None, exchange=None, since_ms=None, until_ms=None,
**options) -> how many it wrote``, of what ``unit(name)`` says (each module's ``UNIT``:
``rows``, ``records``, ``transactions``); ``out`` is a binary file, the time range half-open
(``since_ms <= ts < until_ms``). The tax formats (:data:`TAX_FORMATS`) also take
``notes``, a list their writer appends one-line remarks to (legs without a partner, …),
which the caller shows; ``koinly`` takes ``merge_daily``. A format's module (and pyarrow,
for CSV and Parquet) is imported only when that format is used, so a JSONL export does not
pay for Arrow's start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

TAX_FORMATS = ("koinly", "cointracking", "beancount")
FORMATS = ("jsonl", "csv", "parquet", *TAX_FORMATS)

__all__ = ["FORMATS", "TAX_FORMATS", "unit", "writer", "write_jsonl", "write_csv", "write_parquet",
           "write_koinly", "write_cointracking", "write_beancount"]


def writer(name: str) -> Callable[..., int]:
    """The writer of format ``name`` (one of :data:`FORMATS`)."""
    if name not in FORMATS:
        raise KeyError(name)
    return getattr(import_module(f".{name}", __name__), f"write_{name}")


def unit(name: str) -> str:
    """What the writer of format ``name`` counts, plural (``rows``, ``records``, ``transactions``)."""
    if name not in FORMATS:
        raise KeyError(name)
    return str(import_module(f".{name}", __name__).UNIT)


def __getattr__(attr: str) -> Any:
    if attr.startswith("write_") and attr[6:] in FORMATS:
        return writer(attr[6:])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
