"""One subpackage per exchange: ``auth`` (signing), ``client`` (requests: raw rows only),
``normalize`` (pure, versioned: row bytes to records) and ``streams`` (the exchange's
:class:`~cexledger.exchanges.base.Connector`: its streams and how an account is planned).

``registry`` maps an exchange name to its connector; ``spec(key)`` is the
:class:`~cexledger.exchanges.base.StreamSpec` of an archived stream (``None`` for a stream
this version of cexledger does not know).
"""

from __future__ import annotations

from ..model import StreamKey
from .base import Connector, StreamSpec
from .bitget.streams import BITGET
from .coinw.streams import COINW

registry: dict[str, Connector] = {c.name: c for c in (BITGET, COINW)}


def spec(key: StreamKey) -> StreamSpec | None:
    """The spec of ``key``'s stream, or ``None`` if its exchange or stream is unknown."""
    connector = registry.get(key.exchange)
    return connector.streams.get(key.stream) if connector is not None else None


def ledger_shadows() -> tuple[tuple[str, str, str], ...]:
    """``(exchange, stream, shadowed_by)`` of every stream declaring
    :attr:`~cexledger.exchanges.base.StreamSpec.shadowed_by`: what the ledger rule
    (:func:`cexledger.archive.queries.ledger_excluded`) is applied to."""
    return tuple((s.exchange, s.name, s.shadowed_by) for c in registry.values()
                 for s in c.streams.values() if s.shadowed_by is not None)


__all__ = ["Connector", "StreamSpec", "ledger_shadows", "registry", "spec"]
