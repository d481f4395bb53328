"""CPU per row: real Bitget pages recorded once, replayed with no network and no limiter.

``record(url, account, path)`` runs cexledger's real sync engine in-process (the Bitget
connector's clients handed an ``httpx.AsyncClient`` whose transport keeps
every response body) against a sandbox with latency 0 and no rate limit, and saves the
(query, body) pairs.

``python benchmarks/_replay.py PAGES WORKDIR`` (a subprocess pinned to one core with
``os.sched_setaffinity``) replays them through ``BitgetClient.financial_records`` over an
``httpx.MockTransport`` (limiter out of the way with ``rate=1e9``) — the client's signing,
envelope and row parsing, normalization — then ``Archive.write_page`` into SQLite, with a
checkpoint per page and coverage on each window's last page, as ``WindowWork`` does.
It prints JSON: rows/s of the whole path (median of three runs), of parsing alone, of
writing alone and of bare ``sqlite3`` inserting the same rows (the floor under the archive),
µs per row of each parsing stage, a cProfile of the whole path, and ccxt's
``parse_ledger`` on the same decoded rows.

``python benchmarks/_replay.py --writes PAGES WORKDIR POSTMASTER_PID WRITERS PG_URL PG_URL…`` writes
the same parsed pages into SQLite and PostgreSQL alternately (figure 11's write path beside
SQLite's; one PostgreSQL archive per ``PG_URL`` after the first), then, into the first
``PG_URL``, by ``WRITERS`` threads at once, each an account of its own (what PostgreSQL's
cost per row becomes when many accounts write, as in figure 12).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pickle
import pstats
import statistics
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl

import httpx
import msgspec

from cexledger.archive import Archive, NewPages
from cexledger.config import Account
from cexledger.exchanges import registry
from cexledger.exchanges.bitget.streams import FINANCIAL, BitgetConnector
from cexledger.exchanges.bitget.client import BitgetClient, BitgetCredentials
from cexledger.model import StreamKey
from cexledger.sandbox.bitget import PATH as FINANCIAL_PATH
from cexledger.sync import sync_accounts

Page = tuple[bytes, bytes]  # (query string as sent, response body)
REPEATS = 3
PROFILE_PAGES = 300


class _Recorder(httpx.AsyncBaseTransport):
    """Keeps the financial-records pages of a sync (the other streams it runs are not replayed)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.pages: list[Page] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if response.status_code == 200 and request.url.path == FINANCIAL_PATH:
            self.pages.append((request.url.query, body))
        return httpx.Response(response.status_code, headers=response.headers, content=body,
                              request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Recording(BitgetConnector):
    """The Bitget connector with every client on one recording ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def open(self, account: Account, stats: Any, limiters: Any = None, http: Any = None) -> Any:
        return super().open(account, stats, limiters, http=self.http)


def record(url: str, sandbox_account: dict[str, str], out: Path, db: Path) -> dict[str, Any]:
    """Record the pages of one real Bitget backfill (the engine's own requests)."""
    account = Account(
        name=sandbox_account["name"], exchange="bitget", api_key=sandbox_account["api_key"],
        api_secret=sandbox_account["api_secret"], passphrase=sandbox_account["passphrase"],
        base_url=url, rate_limit=1e6,
    )

    async def go() -> Any:
        recorder = _Recorder()
        async with httpx.AsyncClient(transport=recorder) as http:
            connector = _Recording(http)
            with mock.patch.dict(registry, {"bitget": connector}), Archive.open(f"sqlite:///{db}") as archive:
                report = await sync_accounts([account], archive)
        return recorder.pages, report

    pages, report = asyncio.run(go())
    if not report.ok:
        raise RuntimeError(f"recording sync failed: {report.accounts[0].errors}")
    out.write_bytes(pickle.dumps(pages))
    return {"pages": len(pages), "bytes": sum(len(b) for _, b in pages)}


def _params(query: bytes) -> dict[str, str]:
    return dict(parse_qsl(query.decode()))


def _client(pages: list[Page]) -> tuple[BitgetClient, httpx.AsyncClient]:
    bodies = dict(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[request.url.query],
                              headers={"content-type": "application/json"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    creds = BitgetCredentials(api_key="bg_replay", api_secret="replay-secret", passphrase="replay")
    return BitgetClient("replay", creds, base_url="http://replay.invalid", http=http, rate=1e9), http


async def _fetch(client: BitgetClient, query: bytes) -> Any:
    """One page through the client and the stream's normalizer, as a sync reads it."""
    p = _params(query)
    page = await client.financial_records(
        p["category"], start_ms=int(p["startTime"]), end_ms=int(p["endTime"]),
        cursor=p.get("cursor"), limit=int(p["limit"]),
    )
    records, _ = FINANCIAL.normalizer.page("replay", p["category"], page.rows)
    return types.SimpleNamespace(records=records, cursor=page.cursor, rows=len(page.rows))


async def _parse_all(pages: list[Page]) -> list[tuple[bytes, Any]]:
    client, http = _client(pages)
    try:
        return [(q, await _fetch(client, q)) for q, _ in pages]
    finally:
        await http.aclose()


def _write(archive: Archive, query: bytes, page: Any, new_pages: NewPages, account: str = "replay",
           records: Any = None) -> None:
    """One page as the sync engine writes it (its checkpoint, its coverage, its guess of
    whether the page is new); ``records`` in place of the page's own (an other account's copy)."""
    p = _params(query)
    key = StreamKey(account, "bitget", "financial-records", p["category"])
    start, end = int(p["startTime"]), int(p["endTime"])
    done = page.cursor is None
    result = archive.write_page(
        key, page.records if records is None else records, slot=f"{start}-{end}",
        state=None if done else {"start": start, "end": end, "cursor": page.cursor},
        done=done, cover=(start, end) if done else None, expect_new=new_pages.expected(key),
    )
    new_pages.written(key, result)


async def _full(pages: list[Page], archive: Archive) -> int:
    client, http = _client(pages)
    rows = 0
    new_pages = NewPages()
    try:
        for query, _ in pages:
            page = await _fetch(client, query)
            _write(archive, query, page, new_pages)
            rows += page.rows
    finally:
        await http.aclose()
    return rows


def _profile_top(profile: cProfile.Profile, n: int = 15) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({
            "function": f"{_short(filename)}:{line}({func})",
            "calls": ncalls, "tottime_s": round(tottime, 3), "cumtime_s": round(cumtime, 3),
            "tottime_share": round(tottime / total, 3) if total else None,
        })
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:n]


def _short(filename: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _breakdown(pages: list[Page], rows: int) -> dict[str, float] | str:
    """µs per row of each stage of the parse path and of the entries' row building, timed one
    at a time with the engine's own (private) functions; "unavailable" if they have moved."""
    try:
        from cexledger._json import loads
        from cexledger.archive import writes
        from cexledger.archive.schema import exact_decimal
        from cexledger.exchanges._classify import envelope_decoder
        from cexledger.exchanges.bitget import client as bitget_client
        from cexledger.exchanges.bitget.normalize import bitget_record
    except ImportError as exc:
        return f"unavailable ({exc})"
    out: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        start = time.perf_counter()
        value = fn()
        out[name] = round((time.perf_counter() - start) * 1e6 / max(1, rows), 2)
        return value

    data = timed("envelope_and_page_decode", lambda: [
        bitget_client._parse(envelope_decoder.decode(body).data) for _, body in pages])
    raws = [bytes(r) for d in data for r in (d.rows or [])]
    decoded = timed("row_decode_exact_json", lambda: [loads(r) for r in raws])
    records = timed("normalize_bitget_record", lambda: [
        bitget_record("replay", "USDT-FUTURES", r, d) for r, d in zip(raws, decoded)])
    exact = exact_decimal("sqlite")
    key = StreamKey("replay", "bitget", "financial-records", "USDT-FUTURES")
    timed("entry_rows_for_sqlite", lambda: [writes._entry_rows(1, key, r, exact) for r in records])
    return out


def _sqlite_floor(parsed: list[tuple[bytes, Any]], workdir: Path) -> dict[str, Any]:
    """What SQLite alone costs for these rows on this machine: the rows ``write_page``
    stores for them (records and entries, built beforehand with the engine's own row
    builder), inserted with bare ``sqlite3`` into a fresh archive's schema with the engine's
    pragmas, ``executemany`` per table and one transaction per page — nothing else (no
    lookup of existing ids, no checkpoint, no coverage)."""
    import sqlite3

    from cexledger.archive import writes
    from cexledger.archive.schema import entries as entries_table
    from cexledger.archive.schema import exact_decimal

    db = workdir / "replay-floor.db"
    Archive.open(f"sqlite:///{db}").close()           # the schema, by the real migrations
    exact = exact_decimal("sqlite")
    sids: dict[str, int] = {}
    pages = []
    for query, page in parsed:
        category = _params(query)["category"]
        sid = sids.setdefault(category, len(sids) + 1)
        key = StreamKey("replay", "bitget", "financial-records", category)
        pages.append((
            [(sid, r.record_id, r.ts, r.raw, r.mutable, 1, 0) for r in page.records],
            [row for r in page.records for row in writes._entry_rows(sid, key, r, exact)],
        ))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executemany("INSERT INTO streams (id, account, exchange, stream, partition) VALUES (?, ?, ?, ?, ?)",
                         [(sid, "replay", "bitget", "financial-records", c) for c, sid in sids.items()])
        rows = sum(len(records) for records, _ in pages)
        start = time.perf_counter()
        for records, entries in pages:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", records)
            conn.executemany(f"INSERT OR IGNORE INTO entries VALUES ({', '.join('?' * len(entries_table.columns))})", entries)
            conn.execute("COMMIT")
        seconds = time.perf_counter() - start
    finally:
        conn.close()
    return {"rows": rows, "rows_per_s": round(rows / seconds, 1), "us_per_row": round(seconds * 1e6 / rows, 2)}


def replay(pages_path: Path, workdir: Path) -> dict[str, Any]:
    pages: list[Page] = pickle.loads(pages_path.read_bytes())
    result: dict[str, Any] = {"pages": len(pages), "cpus": sorted(os.sched_getaffinity(0))}

    # parse + normalize only
    start = time.perf_counter()
    parsed = asyncio.run(_parse_all(pages))
    parse_s = time.perf_counter() - start
    rows = sum(p.rows for _, p in parsed)
    result["rows"] = rows
    result["parse_rows_per_s"] = round(rows / parse_s, 1)

    # archive only (pre-parsed records)
    with Archive.open(f"sqlite:///{workdir / 'replay-write.db'}") as archive:
        start = time.perf_counter()
        new_pages = NewPages()
        for query, page in parsed:
            _write(archive, query, page, new_pages)
        write_s = time.perf_counter() - start
    result["write_rows_per_s"] = round(rows / write_s, 1)
    result["sqlite_floor"] = _sqlite_floor(parsed, workdir)
    del parsed

    # the whole path: the figure (median of REPEATS runs, each into a fresh database)
    runs = []
    for i in range(REPEATS):
        with Archive.open(f"sqlite:///{workdir / f'replay-full-{i}.db'}") as archive:
            start = time.perf_counter()
            full_rows = asyncio.run(_full(pages, archive))
            runs.append(full_rows / (time.perf_counter() - start))
            archived = archive.count_records()
    result["full_rows_per_s"] = round(statistics.median(runs), 1)
    result["full_rows_per_s_runs"] = [round(r, 1) for r in runs]
    result["archived"] = archived
    result["us_per_row"] = {
        "parse_normalize": round(1e6 / result["parse_rows_per_s"], 2),
        "write_page": round(1e6 / result["write_rows_per_s"], 2),
        "full": round(1e6 / result["full_rows_per_s"], 2),
        "target_full": round(1e6 / 50_000, 2),
    }

    result["breakdown_us_per_row"] = _breakdown(pages, rows)

    # where the whole path's CPU goes (a prefix of the pages: the profile is slow)
    sample = pages[:PROFILE_PAGES]
    with Archive.open(f"sqlite:///{workdir / 'replay-profile.db'}") as archive:
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(_full(sample, archive))
        profile.disable()
    result["profile_pages"] = len(sample)
    result["profile_top"] = _profile_top(profile)

    # ccxt's parse_ledger on the same rows (a prefix of the pages), decoded beforehand
    try:
        from _ccxt import parse_ledger_rate

        decoded = [json.loads(body)["data"]["list"] or [] for _, body in sample]
        result["ccxt_parse_ledger"] = parse_ledger_rate(decoded)
    except ImportError:
        result["ccxt_parse_ledger"] = None
    return result


def _pg_conninfo(url: str) -> str:
    """The libpq URL of a SQLAlchemy ``postgresql+psycopg://`` one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class _Server:
    """What PostgreSQL spends between ``start()`` and ``stop()``: CPU (user, system) of its
    processes, the WAL it writes and the bytes it writes in all (WAL, data files, sockets)."""

    def __init__(self, postmaster: int, url: str) -> None:
        self.postmaster, self.conninfo = postmaster, _pg_conninfo(url)

    def _now(self) -> tuple[float, float, int, int]:
        import psycopg
        from _postgres import server_cpu_split, server_written_bytes, wal_position

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return (*server_cpu_split(self.postmaster), wal_position(conn), server_written_bytes(self.postmaster))

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> tuple[float, float, int, int]:
        """(user s, system s, WAL bytes, bytes written) since ``start()``."""
        end = self._now()
        return tuple(e - s for e, s in zip(end, self._start))  # type: ignore[return-value]


def compare_writes(pages_path: Path, workdir: Path, pg_urls: list[str], postmaster: int) -> dict[str, Any]:
    """The same pre-parsed pages written by ``Archive.write_page`` into SQLite and into
    PostgreSQL, alternately, each run into a fresh archive (one of ``pg_urls`` per PostgreSQL
    run): µs per row of wall time, of this process's CPU and of the server's (PostgreSQL's
    processes, read from ``/proc``; SQLite runs inside this process), and PostgreSQL's
    system time, WAL and bytes written in all, per row."""
    pages: list[Page] = pickle.loads(pages_path.read_bytes())
    parsed = asyncio.run(_parse_all(pages))
    rows = sum(p.rows for _, p in parsed)
    runs: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    archived: set[int] = set()
    for i, pg_url in enumerate(pg_urls):
        for backend, url in (("sqlite", f"sqlite:///{workdir / f'replay-compare-{i}.db'}"), ("postgresql", pg_url)):
            with Archive.open(url) as archive:
                server = _Server(postmaster, url) if backend == "postgresql" else None
                if server is not None:
                    server.start()
                new_pages = NewPages()
                wall, cpu = time.perf_counter(), time.process_time()
                for query, page in parsed:
                    _write(archive, query, page, new_pages)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                user, system, wal, written = server.stop() if server is not None else (0.0, 0.0, 0, 0)
                archived.add(archive.count_records())
            run = {"wall": wall * 1e6 / rows, "client_cpu": cpu * 1e6 / rows,
                   "server_cpu": (user + system) * 1e6 / rows, "cpu": (cpu + user + system) * 1e6 / rows}
            if server is not None:
                run.update(server_system=system * 1e6 / rows, wal_bytes_per_row=wal / rows,
                           written_bytes_per_row=written / rows)
            runs[backend].append(run)
    if len(archived) != 1:
        raise RuntimeError(f"the backends archived different record counts: {sorted(archived)}")
    out: dict[str, Any] = {"rows": rows, "archived": archived.pop(), "pages": len(pages), "repeats": len(pg_urls),
                           "cpus": sorted(os.sched_getaffinity(0))}
    for backend, measured in runs.items():
        out[backend] = {k: round(statistics.median(r[k] for r in measured), 2) for k in measured[0]}
    out["cpu_ratio"] = round(out["postgresql"]["cpu"] / out["sqlite"]["cpu"], 3)
    out["wall_ratio"] = round(out["postgresql"]["wall"] / out["sqlite"]["wall"], 3)
    return out


def concurrent_writes(pages_path: Path, url: str, postmaster: int, writers: int) -> dict[str, Any]:
    """The same pre-parsed pages written into one fresh PostgreSQL archive by ``writers``
    threads at once, each as an account of its own (its own streams, the same ids and
    times, as a backfill of many accounts in one window of time writes them): PostgreSQL's
    CPU per row beside one writer's (``compare_writes``), its share of system time, its
    WAL, all it wrote and what its tables and indexes hold, per row."""
    import psycopg
    from _postgres import stored_bytes

    pages: list[Page] = pickle.loads(pages_path.read_bytes())
    parsed = asyncio.run(_parse_all(pages))
    rows = sum(p.rows for _, p in parsed)
    copies = [[[msgspec.structs.replace(r, entries=[msgspec.structs.replace(e, account=f"replay-{i}")
                                                    for e in r.entries]) for r in page.records]
               for _, page in parsed] for i in range(writers)]
    with Archive.open(url):
        pass                                    # the schema, before the clock starts
    opened, go = threading.Barrier(writers + 1), threading.Barrier(writers + 1)
    failed: list[BaseException] = []

    def write(i: int) -> None:
        try:
            with Archive.open(url) as archive:
                new_pages = NewPages()
                opened.wait()
                go.wait()
                for (query, page), records in zip(parsed, copies[i]):
                    _write(archive, query, page, new_pages, account=f"replay-{i}", records=records)
        except BaseException as exc:  # noqa: BLE001 - raised below, once every writer has ended
            failed.append(exc)
            opened.abort()
            go.abort()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    server = _Server(postmaster, url)
    try:
        opened.wait()               # every writer's archive open: the clock starts with the writes
        server.start()
        go.wait()
    except threading.BrokenBarrierError:
        pass
    for thread in threads:
        thread.join()
    if failed:
        raise failed[0]
    user, system, wal, wrote = server.stop()
    written = rows * writers                    # rows as the pages hold them, as per row elsewhere
    distinct = len({(_params(query)["category"], r.record_id) for query, page in parsed for r in page.records})
    with psycopg.connect(_pg_conninfo(url), autocommit=True) as conn:
        sizes = stored_bytes(conn)
        archived = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    if archived != distinct * writers:
        raise RuntimeError(f"{writers} writers archived {archived} records, not {distinct} each")
    return {"writers": writers, "rows": written, "server_cpu": round((user + system) * 1e6 / written, 2),
            "server_system": round(system * 1e6 / written, 2),
            "system_share": round(system / max(1e-9, user + system), 3), "wal_bytes_per_row": round(wal / written),
            "written_bytes_per_row": round(wrote / written),
            "stored_bytes_per_row": {name: round(size / written) for name, size in sizes.items()}}


def main() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if sys.argv[1] == "--writes":
        pages, workdir, postmaster, writers, concurrent_url, *urls = sys.argv[2:]
        out = compare_writes(Path(pages), Path(workdir), urls, int(postmaster))
        out["concurrent"] = concurrent_writes(Path(pages), concurrent_url, int(postmaster), int(writers))
        print(json.dumps(out))
        return
    print(json.dumps(replay(Path(sys.argv[1]), Path(sys.argv[2]))))


if __name__ == "__main__":
    main()
