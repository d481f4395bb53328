"""One subpackage per exchange: ``auth`` (signing), ``client`` (requests, limits, retries,
parsing), ``normalize`` (unified entries) and ``streams`` (what to fetch and how to page it).

``registry`` maps an exchange name to its ``streams`` module, which offers
``open_client(account, stats)``, ``plan_account(account, client, ctx)``, and the normalizer:
``parse_row(account, partition, raw)`` (one row's bytes -> ``(record, understood)``, the one
path sync and reparse share) and its ``NORMALIZER_VERSION``.
"""

from __future__ import annotations

from types import ModuleType

from .bitget import streams as _bitget_streams
from .coinw import streams as _coinw_streams

registry: dict[str, ModuleType] = {"bitget": _bitget_streams, "coinw": _coinw_streams}

__all__ = ["registry"]
