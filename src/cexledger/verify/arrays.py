"""Arrow arrays and scalars to and from numpy and Python values, without ``pyarrow``'s
converters: ``pa.array``, ``pa.scalar``, ``Array.to_numpy`` and a Python value handed to a
compute function all import pandas when it is installed (35 MB resident and a tenth of a
second for every ``verify``). Here arrays are built from their buffers and read as views of
them, which never does.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa

from .._json import EXACT

__all__ = ["bools", "decimals", "from_numpy", "strings", "view"]

_DTYPES = {pa.int8(): np.int8, pa.int32(): np.int32, pa.int64(): np.int64, pa.uint64(): np.uint64}


def view(array: pa.Array) -> np.ndarray:
    """A fixed-width integer ``array`` without nulls as a numpy view of its buffer."""
    assert array.null_count == 0, "a view needs an array without nulls"
    dtype = np.dtype(_DTYPES[array.type])
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array),
                         offset=array.offset * dtype.itemsize)


def from_numpy(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """A numpy integer array as an Arrow array of ``kind`` (an integer type)."""
    data = np.ascontiguousarray(values, dtype=_DTYPES[kind])
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])


def bools(values: np.ndarray) -> pa.Array:
    """A numpy boolean array as an Arrow boolean array."""
    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def strings(values: list[str | None]) -> pa.Array:
    """Python strings (``None``: null) as an Arrow string array."""
    data = [b"" if v is None else v.encode() for v in values]
    offsets = np.cumsum([0, *map(len, data)], dtype=np.int32)
    valid = None
    if any(v is None for v in values):
        valid = pa.py_buffer(np.packbits(np.array([v is not None for v in values]), bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(values),
                                 [valid, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def decimals(values: list[Decimal | None], kind: pa.DataType) -> pa.Array:
    """Exact decimals (``None``: null) as an Arrow array of ``kind`` (a decimal type whose
    scale holds them: a value with more places fails, never rounds)."""
    width = kind.byte_width
    cells = bytearray()
    for v in values:
        unscaled = Decimal(0) if v is None else EXACT.scaleb(Decimal(v), kind.scale)
        if unscaled != unscaled.to_integral_value():
            raise ValueError(f"{v} has more than {kind.scale} decimals")
        cells += int(unscaled).to_bytes(width, "little", signed=True)
    valid = None
    if any(v is None for v in values):
        valid = pa.py_buffer(np.packbits(np.array([v is not None for v in values]), bitorder="little"))
    return pa.Array.from_buffers(kind, len(values), [valid, pa.py_buffer(bytes(cells))])
