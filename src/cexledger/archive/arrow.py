"""A query's rows as Arrow record batches, read in C where the backend allows: what the
report and ``verify`` aggregate instead of looping over rows in Python.

SQLite is read through ADBC's SQLite driver (``adbc-driver-sqlite``): the rows go from the
database file into Arrow columns without a Python object per value, on a read-only
connection of its own (``mode=ro``: it can never write; ``immutable=1`` where the archive's own
read-only open uses it, :func:`.engine.read_only_url` says when). It is driven through
``adbc_driver_manager``'s statement API, not its DB-API module, and nothing on this path
hands ``pyarrow`` a Python value to convert (parameters are built from their bytes, blanks
become nulls by a cast): the DB-API module imports ``pyarrow.dataset`` and polars, and a
conversion imports pandas, when those are installed — 90 MB and a quarter of a second a
report or ``verify`` need not pay. The driver infers each column's type
from the first batch, so a column of text that is ``NULL`` throughout the first batch would be
typed as an integer and the next batch would fail; :func:`record_batches` therefore reads every
column the schema marks as nullable text as ``coalesce(column, '')`` and turns ``''`` back
into null (such a column must not hold a meaningful empty string). PostgreSQL is read through
the archive's own connection (psycopg, a server-side cursor), each batch turned into columns
by ``pyarrow.array``.

Either way each batch comes typed as ``schema`` says, so what follows is the same on both.
The query runs in one snapshot; a consumer that also needs the stream map
(``Archive.stream_keys``) reads it *after* the rows: streams are never deleted, so a later map
knows every stream the rows name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from .prepared import Prepared

__all__ = ["BATCH_ROWS", "is_driver_error", "record_batches"]

BATCH_ROWS = 65_536
"""Rows per Arrow batch: big enough that per-batch work is negligible, small enough that a
million rows never sit in memory at once."""


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the ADBC SQLite driver's (a locked, damaged or missing file)."""
    try:
        from adbc_driver_manager import Error
    except ImportError:
        return False
    return isinstance(exc, Error)


def _nullable_text(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.nullable and pa.types.is_string(f.type)]


def _wrapped(sql: str, schema: pa.Schema) -> str:
    """``sql`` with its nullable text columns read as ``coalesce(column, '')``."""
    blanks = set(_nullable_text(schema))
    cells = ", ".join(f"coalesce(q.{f.name}, '') AS {f.name}" if f.name in blanks else f"q.{f.name}"
                      for f in schema)
    return f"SELECT {cells} FROM ({sql}) AS q"


def _typed(batch: pa.RecordBatch, schema: pa.Schema, blanks: list[str]) -> pa.RecordBatch:
    columns = []
    for f in schema:
        column = batch.column(f.name)
        if column.type != f.type:
            column = column.cast(f.type)
        if f.name in blanks:                 # "" (length 0, cast to false) becomes null
            column = pc.if_else(pc.cast(pc.utf8_length(column), pa.bool_()), column,
                                pa.nulls(len(column), f.type))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _parameter(value: Any) -> pa.Array:
    """One bind parameter (an ``int`` or a ``str``) as a one-value Arrow array, from its bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(value.to_bytes(8, "little", signed=True))])
    if isinstance(value, str):
        data = value.encode()
        offsets = (0).to_bytes(4, "little") + len(data).to_bytes(4, "little", signed=True)
        return pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    raise TypeError(f"a bind parameter must be an int or a str, not {type(value).__name__}")


def _sqlite_batches(path: Path, immutable: bool, sql: str, params: list[Any], schema: pa.Schema,
                    rows: int) -> Iterator[pa.RecordBatch]:
    import adbc_driver_manager as adbc
    import adbc_driver_sqlite

    blanks = _nullable_text(schema)
    uri = f"file:{quote(str(path.resolve()))}?mode=ro{'&immutable=1' if immutable else ''}"
    with adbc_driver_sqlite.connect(uri) as database, adbc.AdbcConnection(database) as conn, \
            adbc.AdbcStatement(conn) as statement:
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(rows)})
        statement.set_sql_query(_wrapped(sql, schema))
        if params:
            statement.bind(pa.RecordBatch.from_arrays([_parameter(v) for v in params],
                                                      names=[f"p{i}" for i in range(len(params))]))
        stream, _ = statement.execute_query()
        reader = pa.RecordBatchReader._import_from_c(stream.address)
        try:
            for batch in reader:
                if batch.num_rows:
                    yield _typed(batch, schema, blanks)
        finally:
            reader.close()


def _postgres_batches(conn: sa.Connection, sql: str, params: list[Any], schema: pa.Schema, rows: int) -> Iterator[pa.RecordBatch]:
    if not conn.in_transaction():
        conn.begin()
    cursor = conn.connection.cursor(name="cexledger_arrow")
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(rows):
            columns = [pa.array(values, f.type) for f, values in zip(schema, zip(*batch))]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
    finally:
        cursor.close()


def record_batches(path: Path | None, immutable: bool, reading: Callable[[], AbstractContextManager[sa.Connection]],
                   statement: Prepared, params: list[Any], schema: pa.Schema,
                   rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The rows of ``statement`` (its columns named and ordered as ``schema``'s fields) as
    batches of ``schema``, ``rows`` rows each (the last may be shorter): from the SQLite file
    ``path`` (``immutable``: as :func:`.engine.read_only_url` decides for a read-only place), or (``path`` ``None``) from a
    PostgreSQL connection ``reading()`` opens. Text that is to become a decimal is selected as
    text and cast by the consumer (``pyarrow`` refuses to round). Use it through
    ``Archive.arrow_batches``."""
    if path is not None:
        yield from _sqlite_batches(path, immutable, statement.sql("sqlite"), params, schema, rows)
        return
    with reading() as conn:
        yield from _postgres_batches(conn, statement.sql("postgresql"), params, schema, rows)
