"""Re-derive archived entries from archived raw bytes when cexledger's mappings change.

Each stream's normalizer has a version (``StreamSpec.normalizer.version``) and every
archived stream records in ``stream_meta`` (:data:`VERSION_META`) which version built its
entries; a stream with none recorded was built by version 1. A stream whose version is older
than its normalizer's is *out of date*: ``sync`` re-derives those first (before fetching),
``cexledger reparse`` re-derives any stream on request.

Re-deriving reads each record's latest raw bytes and passes them through exactly the path a
sync takes (``StreamSpec.normalizer.parse``), so sync and reparse cannot disagree.
It works in batches, one transaction each; a stream's version is recorded only after all its
records are re-derived, so a run that is killed leaves a consistent archive and the next one
finishes it. Raw bytes and record versions are never changed; rows kept raw only are turned
into entries when the normalizer now understands them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .archive import Archive
from .archive.results import RederiveResult
from .exchanges import spec
from .exchanges.base import Normalizer
from .model import StreamKey

__all__ = ["VERSION_META", "Survey", "built_version", "describe", "newer", "outdated", "reparse", "stamp",
           "survey"]

VERSION_META = "normalizer_version"
_UNRECORDED = 1  # streams archived before versions were recorded


def _normalizer(key: StreamKey) -> Normalizer | None:
    found = spec(key)
    return found.normalizer if found is not None else None


def _version(value: str | None) -> int:
    try:
        return int(value) if value is not None else _UNRECORDED
    except ValueError:
        return _UNRECORDED


def built_version(archive: Archive, key: StreamKey) -> int:
    """The normalizer version that built the stream's entries (1 when none is recorded)."""
    return _version(archive.get_meta(key, VERSION_META))


def _versions(archive: Archive, accounts: Iterable[str] | None) -> Iterator[tuple[StreamKey, int, int]]:
    """(stream, the version that built its entries, today's version) of every stream of
    ``accounts`` (default all) whose exchange cexledger knows."""
    wanted = None if accounts is None else sorted(set(accounts))
    for key, value in archive.meta_by_stream(VERSION_META, wanted).items():
        normalizer = _normalizer(key)
        if normalizer is not None:
            yield key, _version(value), normalizer.version


@dataclass(frozen=True)
class Survey:
    """What a sync needs to know of its accounts' streams before it fetches: the
    ``outdated`` ones (see :func:`outdated`) and the ``current`` ones, whose recorded
    version is today's (a sync need not record it again)."""

    outdated: list[StreamKey]
    current: frozenset[StreamKey]


def survey(archive: Archive, accounts: Iterable[str] | None = None) -> Survey:
    """The :class:`Survey` of the streams of ``accounts`` (default all): one query over the
    streams and their versions, and a probe of each out-of-date one (a stream with no records,
    planned but never written, has nothing to re-derive). Cheap enough for every sync."""
    versions = list(_versions(archive, accounts))
    return Survey([key for key, built, today in versions if built < today and archive.has_records(key)],
                  frozenset(key for key, built, today in versions if built == today))


def outdated(archive: Archive, accounts: Iterable[str] | None = None) -> list[StreamKey]:
    """The streams (of ``accounts``, default all) whose entries an older normalizer built
    and that hold records to re-derive."""
    return survey(archive, accounts).outdated


def newer(archive: Archive, accounts: Iterable[str] | None = None) -> list[StreamKey]:
    """The streams (of ``accounts``, default all) whose entries a newer normalizer than this
    cexledger's built: their rules are ones this version does not know."""
    return [key for key, built, today in _versions(archive, accounts) if built > today]


def stamp(archive: Archive, key: StreamKey) -> None:
    """Record that the current normalizer builds ``key``'s entries."""
    normalizer = _normalizer(key)
    if normalizer is not None:
        archive.set_meta(key, VERSION_META, str(normalizer.version))


def reparse(
    archive: Archive,
    streams: Iterable[StreamKey],
    *,
    progress: Callable[[int], None] | None = None,
) -> RederiveResult:
    """Re-derive every record of ``streams`` with the current normalizers, then record their
    version. ``progress`` gets the number of records of each finished batch."""
    total = RederiveResult()
    for key in streams:
        normalizer = _normalizer(key)
        if normalizer is None:
            continue
        parse = normalizer.parse

        def derive(raw: bytes, key: StreamKey = key, parse: Callable = parse) -> tuple:
            return parse(key.account, key.partition, raw)

        total += archive.rederive(key, derive, progress=progress)
        stamp(archive, key)
    return total


def describe(result: RederiveResult) -> str:
    """The one-line result: records re-derived, how many changed, how many stay raw only."""
    text = (f"{result.records} records re-derived, {result.changed} with changed entries, "
            f"{result.raw_only} still raw only")
    if result.unreadable:
        text += f", {result.unreadable} unreadable (left as they were)"
    return text
