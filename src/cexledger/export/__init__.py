"""Exports: one module per output format. ``FORMATS`` maps a format name to its writer,
``writer(archive, out, *, account=None, exchange=None) -> rows written``; ``out`` is a binary file."""

from __future__ import annotations

from .csv import write_csv
from .jsonl import write_jsonl

FORMATS = {"jsonl": write_jsonl, "csv": write_csv}

__all__ = ["FORMATS", "write_jsonl", "write_csv"]
