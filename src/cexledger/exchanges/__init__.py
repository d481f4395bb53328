"""One subpackage per exchange: ``auth`` (signing), ``client`` (requests, limits, retries,
parsing), ``normalize`` (unified entries) and ``streams`` (what to fetch and how to page it).

``registry`` maps an exchange name to its ``streams`` module, which offers
``open_client(account, stats)`` and ``plan_account(account, client, ctx)``.
"""

from __future__ import annotations

from types import ModuleType

from .bitget import streams as _bitget_streams
from .coinw import streams as _coinw_streams

registry: dict[str, ModuleType] = {"bitget": _bitget_streams, "coinw": _coinw_streams}

__all__ = ["registry"]
