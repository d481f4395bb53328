"""Pagers that make no progress (issue 8, items 7 and 12), end to end: the real CLI against
the sandbox with a paging fault. Every bound is a request count, never a time."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from cexledger.exchanges._paging import NO_PROGRESS_PAGES

from .conftest import by_id


def covered(cli, partition: str) -> int:
    """How many covered ranges the archive holds for one stream partition."""
    with sqlite3.connect(cli.db) as conn:
        (n,) = conn.execute(
            "select count(*) from coverage c join streams s on s.id = c.stream_id where s.partition = ?",
            (partition,)).fetchone()
    return n


def covered_days(cli, partition: str) -> float:
    """How many days of one stream partition the archive's coverage holds."""
    with sqlite3.connect(cli.db) as conn:
        (ms,) = conn.execute(
            "select coalesce(sum(c.end_ms - c.start_ms), 0) from coverage c join streams s "
            "on s.id = c.stream_id where s.partition = ? and s.stream = 'financial-records'",
            (partition,)).fetchone()
    return ms / 86_400_000


def archived(cli, exchange: str, account: str) -> dict[str, object]:
    return by_id(cli.export_jsonl(), exchange, account)


def no_progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "no progress" in line]


def test_bitget_new_cursors_without_new_rows_stop_one_stream(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "1500", "--coinw-accounts", "0", "--seed", "3")
    sb.post("/_sandbox/settings", {"bitget_cursor_loop": "USDT-FUTURES"})
    cli = cli_for(sb)
    proc = cli.run("sync")
    assert proc.returncode == 1
    lines = no_progress_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr                   # one line for the stream
    assert "USDT-FUTURES" in lines[0] and "no new rows; window left uncovered" in lines[0]
    assert "Traceback" not in proc.stderr
    # bounded by requests: the stuck chain stopped after NO_PROGRESS_PAGES + 1 stale pages
    # and the stream's other windows stopped with it (without the guard it never ends)
    requests = sb.stats()["requests"]
    assert requests < 120, requests
    # the stuck window is not covered (a window whose one page was shorter than the endpoint's
    # page size holds all its rows, loop or not, and may be)
    assert covered_days(cli, "USDT-FUTURES") < 85
    # every other stream completed: all their rows, each range covered
    truth = sb.truth("bitget", "bitget-1")
    got = archived(cli, "bitget", "bitget-1")
    others = {rid: row for rid, row in truth.items() if row["category"] != "USDT-FUTURES"}
    assert {rid: got.get(rid) for rid in others} == others
    for category in ("SPOT", "Margin", "COIN-FUTURES", "USDC-FUTURES", "OTHER"):
        assert covered(cli, category.upper()) >= 1, category
    # nothing was marked covered, so once the server behaves the next sync fills it in
    sb.post("/_sandbox/settings", {"bitget_cursor_loop": None})
    cli.run("sync", check=True)
    assert archived(cli, "bitget", "bitget-1") == truth


def densest_instrument(sb) -> tuple[str, int]:
    counts = Counter(row["instrument"] for row in sb.truth("coinw", "coinw-1").values())
    return counts.most_common(1)[0]


def test_coinw_server_cycling_pages_stops_one_stream(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "1500", "--bitget-accounts", "0", "--seed", "3")
    instrument, rows = densest_instrument(sb)
    assert rows > 300            # pages 1, 2 and more: the cycle really repeats pages
    sb.post("/_sandbox/settings", {"coinw_page_cycle": instrument})
    cli = cli_for(sb)
    proc = cli.run("sync")
    assert proc.returncode == 1
    lines = no_progress_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert f"/{instrument}" in lines[0] and "no new rows; range left uncovered" in lines[0]
    # pages 1 and 2 of the instrument, NO_PROGRESS_PAGES + 1 stale ones, a few in flight;
    # one page each for the other instruments (under a page each at this size), the list
    stuck = 2 + NO_PROGRESS_PAGES + 1 + 4
    assert sb.stats()["requests"] <= stuck + 3 * 4 + 1
    assert covered(cli, instrument) == 0
    truth = sb.truth("coinw", "coinw-1")
    got = archived(cli, "coinw", "coinw-1")
    others = {rid: row for rid, row in truth.items() if row["instrument"] != instrument}
    assert {rid: got.get(rid) for rid in others} == others
    sb.post("/_sandbox/settings", {"coinw_page_cycle": None})
    cli.run("sync", check=True)
    assert archived(cli, "coinw", "coinw-1") == truth


def test_coinw_server_clamping_pages_is_reported(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "1500", "--bitget-accounts", "0", "--seed", "3")
    instrument, rows = densest_instrument(sb)
    # a clamp only shows when the last page is full: make the instrument's rows a whole
    # number of pages, so the page after the last repeats it
    sb.post("/_sandbox/append", {"exchange": "coinw", "account": "coinw-1",
                                 "count": -rows % 100, "instrument": instrument})
    sb.post("/_sandbox/settings", {"coinw_page_clamp": instrument})
    cli = cli_for(sb)
    proc = cli.run("sync", check=True)
    note = (f"coinw-1: {instrument}: page {-(-rows // 100) + 1} brought exactly the rows of page "
            f"{-(-rows // 100)}; the server seems to clamp page numbers to its last page")
    assert note in proc.stdout
    assert archived(cli, "coinw", "coinw-1") == sb.truth("coinw", "coinw-1")
    # and in the run log
    with sqlite3.connect(cli.db) as conn:
        stats = [json.loads(s) for (s,) in conn.execute("select stats from sync_runs")]
    notes = [n for s in stats for n in s["notes"]]
    assert any(note.removeprefix("coinw-1: ") in n for n in notes), notes
