"""Where an export may go, and what it says about what it wrote.

An export never overwrites a database: ``--out`` naming the archive itself (by any path:
a relative one, a symlink, a hard link), one of its ``-wal``/``-shm``/``-journal`` files,
or any other SQLite database file (one that starts with SQLite's 16-byte header) is
refused before anything is written. A regular file is written under a temporary name and
renamed at the end (:func:`written`), so a failed write (disk full, file too large) leaves no
half file, in one line; anything else that exists there — a device such as ``/dev/null``, a
named pipe — is written in place, never replaced by a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..archive.engine import is_sqlite_file
from ..errors import CexledgerError, ConfigError

__all__ = ["COMPANIONS", "left_out_note", "shadowed_note", "refuse_database", "write_error", "written"]

#: The files SQLite keeps next to a database ``NAME``: ``NAME-wal``, ``NAME-shm``, ``NAME-journal``.
COMPANIONS = ("-wal", "-shm", "-journal")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def refuse_database(target: Path, archive: Path | None) -> None:
    """Raise ``ConfigError`` when writing ``target`` would overwrite ``archive`` (the SQLite
    file of the archive being exported, ``None`` for PostgreSQL), one of its companion files,
    or any existing SQLite database."""
    if archive is not None:
        resolved = target.resolve()
        for suffix in ("", *COMPANIONS):
            own = archive.with_name(archive.name + suffix)
            if resolved == own.resolve() or _same_file(target, own):
                what = "the archive itself" if not suffix else f"the archive's {suffix[1:]} file"
                raise ConfigError(
                    f"--out {target} is {what} ({own}): an export never overwrites the archive; "
                    "give another file"
                )
    if is_sqlite_file(target):
        raise ConfigError(
            f"--out {target} is a SQLite database: an export never overwrites a database; "
            "give another file"
        )


def _in_place(target: Path) -> bool:
    """Whether ``target`` exists and is not a regular file (following links)."""
    try:
        return not stat.S_ISREG(target.stat().st_mode)
    except OSError:       # absent (or unreadable: the write will say so)
        return False


@contextmanager
def written(target: Path) -> Iterator[BinaryIO]:
    """A binary file whose contents become ``target`` when the block ends without an error.

    A regular (or new) file is written to a temporary file beside it and renamed over it at
    the end, with the replaced file's permissions (a new one: the umask's); a symlink is
    followed, so the file it points to is replaced, not the link. On any error the
    temporary file is removed and ``target`` is left as it was.
    A device or named pipe is opened and written in place. Write errors become one line."""
    target = Path(os.path.realpath(target))   # through a symlink: replace what it points to
    if _in_place(target):
        try:
            with open(target, "wb") as fh:
                yield fh
        except OSError as exc:
            raise write_error(str(target), exc) from None
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    except OSError as exc:
        raise ConfigError(f"cannot write to {target}: {exc.strerror}") from None
    try:
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(str(target), exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """The permissions the written file gets: those of the file it replaces, else what a new
    file gets under the umask (a temporary file is created private)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_error(where: str, exc: OSError) -> CexledgerError:
    """A failed write (``ENOSPC``, ``EFBIG``, …) as one line; nothing half-written is kept."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return CexledgerError(f"cannot write the export to {where}: {reason}")


def left_out_note(count: int) -> str | None:
    """What a CSV or Parquet export (entries only) says about the ``count`` archived records
    it has no row for; ``None`` when there are none."""
    if not count:
        return None
    records = "record has" if count == 1 else "records have"
    return (
        f"note: {count} archived {records} no ledger entries and so no row in this export "
        "(kept raw only because they could not be normalized yet, or without an amount, "
        "such as a cancelled order without a fee); `cexledger export --format jsonl` has "
        "every raw record"
    )


def shadowed_note(count: int) -> str | None:
    """What a CSV or Parquet export says about the ``count`` entries the ledger rule left
    out (``archive.queries.ledger_excluded``); ``None`` when there are none."""
    if not count:
        return None
    entries = "entry" if count == 1 else "entries"
    return (
        f"note: {count} tax-record {entries} left out: financial records (or tax records, "
        "where a financial window stopped half-way) cover that time, and the ledger counts "
        "each movement once; `cexledger export --format jsonl` has every raw record"
    )
