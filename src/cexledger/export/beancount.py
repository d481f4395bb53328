"""Beancount 3: the ledger as a file ``bean-check`` accepts, with balance assertions.

**Transactions.** One per ledger record (its entries, in ``seq`` order: a Bitget row's
amount and its fee are two posting pairs of one transaction), one per paired spot trade
(:class:`~cexledger.ledger.Trade`: the coin received ``@@`` the total sent, so it balances
exactly; fees as their own postings). Each entry is a posting to the asset account and its
opposite to the counter account of its kind. Metadata: ``record-id`` (a trade:
``record-ids``, space separated), ``stream``, ``exchange-type``, ``time`` (UTC, ms); on each
asset posting ``seq`` and ``kind``. Amounts are the archive's exact decimals, never rounded,
never in exponent form.

**Accounts.** ``Assets:<Exchange>:<Account>:<Category>`` (``Assets:Bitget:Main:UsdtFutures``,
Bitget's funding wallet ``...:Funding``). Counter accounts, per kind:

============================  ==========================================================
realized_pnl, liquidation     ``Income:<Exchange>:<Account>:Pnl`` (both signs)
fee                           ``Expenses:<Exchange>:<Account>:Fees``
funding                       ``Income:<Exchange>:<Account>:Funding`` (both signs: paid
                              funding is negative income, as a loss is negative PnL)
interest                      ``Expenses:<Exchange>:<Account>:Interest``
transfer                      ``Equity:<Exchange>:<Account>:Transfers`` (between the
                              user's own accounts: neither income nor loss)
deposit / withdrawal          ``Equity:<Exchange>:<Account>:Deposits`` / ``...:Withdrawals``
borrow, repay                 ``Liabilities:<Exchange>:<Account>:Loans``
trade, convert (no partner)   ``Equity:<Exchange>:<Account>:Unpaired`` (counted in a note)
other                         ``Equity:<Exchange>:<Account>:Other``
============================  ==========================================================

plus ``Equity:...:Opening-Balances`` and ``Equity:...:Unexplained`` (below).

**Names.** An account name component must match ``[\\p{Lu}\\p{Nd}][\\p{L}\\p{Nd}-]*``:
exchange, account and category names are split into runs of letters and digits, each run
capitalised and the rest lower-cased, and joined (``my_sub-1`` -> ``MySub1``,
``USDT-FUTURES`` -> ``UsdtFutures``, ``main`` -> ``Main``); a result that does not start
with an upper-case letter or digit gets an ``X`` in front (``主账户`` -> ``X主账户``).
A commodity must match ``[A-Z]([A-Z0-9'._-]{0,22}[A-Z0-9])?`` and not be one of beancount's
words for values, :data:`RESERVED` (``TRUE``, ``FALSE``, ``NULL``): a coin that matches and
is not one is kept as it is; otherwise it is upper-cased, characters outside ``A-Z0-9'._-``
dropped, a leading non-letter or a reserved word gets an ``X`` (``1000PEPE`` ->
``X1000PEPE``, ``usdt`` -> ``USDT``, ``true`` -> ``XTRUE``), trailing punctuation dropped, a
name longer than 24 is cut to 19 plus ``-`` and 4 hex digits of its SHA-1. Every mapping is
written down in the file, so it is reversible: each ``commodity`` directive carries
``name: "<the exchange's symbol>"``, each ``open`` directive ``cexledger-exchange``,
``cexledger-account``, ``cexledger-category`` (the originals). Two names of one kind (coins;
exchanges; accounts; categories) that map to one (``usdt`` and ``USDT``; accounts
``my_sub`` and ``My-Sub``) are disambiguated, not refused, by a rule that gives each name
the same result in every export of an archive, whatever the filters, the range or the
order names are met in: all the archive's names of that kind (``Archive.entry_names``) are
taken before the first line, a name that is its own mapping first (a coin that is already
a valid commodity always keeps its name: ``USDT`` is ``USDT`` in every file), then the rest
in sorted order (``My-Sub`` before ``my_sub``); a name whose mapping is taken gets ``-`` and
4 hex digits of its SHA-1 appended (``usdt`` -> ``USDT-xxxx``), and a note says so when the
file uses it. (A mapped name can change only when a later sync archives a name that comes
before it.)

**Balance assertions** (Bitget: every record's ``balance``, on its last entry). A *chain* is
one (exchange, account, category, coin). Its opening balance is the first reported balance
less the entries exported before and with it: a transaction from ``Opening-Balances``, dated
on the ``since`` day when the export has one (the chain's balance before its first exported
record is its balance at the start of the range, when the archive holds every record), else
on the day of the chain's first exported entry. Entries of one ``ts`` are taken together
(the archive's order of equal times is not the exchange's): the chain continues when the
previous balance plus their sum is one of the balances they report (at the chain's start:
the opening is the value that one of them gives as the first and one as the last; at a
break, the balance of the last record by numeric id, where the ids are numbers, else in
ledger order, is taken). After each UTC day with entries, the chain's balance is asserted
with ``~ 0`` (exact) dated the day **after** (beancount applies an assertion at the start of
its date). Where the chain does not continue (records missing from the archive) the
difference is booked to ``Equity:<Exchange>:<Account>:Unexplained`` by a transaction with
both record ids as metadata (``after-record-id``, ``record-id``), and a note tells the user;
an archive without holes has none. Beancount sums with Python's default 28 significant
digits: a chain whose exact balance has more digits than that gets no further assertions,
with a note. CoinW reports no balance: its chains have no assertion and no opening balance.

**Layout.** A header comment (what, which archive and filters, by whom), then directives in
ledger order: ``commodity`` and ``open`` directives where first needed, all dated on the
``since`` day, or without one on the day of the first entry (so on or before every use);
beancount sorts by date itself. The notes on trade legs without a partner and on entries of
kind ``other`` are the tax exports' (:mod:`cexledger.export._tax`). The writer returns how
many transactions the file has (:data:`UNIT`), opening balances and ``Unexplained`` ones
included. One pass, memory flat: per chain only its running state is held.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import BinaryIO

from .. import __version__
from .._clock import DAY_MS
from .._json import EXACT
from ..archive import Archive
from ..ledger import Pairing, Trade
from ..model import Kind, LedgerEntry
from ._pipeline import WholeWrites
from ._tax import selected, signed_text, unknown_note, unpaired_note, utc_day

__all__ = ["RESERVED", "UNIT", "account_component", "commodity_name", "write_beancount"]

UNIT = "transactions"
"""What :func:`write_beancount` counts."""

RESERVED = frozenset({"TRUE", "FALSE", "NULL"})
"""Words beancount reads as values (in any case), never as a commodity."""

BEANCOUNT_DIGITS = 28
"""Significant digits of beancount's sums (Python's default decimal context)."""

MAX_NOTES = 20
"""Gap notes written one by one; past this many, one line counts the rest."""

COUNTER = {
    Kind.REALIZED_PNL: ("Income", "Pnl"), Kind.LIQUIDATION: ("Income", "Pnl"),
    Kind.FEE: ("Expenses", "Fees"), Kind.FUNDING: ("Income", "Funding"),
    Kind.INTEREST: ("Expenses", "Interest"), Kind.TRANSFER: ("Equity", "Transfers"),
    Kind.DEPOSIT: ("Equity", "Deposits"), Kind.WITHDRAWAL: ("Equity", "Withdrawals"),
    Kind.BORROW: ("Liabilities", "Loans"), Kind.REPAY: ("Liabilities", "Loans"),
    Kind.TRADE: ("Equity", "Unpaired"), Kind.CONVERT: ("Equity", "Unpaired"),
    Kind.OTHER: ("Equity", "Other"),
}
"""The counter account (root, last component) of each kind's entries."""

OPENING = ("Equity", "Opening-Balances")
UNEXPLAINED = ("Equity", "Unexplained")

_ZERO = Decimal(0)
_COMMODITY = re.compile(r"[A-Z](?:[A-Z0-9'._-]{0,22}[A-Z0-9])?\Z")
_FLUSH = 1 << 16


def _hash4(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:4].upper()


def _is_letter_or_digit(c: str) -> bool:
    cat = unicodedata.category(c)
    return cat[0] == "L" or cat == "Nd"


def account_component(name: str) -> str:
    """A valid account name component for ``name`` (see the module docstring)."""
    runs, run = [], []
    for c in name:
        if _is_letter_or_digit(c):
            run.append(c)
        elif run:
            runs.append("".join(run))
            run = []
    if run:
        runs.append("".join(run))
    text = "".join(r[:1].upper() + r[1:].lower() for r in runs)
    text = "".join(c for c in text if _is_letter_or_digit(c))   # upper() may add marks
    if not text or unicodedata.category(text[0]) not in ("Lu", "Nd"):
        text = "X" + text
    return text


def commodity_name(coin: str) -> str:
    """A valid commodity for the exchange's ``coin`` (see the module docstring)."""
    if _COMMODITY.match(coin) and coin not in RESERVED:
        return coin
    text = "".join(c for c in coin.upper() if c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'._-")
    if not text[:1].isalpha() or text.rstrip("'._-") in RESERVED:
        text = "X" + text
    text = text.rstrip("'._-")
    if len(text) > 24:
        text = f"{text[:19]}-{_hash4(coin)}"
    return text


def _dec(value: Decimal) -> str:
    """An amount's exact text: every digit it has, no exponent (zero as ``0``, never ``-0``)."""
    return format(value, "f") if value else "0"


def _q(text: object) -> str:
    """A beancount string."""
    text = str(text)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


_SPACES = ("exchange", "account", "category", "commodity")


class _Names:
    """Every name of each space fixed before the first line, from all the names the archive
    holds (so an export of any part of it names things alike), each mapping one to one."""

    def __init__(self, notes: list[str],
                 known: Iterable[tuple[str, str, str | None, str | None]]) -> None:
        self.notes = notes
        self._maps: dict[str, dict[str, str]] = {space: {} for space in _SPACES}
        self._taken: dict[str, dict[str, str]] = {space: {} for space in _SPACES}  # name -> original
        self._untold: dict[tuple[str, str], str] = {}     # collision notes, told on first use
        originals: dict[str, set[str]] = {space: set() for space in _SPACES}
        for exchange, account, category, coin in known:
            originals["exchange"].add(exchange)
            originals["account"].add(account)
            originals["category"].add(category or "UNKNOWN")
            originals["commodity"].add(coin or "UNKNOWN")
        for space, names in originals.items():
            # a name that is its own mapping first, then in sorted order: it keeps its name
            mapped = {n: self._mapped(space, n) for n in names}
            for original in sorted(names, key=lambda n: (mapped[n] != n, n)):
                self._name(space, original, mapped[original])

    @staticmethod
    def _mapped(space: str, original: str) -> str:
        return commodity_name(original) if space == "commodity" else account_component(original)

    def _name(self, space: str, original: str, mapped: str) -> str:
        taken, plain, tries = self._taken[space], mapped, 0
        while mapped in taken:
            suffix = "-" + _hash4(original + "#" * tries)
            mapped = (plain[:24 - len(suffix)] if space == "commodity" else plain) + suffix
            tries += 1
        if tries:
            self._untold[(space, original)] = (
                f"beancount: {original!r} and {taken[plain]!r} both map to {plain}; "
                f"{original!r} is written as {mapped}")
        taken[mapped] = original
        self._maps[space][original] = mapped
        return mapped

    def name(self, space: str, original: str) -> str:
        """The name of ``original`` in ``space`` (a name the archive did not hold when the
        export started takes what is left)."""
        known = self._maps[space].get(original)
        if known is None:
            known = self._name(space, original, self._mapped(space, original))
        if self._untold and (space, original) in self._untold:
            self.notes.append(self._untold.pop((space, original)))
        return known


class _Chain:
    """One (exchange, account, category, coin)'s balance: running state only."""

    __slots__ = ("asset", "commodity", "label", "first_day", "known", "pending",
                 "asserting", "group_ts", "group_sum", "group", "last_id", "touched")

    def __init__(self, asset: str, commodity: str, label: str, day: int) -> None:
        self.asset, self.commodity, self.label, self.first_day = asset, commodity, label, day
        self.known: Decimal | None = None     # the balance, once a record reported one
        self.pending = _ZERO                  # sum of entries before the first report
        self.asserting = True
        self.group_ts: int | None = None
        self.group_sum = _ZERO
        self.group: dict[str, list] = {}      # record id -> [sum, balance] at group_ts
        self.last_id: str | None = None       # the record whose balance ``known`` was
        self.touched = False


class _Writer:
    def __init__(self, out: BinaryIO, notes: list[str], names: _Names, since_day: int | None) -> None:
        self.out = WholeWrites(out)
        self.notes = notes
        self.names = names
        self.since_day = since_day
        self.buf: list[str] = []
        self.size = 0
        self.accounts: dict[tuple, str] = {}       # (root, exchange, account, last) -> name
        self.assets: dict[tuple, str] = {}         # (exchange, account, category) -> name
        self.counters: dict[tuple, str] = {}       # (exchange, account, kind) -> name
        self.commodities: dict[str | None, str] = {}
        self.chains: dict[tuple, _Chain] = {}
        self.day: int | None = None
        self.day_text = ""                         # self.date(self.day), set with it
        self.open_day: int | None = since_day
        self.heads: dict[tuple, str] = {}
        self.postings: dict[tuple, tuple[str, str, str, str, str]] = {}
        self.gaps = 0
        self.transactions = 0
        self.unknown = 0

    # output ---------------------------------------------------------------------------
    def emit(self, text: str) -> None:
        self.buf.append(text)
        self.size += len(text)
        if self.size >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.out.write("".join(self.buf).encode())
            self.buf, self.size = [], 0

    def date(self, day: int) -> str:
        return utc_day(day * DAY_MS)

    # names ----------------------------------------------------------------------------
    def account(self, root: str, exchange: str, account: str, last: str, *,
                category: str | None = None) -> str:
        key = (root, exchange, account, last)
        name = self.accounts.get(key)
        if name is None:
            names = self.names
            name = self.accounts[key] = ":".join((root, names.name("exchange", exchange),
                                                  names.name("account", account), last))
            meta = [f"  cexledger-exchange: {_q(exchange)}\n", f"  cexledger-account: {_q(account)}\n"]
            if category is not None:
                meta.append(f"  cexledger-category: {_q(category)}\n")
            self.emit(f"{self.date(self.open_day)} open {name}\n{''.join(meta)}")
        return name

    def asset(self, e: LedgerEntry | Trade) -> str:
        key = (e.exchange, e.account, e.category)
        name = self.assets.get(key)
        if name is None:
            category = e.category if e.category is not None else "UNKNOWN"
            last = self.names.name("category", category)
            name = self.assets[key] = self.account("Assets", e.exchange, e.account, last,
                                                   category=category)
        return name

    def counter(self, e: LedgerEntry) -> str:
        key = (e.exchange, e.account, e.kind)
        name = self.counters.get(key)
        if name is None:
            root, last = COUNTER[e.kind]
            name = self.counters[key] = self.account(root, e.exchange, e.account, last)
        return name

    def commodity(self, coin: str | None) -> str:
        name = self.commodities.get(coin)
        if name is None:
            original = coin or "UNKNOWN"
            name = self.commodities[coin] = self.names.name("commodity", original)
            self.emit(f"{self.date(self.open_day)} commodity {name}\n  name: {_q(original)}\n")
        return name

    def head(self, e: LedgerEntry) -> str:
        """A record transaction's text from its flag to its ``record-id:`` key (the
        narration, stream and exchange type are few: cached)."""
        key = (e.exchange, e.kind, e.category, e.symbol, e.stream, e.exchange_type)
        text = self.heads.get(key)
        if text is None:
            kind = _q(e.exchange_type)
            text = self.heads[key] = (
                f" * {_q(_narration(e.kind, e))}\n  stream: {_q(e.stream)}\n"
                + (f"  exchange-type: {kind}\n" if e.exchange_type else "") + "  record-id: ")
        return text

    def time(self, ts: int) -> str:
        """The ``time:`` line of ``ts`` (in the current day), newline first."""
        seconds, ms = divmod(ts - self.day * DAY_MS, 1000)
        h, rest = divmod(seconds, 3600)
        m, s = divmod(rest, 60)
        return f'\n  time: "{self.day_text}T{h:02}:{m:02}:{s:02}.{ms:03}Z"\n'

    # the ledger -----------------------------------------------------------------------
    def start_day(self, ts: int) -> None:
        day = ts // DAY_MS
        if self.open_day is None:
            self.open_day = day
        if day != self.day:
            if self.day is not None:
                self.end_day()
            self.day = day
            self.day_text = self.date(day)

    def record(self, entries: list[LedgerEntry]) -> None:
        first = entries[0]
        self.start_day(first.ts)
        asset = self.asset(first)
        lines = [self.day_text, self.head(first), _q(first.record_id),
                 self.time(first.ts)]
        postings, append = self.postings, lines.append
        for e in entries:
            amount = e.amount
            key = (asset, e.exchange, e.account, e.kind, e.coin)
            parts = postings.get(key)
            if parts is None:
                parts = postings[key] = self.posting_parts(asset, e)
            if amount:
                append(f"{parts[0]}{amount:f}{parts[1]}{e.seq}{parts[2]}{amount.copy_negate():f}{parts[3]}")
            else:
                append(f"{parts[0]}0{parts[1]}{e.seq}{parts[2]}0{parts[3]}")
            self.chain_add(e, parts[4])
            if amount and e.kind is Kind.OTHER:
                self.unknown += 1
        self.emit("".join(lines))
        self.transactions += 1

    def posting_parts(self, asset: str, e: LedgerEntry) -> tuple[str, str, str, str, str]:
        """The constant texts around an entry's amount, seq and negated amount, and its
        commodity."""
        cur, counter = self.commodity(e.coin), self.counter(e)
        return (f"  {asset}  ", f" {cur}\n    seq: ", f"\n    kind: \"{e.kind.value}\"\n  {counter}  ",
                f" {cur}\n", cur)

    def trade(self, t: Trade) -> None:
        self.start_day(t.ts)
        asset = self.asset(t)
        (coin_in, got), (coin_out, paid) = t.received, t.sent
        cur_in, cur_out = self.commodity(coin_in), self.commodity(coin_out)
        types = " ".join(dict.fromkeys(e.exchange_type or "" for e in t.entries)).strip()
        lines = [f"{self.date(self.day)} * {_q(_narration(t.kind, t))}\n",
                 f"  record-ids: {_q(' '.join(t.record_ids))}\n",
                 f"  stream: {_q(' '.join(dict.fromkeys(e.stream for e in t.entries)))}\n"]
        if types:
            lines.append(f"  exchange-type: {_q(types)}\n")
        lines += [f"  time: {_q(_time(t.ts))}\n",
                  f"  {asset}  {_dec(got)} {cur_in} @@ {_dec(paid.copy_negate())} {cur_out}\n",
                  f"  {asset}  {_dec(paid)} {cur_out}\n"]
        if t.fees:
            fees = self.account("Expenses", t.exchange, t.account, "Fees")
            for coin, fee in t.fees:
                cur = self.commodity(coin)
                lines.append(f"  {asset}  {_dec(fee)} {cur}\n")
                lines.append(f"  {fees}  {_dec(fee.copy_negate())} {cur}\n")
        self.emit("".join(lines))
        self.transactions += 1
        for e in t.entries:
            self.chain_add(e, self.commodity(e.coin))

    # balance chains ---------------------------------------------------------------------
    def chain_add(self, e: LedgerEntry, cur: str) -> None:
        key = (e.exchange, e.account, e.category, e.coin)
        chain = self.chains.get(key)
        if chain is None:
            label = f"{e.exchange} {e.account} {e.category} {e.coin}"
            chain = self.chains[key] = _Chain(self.asset(e), cur, label, self.day)
        if e.ts != chain.group_ts:
            self.close_group(chain, key)
            chain.group_ts = e.ts
        chain.touched = True
        amount = e.amount
        chain.group_sum = EXACT.add(chain.group_sum, amount)
        slot = chain.group.get(e.record_id)
        if slot is None:
            chain.group[e.record_id] = [EXACT.add(_ZERO, amount), e.balance]
            return
        slot[0] = EXACT.add(slot[0], amount)
        if e.balance is not None:
            slot[1] = e.balance

    def close_group(self, chain: _Chain, key: tuple) -> None:
        group, total = chain.group, chain.group_sum
        reported = [(rid, b) for rid, (_, b) in group.items() if b is not None]
        if not reported:
            if chain.known is None:
                chain.pending = EXACT.add(chain.pending, total)
            else:
                chain.known = EXACT.add(chain.known, total)
        elif chain.known is None:
            before = EXACT.add(chain.pending, total)
            firsts = {EXACT.subtract(EXACT.subtract(b, group[rid][0]), chain.pending)
                      for rid, b in reported}
            lasts = [(rid, EXACT.subtract(b, before)) for rid, b in reported]
            rid, opening = next(((r, o) for r, o in lasts if o in firsts), _last(lasts))
            chain.known = EXACT.add(opening, before)
            chain.last_id = rid
            self.opening(chain, key, opening)
        else:
            expected = EXACT.add(chain.known, total)
            match = next((rid for rid, b in reported if b == expected), None)
            if match is None:
                rid, balance = _last(reported)
                self.unexplained(chain, key, rid, EXACT.subtract(balance, expected))
                expected, match = balance, rid
            chain.known, chain.last_id = expected, match
        chain.group, chain.group_sum = {}, _ZERO

    def opening(self, chain: _Chain, key: tuple, amount: Decimal) -> None:
        exchange, account = key[0], key[1]
        equity = self.account(OPENING[0], exchange, account, OPENING[1])
        day = chain.first_day if self.since_day is None else self.since_day
        self.transactions += 1
        self.emit(f"{self.date(day)} * {_q('opening balance: ' + chain.label)}\n"
                  f"  {chain.asset}  {signed_text(amount)} {chain.commodity}\n"
                  f"  {equity}  {signed_text(amount.copy_negate())} {chain.commodity}\n")

    def unexplained(self, chain: _Chain, key: tuple, rid: str, amount: Decimal) -> None:
        exchange, account = key[0], key[1]
        equity = self.account(UNEXPLAINED[0], exchange, account, UNEXPLAINED[1])
        after = chain.last_id or ""
        self.emit(f"{self.date(self.day)} * {_q('balance chain breaks: ' + chain.label)}\n"
                  f"  after-record-id: {_q(after)}\n  record-id: {_q(rid)}\n"
                  f"  {chain.asset}  {signed_text(amount)} {chain.commodity}\n"
                  f"  {equity}  {signed_text(amount.copy_negate())} {chain.commodity}\n")
        self.gaps += 1
        self.transactions += 1
        if self.gaps <= MAX_NOTES:
            self.notes.append(
                f"beancount: {chain.label}: the balance after record {after} plus the "
                f"entries up to record {rid} is off by {signed_text(amount)} (records missing from "
                f"the archive?); booked to {equity} on {self.date(self.day)}")

    def end_day(self) -> None:
        assert self.day is not None
        date = self.date(self.day + 1)
        for key, chain in self.chains.items():
            if not chain.touched:
                continue
            chain.touched = False
            self.close_group(chain, key)
            chain.group_ts = None
            if chain.known is None or not chain.asserting:
                continue
            # an exact sum keeps its addends' smallest exponent: its digits are the digits
            # beancount's sum of the same postings needs
            digits = len(chain.known.as_tuple().digits)
            if digits > BEANCOUNT_DIGITS:
                chain.asserting = False
                self.notes.append(f"beancount: {chain.label}: balances need {digits} significant "
                                  f"digits, beancount sums with {BEANCOUNT_DIGITS}: no assertions "
                                  f"from {date} on")
                continue
            self.emit(f"{date} balance {chain.asset}  {signed_text(chain.known)} ~ 0 {chain.commodity}\n")

    def finish(self, unpaired: int) -> None:
        if self.day is not None:
            self.end_day()
        self.flush()
        for note in (unpaired_note(unpaired, "movements against Equity:<Exchange>:<Account>:Unpaired"),
                     unknown_note(self.unknown, "movements against Equity:<Exchange>:<Account>:Other")):
            if note:
                self.notes.append(note)
        if self.gaps > MAX_NOTES:
            self.notes.append(f"beancount: {self.gaps - MAX_NOTES} more balance chain breaks "
                              "(see the Unexplained transactions)")


def _last(pairs: list[tuple[str, Decimal]]) -> tuple[str, Decimal]:
    """The pair of the record last in the exchange's order: by numeric id where every id is
    a number (Bitget's ids grow with time), else the last met."""
    if all(rid.isdigit() for rid, _ in pairs):
        return max(pairs, key=lambda p: int(p[0]))
    return pairs[-1]


def _narration(kind: Kind, e: LedgerEntry | Trade) -> str:
    return " ".join(x for x in (e.exchange, kind.value, e.category, e.symbol) if x)


def _time(ts: int) -> str:
    seconds, ms = divmod(ts % DAY_MS, 1000)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{utc_day(ts)}T{h:02}:{m:02}:{s:02}.{ms:03}Z"


def _header(archive: Archive, filters: dict[str, object]) -> str:
    chosen = ", ".join(f"{k} {v}" for k, v in filters.items() if v is not None) or "none"
    return (f"; Beancount ledger written by cexledger {__version__} (cexledger export -f beancount)\n"
            f"; archive: {archive.display_url}\n"
            f"; filters: {chosen}\n"
            "; One transaction per ledger record or paired spot trade, record ids as metadata;\n"
            "; original exchange, account, category and coin names are the metadata of the\n"
            "; open and commodity directives. Balance assertions are exact (~ 0).\n\n")


def write_beancount(archive: Archive, out: BinaryIO, *, account: str | None = None,
                    exchange: str | None = None, since_ms: int | None = None,
                    until_ms: int | None = None, notes: list[str] | None = None) -> int:
    """Write the ledger as Beancount; returns the number of transactions written (records,
    trades, opening balances and adjustments: every transaction of the file)."""
    notes = notes if notes is not None else []
    names = _Names(notes, archive.entry_names())
    w = _Writer(out, notes, names, None if since_ms is None else since_ms // DAY_MS)
    w.emit(_header(archive, {"account": account, "exchange": exchange,
                             "since": None if since_ms is None else _time(since_ms),
                             "until": None if until_ms is None else _time(until_ms)}))
    pairing = Pairing(selected(archive, account, exchange, since_ms, until_ms))
    for group in _records(pairing):
        if isinstance(group, Trade):
            w.trade(group)
        else:
            w.record(group)
    w.finish(pairing.unpaired)
    return w.transactions


def _records(items: Iterable[Trade | LedgerEntry]) -> Iterable[Trade | list[LedgerEntry]]:
    """Trades as they are; consecutive entries of one record as one list."""
    held: list[LedgerEntry] = []
    for item in items:
        if isinstance(item, Trade):
            if held:
                yield held
                held = []
            yield item
            continue
        if held:
            first = held[0]
            if (item.record_id != first.record_id or item.stream != first.stream
                    or item.exchange != first.exchange or item.account != first.account):
                yield held
                held = []
        held.append(item)
    if held:
        yield held
