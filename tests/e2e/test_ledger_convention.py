"""The ledger convention on real synced data, in both sandbox dialects.

A sandbox (two Bitget accounts with their tax keys, one CoinW account) is synced over HTTP on
127.0.0.1 into a fresh archive by the engine ``cexledger demo`` runs, at the demo's rate
scale (a year of tax records at a real 1 request/s would take minutes). Then:

- every record of every stream (Bitget financial records, funding wallet and tax records;
  CoinW deals) gives entries that sum exactly to what its raw bytes say it moved, its fee
  an entry of its own and its balance on its last entry;
- the spot and margin legs the sandbox booked pair into exactly the fills it generated
  (its ground truth grouped by category, symbol and ``ts``), with their amounts and fees,
  and each account's one deliberately unpaired leg is the only leg left without a partner.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from cexledger import _json
from cexledger._clock import DAY_MS
from cexledger._json import EXACT
from cexledger.archive import Archive
from cexledger.config import load_config
from cexledger.demo import DEMO_RATE_SCALE, write_sandbox_config
from cexledger.exchanges.bitget.normalize import FUNDING_STREAM, STREAM as FINANCIAL, TAX_STREAM
from cexledger.ledger import Filters, Pairing, Trade, read_entries
from cexledger.model import Kind, LedgerEntry, StreamKey
from cexledger.sandbox import SandboxConfig, SandboxServer
from cexledger.sandbox.bitget_data import CATEGORIES
from cexledger.sync import sync_accounts

LEG_TYPES = {"ORDER_DEALT_IN": Kind.TRADE, "ORDER_DEALT_FROZEN_OUT": Kind.TRADE,
             "EXCHANGE_SOURCE_TOKEN_USER_OUT": Kind.CONVERT, "EXCHANGE_TARGET_TOKEN_USER_IN": Kind.CONVERT}
"""The types the sandbox books a fill's or a conversion's legs with, and their kinds."""


def _dec(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@pytest.fixture(scope="module", params=["standard", "variant"])
def synced(request, tmp_path_factory):
    """(sandbox state, archive URL) of a sandbox of one dialect synced into a new archive."""
    tmp: Path = tmp_path_factory.mktemp(f"ledger-{request.param}")
    config = SandboxConfig(seed=13, records=1500, bitget_accounts=2, coinw_accounts=1,
                           dialect=request.param, rate_limit_scale=DEMO_RATE_SCALE)
    with SandboxServer(config) as server:
        listed = httpx.get(f"{server.url}/_sandbox/accounts", timeout=10).json()["accounts"]
        write_sandbox_config(tmp / "config.toml", server.url, listed)
        accounts = list(load_config(tmp / "config.toml").accounts.values())
        url = f"sqlite:///{tmp / 'archive.db'}"
        with Archive.open(url) as archive:
            report = asyncio.run(sync_accounts(accounts, archive, rate_scale=DEMO_RATE_SCALE))
        assert report.ok, [line for acc in report.accounts for line in acc.error_lines()]
        yield server.state, url


def _truth(state, exchange: str, account: str, stream: str | None = None, partition: str | None = None):
    return [_json.loads(raw) for raw in state.truth(exchange, account, stream, partition)]


# -- every record's entries sum to what it moved -------------------------------------------

def _check_bitget(row: dict, entries: list[LedgerEntry], seen: Counter) -> None:
    amount, fee = _dec(row["amount"]), _dec(row.get("fee", 0))
    assert EXACT.add(amount, fee) == sum((e.amount for e in entries), Decimal(0)), row
    if fee:
        *rest, last = entries
        assert (last.kind, last.amount) == (Kind.FEE, fee), row          # the fee, as signed
        assert len(rest) == (1 if amount else 0), row                  # a zero amount: no entry
        seen["fee" if amount else "fee alone"] += 1
        seen["rebate"] += fee > 0
    else:
        assert [e.amount for e in entries] == [amount], row            # no fee: no fee entry
        seen["no fee"] += 1
        seen["nothing moved"] += not amount
    assert all(e.balance is None for e in entries[:-1]), row           # balance: the last entry's
    assert entries[-1].balance == _dec(row["balance"]), row


def _check_funding(row: dict, entries: list[LedgerEntry], seen: Counter) -> None:
    (entry,) = entries                                                 # no fee on the endpoint
    assert (entry.amount, entry.balance) == (_dec(row["amount"]), _dec(row["balance"])), row
    seen["funding"] += 1


def _check_coinw(row: dict, entries: list[LedgerEntry], seen: Counter) -> None:
    """The rows the sandbox writes: ``status`` ``close`` (settled), ``open`` or ``vcancel``;
    ``fee`` and ``fundingFee`` positive when paid (``coinw/normalize.py``)."""
    fee = _dec(row["fee"])
    fees = [e.amount for e in entries if e.kind is Kind.FEE]
    assert fees == ([-fee] if fee else []), row
    if row["status"] == "close":
        assert sum((e.amount for e in entries), Decimal(0)) == _dec(row["netProfit"]), row
        funding = _dec(row["fundingFee"])
        assert [e.amount for e in entries if e.kind is Kind.FUNDING] == ([-funding] if funding else []), row
        seen["settled"] += 1
        seen["settled with funding"] += bool(funding)
    else:                                                              # not settled: the fee only
        assert [e.kind for e in entries] == [Kind.FEE] * bool(fee), row
        seen["unsettled"] += 1
        seen["no entry"] += not entries
    assert all(e.balance is None for e in entries), row                # CoinW gives none


CHECKS = {("bitget", FINANCIAL): _check_bitget, ("bitget", TAX_STREAM): _check_bitget,
          ("bitget", FUNDING_STREAM): _check_funding, ("coinw", "deals-history"): _check_coinw}


def test_every_records_entries_sum_to_what_its_raw_bytes_moved(synced):
    state, url = synced
    seen: Counter = Counter()
    with Archive.open(url, read_only=True) as archive:
        entries: dict[tuple, list[LedgerEntry]] = defaultdict(list)
        for e in archive.iter_entries():                # every entry, shadowed tax ones too
            entries[(e.account, e.exchange, e.stream, e.record_id)].append(e)
        archived: Counter = Counter()
        for record in archive.iter_records():
            key = record.key
            got = sorted(entries.pop((key.account, key.exchange, key.stream, record.record_id), []),
                         key=lambda e: e.seq)
            assert [e.seq for e in got] == list(range(len(got)))
            CHECKS[(key.exchange, key.stream)](_json.loads(record.raw), got, seen)
            archived[(key.account, key.stream)] += 1
        assert not entries, "entries without their record"
        # every stream of every account was archived whole, so every row was checked (tax
        # records are read where financial records do not reach: their coverage)
        for account in state.accounts:
            name = account.name
            for stream in ((FINANCIAL, FUNDING_STREAM, TAX_STREAM) if account.exchange == "bitget"
                           else ("deals-history",)):
                truth = _truth(state, account.exchange, name, stream)
                if stream == TAX_STREAM:
                    covered = [span for category in CATEGORIES
                               for span in archive.coverage(StreamKey(name, "bitget", TAX_STREAM, category))]
                    truth = [r for r in truth if any(s <= int(r["ts"]) < e for s, e in covered)]
                assert archived[(name, stream)] == len(truth) > 0, (name, stream)
    # the data held every case the convention names
    for case in ("fee", "fee alone", "rebate", "no fee", "funding", "settled", "settled with funding",
                 "unsettled", "no entry"):
        assert seen[case], f"no {case!r} row: the test would prove less than it says"


# -- spot legs pair into the fills the sandbox booked ---------------------------------------

def _fills(state, account: str) -> tuple[dict[tuple, dict], int]:
    """The sandbox's fills and conversions of ``account`` in the ledger's time (financial
    records for the servable 90 days, tax records for the older rows only they serve):
    (category, symbol, ts, kind) -> {"in": {coin: sum}, "out": {...}, "fees": {...}}, and the
    number of legs that are no such pair."""
    servable = state.t0 - 90 * DAY_MS
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for category in CATEGORIES:
        rows = [(r, r.get("symbol") or None) for r in _truth(state, "bitget", account, None, category)]
        rows += [(r, None) for r in _truth(state, "bitget", account, TAX_STREAM, category)  # no symbol there
                 if int(r["ts"]) < servable]
        for row, symbol in rows:
            kind = LEG_TYPES.get(row["type"])
            if kind is not None and _dec(row["amount"]):
                groups[(category, symbol, int(row["ts"]), kind)].append(row)
    fills, lone = {}, 0
    for key, legs in groups.items():
        sums: dict[str, Decimal] = defaultdict(Decimal)
        fees: dict[str, Decimal] = defaultdict(Decimal)
        for leg in legs:
            sums[leg["coin"]] += _dec(leg["amount"])
            if _dec(leg.get("fee", 0)):
                fees[leg["coin"]] += _dec(leg["fee"])
        into = [c for c, v in sums.items() if v > 0]
        out = [c for c, v in sums.items() if v < 0]
        if len(into) == len(out) == 1 and len(sums) == 2:
            fills[key] = {"in": (into[0], sums[into[0]]), "out": (out[0], sums[out[0]]), "fees": dict(fees)}
        else:
            lone += len(legs)
    return fills, lone


def test_spot_legs_pair_into_exactly_the_fills_the_sandbox_booked(synced):
    state, url = synced
    for account in state.accounts:
        if account.exchange != "bitget":
            continue
        fills, lone = _fills(state, account.name)
        assert lone == 1, "the sandbox books one unpaired leg per account"
        assert sum(k[3] is Kind.TRADE for k in fills) > 50 and sum(k[3] is Kind.CONVERT for k in fills) > 3
        assert any(k[0] == "MARGIN" for k in fills) and any(k[2] < state.t0 - 90 * DAY_MS for k in fills)
        with Archive.open(url, read_only=True) as archive:
            pairing = Pairing(read_entries(archive, Filters(account=account.name)))
            trades = [item for item in pairing if isinstance(item, Trade)]
        got = {(t.category, t.symbol, t.ts, t.kind): {"in": t.received, "out": t.sent, "fees": dict(t.fees)}
               for t in trades}
        assert len(got) == len(trades) == pairing.trades
        assert got.keys() == fills.keys(), (len(got.keys() - fills.keys()), len(fills.keys() - got.keys()))
        for key, fill in fills.items():
            assert got[key] == fill, key
        assert pairing.unpaired == 1
