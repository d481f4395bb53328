"""The sandbox's mutable in-memory state and its ground truth: the test hook.

``SandboxState`` owns the accounts, both exchanges' rows, the runtime settings, the rate
limiter, the fault RNG and the request statistics. Every public method is thread-safe (one
re-entrant lock), so tests may call them from their own thread while the server runs.

Truth: ``truth(exchange, account, stream)`` is what a perfect archive of that stream holds
*right now*: every row the stream still serves -- inside the 90-day retention for
``financial-records``, ``funding-records`` and CoinW's ``deals-history`` (each row's latest
version), inside the 366-day reach for ``tax-records`` -- serialized byte-for-byte as the API
serves it in the running dialect, sorted by id ascending (as integers).
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_left
from dataclasses import replace

from .._clock import now_ms
from .accounts import Account, make_accounts
from .accounts import tax_credentials
from .bitget_data import CATEGORIES, PAIR_SHARE, BitgetBook, category_weights, tax_id
from .coinw_data import Deals
from .config import RETENTION_MS, TAX_REACH_MS, SandboxConfig, Settings
from .faults import FaultSchedule, Injections, RateLimiter, Stats
from .generate import COINW_ID_OFFSET, generate_bitget, generate_coinw, instrument_weights
from .timeline import IdAllocator, Timeline

__all__ = ["STREAMS", "SandboxState", "UnknownError"]

#: The streams each exchange serves; the first is the default of every ``stream`` argument.
STREAMS = {"bitget": ("financial-records", "funding-records", "tax-records"),
           "coinw": ("deals-history",)}


class UnknownError(LookupError):
    """An unknown exchange, account, row or instrument was asked for."""




class SandboxState:
    """Accounts, rows, settings and counters of one sandbox."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.variant = config.variant
        self.settings = Settings.from_config(config)
        self.stats = Stats()
        self.limiter = RateLimiter()
        self.lock = threading.RLock()
        self.injections = Injections()
        self.t0 = config.t0_ms if config.t0_ms is not None else self.now_ms()
        self._faults = FaultSchedule(random.Random(f"sandbox-faults-{config.seed}"))
        self._churn = random.Random(f"sandbox-churn-{config.seed}")
        self._loop_cursors = 0
        self._accounts = make_accounts(config.seed, config.bitget_accounts, config.coinw_accounts)
        self._by_key = {(a.exchange, a.api_key): a for a in self._accounts}
        self._by_tax_key = {a.tax_api_key: a for a in self._accounts if a.tax_api_key}
        self._rotations = 0
        timeline = Timeline(self.t0, config.history_days)
        self._bitget_ids = IdAllocator(random.Random(f"bitget-ids-{config.seed}"))
        self._coinw_ids = IdAllocator(random.Random(f"coinw-ids-{config.seed}"), COINW_ID_OFFSET)
        self.bitget = generate_bitget(config, timeline, self._by_exchange("bitget"), self._bitget_ids)
        self.coinw, self._coinw_rngs = generate_coinw(
            config, timeline, self._by_exchange("coinw"), self._coinw_ids)
        self._category_weights = category_weights(config.dense_share)
        self._instrument_weights = instrument_weights(len(config.instruments), config.dense_share)
        self._check_classic(config.classic_accounts)

    def now_ms(self) -> int:
        """The server's clock: this machine's plus ``clock_offset_ms``."""
        return now_ms() + self.config.clock_offset_ms

    # -- accounts ---------------------------------------------------------------------------

    def _by_exchange(self, exchange: str) -> list[Account]:
        return [a for a in self._accounts if a.exchange == exchange]

    @property
    def accounts(self) -> list[Account]:
        """All accounts, Bitget first; credentials included (never print them)."""
        return list(self._accounts)

    def account(self, name: str) -> Account:
        for account in self._accounts:
            if account.name == name:
                return account
        raise UnknownError(f"unknown account {name!r}")

    def by_api_key(self, exchange: str, api_key: str) -> Account | None:
        return self._by_key.get((exchange, api_key))

    def by_tax_key(self, api_key: str) -> Account | None:
        """The Bitget account whose tax API key ``api_key`` is (its tax credentials current)."""
        return self._by_tax_key.get(api_key)

    def new_key(self, exchange: str, account: str, tax: bool = False) -> Account:
        """A further API key (with its own secret and passphrase) for the same exchange user:
        a key rotation. The account's earlier keys stay valid; the data is the same.
        ``tax``: a further Bitget tax API key instead (answered as ``tax_api_key`` etc.)."""
        with self.lock:
            current = self.account(account)
            if current.exchange != exchange or (tax and exchange != "bitget"):
                raise UnknownError(f"unknown {exchange} account {account!r}")
            self._rotations += 1
            rng = random.Random(f"sandbox-keys-{self.config.seed}-{account}-{self._rotations}")
            if tax:
                rotated = replace(current, **tax_credentials(rng, self.config.seed, account))
                self._by_tax_key[rotated.tax_api_key or ""] = rotated
                return rotated
            prefix = "bg_" if exchange == "bitget" else ""
            rotated = replace(
                current, api_key=f"{prefix}{rng.getrandbits(128):032x}",
                api_secret=f"sbx-secret-{self.config.seed}-{account}-{rng.getrandbits(256):064x}",
                passphrase=None if current.passphrase is None else f"sbx-pass-{rng.getrandbits(48):012x}",
            )
            self._by_key[(exchange, rotated.api_key)] = rotated
            return rotated

    def _book(self, exchange: str, account: str) -> BitgetBook | dict[str, Deals]:
        if exchange == "bitget" and account in self.bitget:
            return self.bitget[account]
        if exchange == "coinw" and account in self.coinw:
            return self.coinw[account]
        raise UnknownError(f"unknown {exchange} account {account!r}")

    # -- truth ------------------------------------------------------------------------------

    def cutoff(self) -> int:
        """The oldest servable timestamp right now (90-day retention)."""
        return self.now_ms() - RETENTION_MS

    def tax_cutoff(self) -> int:
        """The oldest timestamp the tax records serve right now (366-day reach)."""
        return self.now_ms() - TAX_REACH_MS

    def _stream(self, exchange: str, stream: str | None) -> str:
        streams = STREAMS.get(exchange)
        if streams is None:
            raise UnknownError(f"unknown exchange {exchange!r}")
        if stream is None:
            return streams[0]
        if stream not in streams:
            raise ValueError(f"unknown {exchange} stream {stream!r} (one of: {', '.join(streams)})")
        return stream

    @staticmethod
    def _category(partition: str | None, default: str | None = "SPOT") -> str | None:
        category = partition or default
        if category is not None and category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r}")
        return category

    def truth(self, exchange: str, account: str, stream: str | None = None,
              partition: str | None = None) -> list[bytes]:
        """What a perfect archive of ``account``'s ``stream`` (default: the exchange's first,
        ``financial-records`` / ``deals-history``) holds now: served bytes, id ascending.
        ``partition``: only that Bitget category (financial and tax records)."""
        with self.lock:
            stream = self._stream(exchange, stream)
            book = self._book(exchange, account)
            cutoff = self.cutoff()
            if isinstance(book, BitgetBook):
                category = self._category(partition, None)
                if stream == "funding-records":
                    funding = book.funding
                    found = sorted(range(bisect_left(funding.ts, cutoff), len(funding)),
                                   key=funding.ids.__getitem__)
                    return [funding.render(i, self.variant) for i in found]
                ledgers = [book.ledgers[category]] if category else list(book.ledgers.values())
                if stream == "tax-records":
                    reach = self.tax_cutoff()
                    tax = sorted(((tax_id(ledger.ids[i], self.variant), ledger, i)
                                  for ledger in ledgers
                                  for i in range(bisect_left(ledger.ts, reach), len(ledger))),
                                 key=lambda r: r[0])
                    return [ledger.render_tax(i, self.variant) for _, ledger, i in tax]
                rows = sorted(((ledger.ids[i], ledger, i) for ledger in ledgers
                               for i in range(bisect_left(ledger.ts, cutoff), len(ledger))),
                              key=lambda r: r[0])
                return [ledger.render(i, self.variant) for _, ledger, i in rows]
            deals = sorted(((d.ids[i], d, i) for d in book.values()
                            for i in range(len(d)) if d.created[i] >= cutoff), key=lambda r: r[0])
            return [d.render(i, d.current(i), self.variant) for _, d, i in deals]

    def versions(self, exchange: str, account: str, row_id: int,
                 stream: str | None = None) -> list[bytes]:
        """Every version row ``row_id`` of ``stream`` has had, oldest first (a Bitget row has
        one; a tax record is found by its tax id)."""
        with self.lock:
            stream = self._stream(exchange, stream)
            book = self._book(exchange, account)
            if isinstance(book, BitgetBook):
                if stream == "funding-records":
                    position = book.funding.position(row_id)
                    if position is None:
                        raise UnknownError(f"unknown row {row_id}")
                    return [book.funding.render(position, self.variant)]
                tax = stream == "tax-records"
                found = book.find(tax_id(row_id, self.variant) if tax else row_id)
                if found is None:
                    raise UnknownError(f"unknown row {row_id}")
                ledger, i = found
                return [ledger.render_tax(i, self.variant) if tax else ledger.render(i, self.variant)]
            for deals in book.values():
                i = deals.position(row_id)
                if i is not None:
                    return [deals.render(i, v, self.variant) for v in deals.versions(i)]
            raise UnknownError(f"unknown row {row_id}")

    # -- changes ----------------------------------------------------------------------------

    def _append_time(self, allocator: IdAllocator) -> int:
        return max(self.now_ms(), allocator.last_ts)

    def append(self, exchange: str, account: str, count: int,
               instrument: str | None = None, stream: str | None = None) -> list[str] | list[int]:
        """Add ``count`` rows to ``account``'s ``stream`` now; returns their ids as that
        stream's API writes them.

        Bitget financial records continue the balance chains, spread over categories by
        weight (``instrument``, if given, names the category), spot and margin fills and
        conversions as their two rows (a pair only while two rows are left to add, so
        ``count`` is exact); as ``tax-records`` they are the same new rows, answered by their
        tax ids. ``funding-records`` rows are new funding-wallet movements. CoinW rows go to ``instrument`` (any name, case-insensitive) or
        spread over the account's instruments; about 40 % start open.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        with self.lock:
            stream = self._stream(exchange, stream)
            book = self._book(exchange, account)
            if isinstance(book, BitgetBook):
                if stream == "funding-records":
                    funding = book.funding
                    return [str(funding.add_movement(
                        book.funding_rng, max(self.now_ms(), funding.ts[-1] if funding.ts else 0)))
                        for _ in range(count)]
                pinned = self._category(instrument, None)
                row_ids: list[int] = []
                while len(row_ids) < count:
                    ts = self._append_time(self._bitget_ids)
                    category = pinned or book.rng.choices(CATEGORIES, self._category_weights)[0]
                    if count - len(row_ids) >= 2 and book.rng.random() < PAIR_SHARE.get(category, 0):
                        pair = (self._bitget_ids.next(ts), self._bitget_ids.next(ts))
                        book.add_pair(pair, ts, category)
                        row_ids += pair
                    else:
                        row_ids.append(self._bitget_ids.next(ts))
                        book.add_row(row_ids[-1], ts, category)
                return [str(tax_id(row_id, self.variant) if stream == "tax-records" else row_id)
                        for row_id in row_ids]
            rng = self._coinw_rngs[account]
            names = [instrument.upper()] if instrument else list(self.config.instruments)
            weights = [1.0] if instrument else self._instrument_weights
            coinw_ids = []
            for _ in range(count):
                name = rng.choices(names, weights)[0]
                coinw_ids.append(self._add_deal(account, name, rng))
            return coinw_ids

    def _add_deal(self, account: str, instrument: str, rng: random.Random) -> int:
        stores = self.coinw[account]
        if instrument not in stores:
            stores[instrument] = Deals(instrument, self.account(account).user_id)
        ts = self._append_time(self._coinw_ids)
        state = "open" if rng.random() < 0.4 else "close"
        row_id = self._coinw_ids.next(ts)
        stores[instrument].add(rng, row_id, ts, ts, state)
        return row_id

    def inject(self, exchange: str, account: str, raw: bytes, partition: str | None = None,
               stream: str | None = None) -> str:
        """Add one row to ``account``'s ``stream`` now that its API serves as exactly ``raw``
        (however broken); returns the id it is stored under, as that stream writes it.
        ``partition`` is the Bitget category (default ``SPOT``; none for ``funding-records``)
        or the CoinW instrument (default the first configured). A ``tax-records`` row is a new
        financial record whose financial-records bytes stay generated."""
        with self.lock:
            stream = self._stream(exchange, stream)
            book = self._book(exchange, account)
            if isinstance(book, BitgetBook):
                if stream == "funding-records":
                    funding = book.funding
                    ts = max(self.now_ms(), funding.ts[-1] if funding.ts else 0)
                    row_id = funding.add_movement(book.funding_rng, ts)
                    funding.raw_rows[row_id] = raw
                    return str(row_id)
                category = self._category(partition)
                assert category is not None
                ts = self._append_time(self._bitget_ids)
                row_id = self._bitget_ids.next(ts)
                book.add_row(row_id, ts, category)
                if stream == "tax-records":
                    book.ledgers[category].tax_raw_rows[row_id] = raw
                    return str(tax_id(row_id, self.variant))
                book.ledgers[category].raw_rows[row_id] = raw
                return str(row_id)
            instrument = (partition or self.config.instruments[0]).upper()
            row_id = self._add_deal(account, instrument, self._coinw_rngs[account])
            self.coinw[account][instrument].raw_rows[row_id] = raw
            return str(row_id)

    def append_all(self, count: int) -> None:
        """Append ``count`` rows to every account of both exchanges (live growth)."""
        with self.lock:
            for account in self._accounts:
                self.append(account.exchange, account.name, count)

    def mutate(self, exchange: str, account: str, count: int) -> list[int]:
        """Close up to ``count`` open CoinW positions now, oldest first; returns their ids."""
        if exchange != "coinw":
            raise UnknownError("only coinw rows change after they appear")
        with self.lock:
            stores = self._book(exchange, account)
            assert isinstance(stores, dict)
            cutoff = self.cutoff()
            candidates = sorted((d.created[i], d.ids[i], d, i) for d in stores.values()
                                for i in d.servable_open(cutoff))
            closed = []
            for _, row_id, deals, i in candidates[:count]:
                deals.close(i, self._coinw_rngs[account], self.now_ms())
                closed.append(row_id)
            return closed

    def churn(self, account: str, instrument: str) -> None:
        """Maybe (``settings.churn``) add a row and/or close a position, mid-paging."""
        with self.lock:
            stores = self.coinw[account]
            if instrument not in stores or self._churn.random() >= self.settings.churn:
                return
            action = self._churn.random()
            rng = self._coinw_rngs[account]
            if action < 0.75:
                self._add_deal(account, instrument, rng)
            deals = stores[instrument]
            open_rows = deals.servable_open(self.cutoff())
            if action >= 0.5 and open_rows:
                deals.close(self._churn.choice(open_rows), rng, self.now_ms())

    # -- runtime knobs ----------------------------------------------------------------------

    def update_settings(self, changes: dict[str, object]) -> dict[str, object]:
        """Change ``faults``, ``latency_ms``, ``rate_limit``, ``churn``, ``hold``,
        ``classic_accounts`` and/or the paging faults at runtime."""
        with self.lock:
            if isinstance(changes.get("classic_accounts"), (list, tuple)):
                self._check_classic(changes["classic_accounts"])
            self.settings.update(changes)
            return self.settings.as_dict()

    def _check_classic(self, names: object) -> None:
        bitget = {a.name for a in self._by_exchange("bitget")}
        for name in names:  # type: ignore[attr-defined]
            if name not in bitget:
                raise ValueError(f"classic_accounts: no Bitget account {name!r}")

    def is_classic(self, account: str) -> bool:
        """Whether Bitget account ``account`` is in Classic Account mode right now."""
        return account in self.settings.classic_accounts

    def fresh_cursor(self) -> int:
        """A Bitget cursor never handed out before (the ``bitget_cursor_loop`` fault)."""
        with self.lock:
            self._loop_cursors += 1
            return 9 * 10**18 + self._loop_cursors

    def roll_fault(self) -> str | None:
        """The fault for the next exchange request, or None (seeded, independent of the data)."""
        with self.lock:
            return self._faults.roll(self.settings.faults)

