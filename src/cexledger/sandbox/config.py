"""Sandbox configuration (fixed at start) and runtime settings (changeable while running)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SandboxConfig", "Settings", "SECOND_MS", "HOUR_MS", "DAY_MS", "RETENTION_MS", "WINDOW_MS",
           "TAX_REACH_MS", "TAX_WINDOW_MS"]

SECOND_MS = 1_000
HOUR_MS = 3_600 * SECOND_MS
DAY_MS = 24 * HOUR_MS
RETENTION_MS = 90 * DAY_MS   # both exchanges serve the last 90 days ("3 months")
WINDOW_MS = 30 * DAY_MS      # Bitget: endTime - startTime may not exceed this
TAX_REACH_MS = 366 * DAY_MS  # Bitget tax records reach back this far
TAX_WINDOW_MS = 7 * DAY_MS   # Bitget tax records: endTime - startTime may not exceed this

DIALECTS = ("standard", "variant")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the sandbox is started with. ``port=0`` picks a free port.

    ``records`` is rows per account; ``dense_share`` is the Bitget share of rows in
    ``USDT-FUTURES`` and the CoinW share in the first instrument (None: a realistic spread).
    ``append_every``/``append_count`` make every account grow while the server runs.
    ``churn`` is the CoinW probability per deals request of a new row and/or a position
    closing just before the answer. ``t0_ms`` pins the generator's "now" (history is placed
    relative to it); None uses the server's clock at start. Same seed and ``t0_ms`` give the
    same data. ``clock_offset_ms`` sets the server's clock that many ms off this machine's
    (positive: ahead): every "now" of the server -- timestamp checks, retention, new rows,
    Bitget's ``requestTime`` -- reads it. ``trickle_s`` is the pause between the bytes of a
    ``trickle`` answer (``POST /_sandbox/inject``).

    Bitget history reaches back ``history_days`` (at least 91): of an account's ``records``
    financial records, ``old_records`` (None: 3 %) are older than the 90-day retention, spread
    over ``[t0 - history_days, t0 - 91 d]``; only the tax records serve them (366 days).
    ``funding_records`` is the funding-wallet rows per Bitget account inside the 90 days (None:
    ``records // 20``), plus 5 % (at least 3 when any) older ones that are never served.
    ``classic_accounts`` names Bitget accounts in Classic Account mode from the start (every
    UTA endpoint refuses them; also a runtime setting).
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    records: int = 2000
    bitget_accounts: int = 1
    coinw_accounts: int = 1
    latency_ms: float = 0
    faults: float = 0.0
    rate_limit: bool = True
    rate_limit_scale: float = 1.0
    dialect: str = "standard"
    dense_share: float | None = None
    instruments: tuple[str, ...] = ("BTC", "ETH", "SOL", "1000PEPE")
    append_every: float = 0.0
    append_count: int = 0
    churn: float = 0.0
    slow_fault_s: float = 2.0
    t0_ms: int | None = None
    clock_offset_ms: int = 0
    trickle_s: float = 2.0
    history_days: int = 400
    old_records: int | None = None
    funding_records: int | None = None
    classic_accounts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, not {self.dialect!r}")
        if self.records < 0 or self.bitget_accounts < 0 or self.coinw_accounts < 0:
            raise ValueError("records and account counts must not be negative")
        if self.dense_share is not None and not 0.0 <= self.dense_share <= 1.0:
            raise ValueError("dense_share must be between 0 and 1")
        if not 0.0 <= self.faults <= 1.0 or not 0.0 <= self.churn <= 1.0:
            raise ValueError("faults and churn are probabilities between 0 and 1")
        if self.trickle_s <= 0:
            raise ValueError("trickle_s must be positive")
        if self.rate_limit_scale <= 0:
            raise ValueError("rate_limit_scale must be positive")
        if self.history_days < 91:
            raise ValueError("history_days must be at least 91")
        if (self.old_records or 0) < 0 or (self.funding_records or 0) < 0:
            raise ValueError("old_records and funding_records must not be negative")
        object.__setattr__(self, "classic_accounts", tuple(self.classic_accounts))
        if not self.instruments:
            raise ValueError("instruments must not be empty")
        object.__setattr__(self, "instruments", tuple(i.upper() for i in self.instruments))

    @property
    def variant(self) -> bool:
        """True when the server speaks the ``variant`` dialect."""
        return self.dialect == "variant"


PAGING_FAULTS = ("bitget_cursor_loop", "coinw_page_cycle", "coinw_page_clamp")


@dataclass
class Settings:
    """The knobs ``POST /_sandbox/settings`` may turn while the server runs.

    Paging faults, each ``null`` (off) or the partition it applies to (a Bitget category,
    a CoinW instrument); they reproduce servers that make a pager go nowhere:

    - ``bitget_cursor_loop``: a request with a cursor answers the window's first page
      again, with a new cursor every time (new cursors, no new rows);
    - ``coinw_page_cycle``: page ``n > 2`` answers page ``(n - 1) % 2 + 1`` (1, 2, 1, 2, …);
    - ``coinw_page_clamp``: a page past the last answers the last page (a server that
      clamps page numbers).

    ``hold``: while true, every admitted exchange request waits for its answer until it is set
    false again (tests use it to keep a sync mid-flight while they look at it).

    ``classic_accounts``: the Bitget account names in Classic Account mode (a list; every UTA
    v3 endpoint answers them ``40084``).
    """

    latency_ms: float
    faults: float
    rate_limit: bool
    churn: float
    bitget_cursor_loop: str | None = None
    coinw_page_cycle: str | None = None
    coinw_page_clamp: str | None = None
    hold: bool = False
    classic_accounts: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: SandboxConfig) -> Settings:
        return cls(config.latency_ms, config.faults, config.rate_limit, config.churn,
                   classic_accounts=config.classic_accounts)

    def update(self, changes: dict[str, object]) -> None:
        """Apply ``changes`` all or nothing; unknown names or bad values raise ``ValueError``."""
        for name, value in changes.items():
            if name in ("rate_limit", "hold"):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif name in ("latency_ms", "faults", "churn"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                if name != "latency_ms" and value > 1:
                    raise ValueError(f"{name} is a probability between 0 and 1")
            elif name == "classic_accounts":
                if not isinstance(value, (list, tuple)) or not all(
                        isinstance(v, str) and v for v in value):
                    raise ValueError("classic_accounts must be a list of account names")
            elif name in PAGING_FAULTS:
                if value is not None and (not isinstance(value, str) or not value):
                    raise ValueError(f"{name} must be null or a partition name")
            else:
                raise ValueError(f"unknown setting {name!r}")
        for name, value in changes.items():
            if name == "coinw_page_cycle" or name == "coinw_page_clamp":
                value = value.upper() if isinstance(value, str) else value  # instruments: any case
            if name == "classic_accounts":
                value = tuple(value)  # type: ignore[arg-type]
            setattr(self, name, value)

    def as_dict(self) -> dict[str, object]:
        return {"latency_ms": self.latency_ms, "faults": self.faults,
                "rate_limit": self.rate_limit, "churn": self.churn,
                "hold": self.hold, "classic_accounts": list(self.classic_accounts),
                **{name: getattr(self, name) for name in PAGING_FAULTS}}
