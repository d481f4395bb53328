"""Exports: one module per output format. ``FORMATS`` maps a format name to its writer,
``writer(archive, out, *, account=None, exchange=None) -> rows written``; ``out`` is a binary file."""

from __future__ import annotations

from .csv import write_csv
from .jsonl import write_jsonl
from .parquet import write_parquet

FORMATS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}

__all__ = ["FORMATS", "write_jsonl", "write_csv", "write_parquet"]
