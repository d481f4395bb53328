"""Exports: one module per output format. ``writer(name)`` gives a format's writer,
``writer(archive, out, *, account=None, exchange=None) -> rows written``; ``out`` is a
binary file. A format's module (and pyarrow, for CSV and Parquet) is imported only when
that format is used, so a JSONL export does not pay for Arrow's start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

FORMATS = ("jsonl", "csv", "parquet")

__all__ = ["FORMATS", "writer", "write_jsonl", "write_csv", "write_parquet"]


def writer(name: str) -> Callable[..., int]:
    """The writer of format ``name`` (one of :data:`FORMATS`)."""
    if name not in FORMATS:
        raise KeyError(name)
    return getattr(import_module(f".{name}", __name__), f"write_{name}")


def __getattr__(attr: str) -> Any:
    if attr.startswith("write_") and attr[6:] in FORMATS:
        return writer(attr[6:])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
