"""``status``'s reach lines and not-configured streams, rendered at 80 columns with names
longer than any line (the e2e test, ``tests/e2e/test_reach_status.py``, runs the real CLI)."""

from __future__ import annotations

import io

from rich.console import Console

from cexledger._clock import DAY_MS
from cexledger._render import status_table
from cexledger.archive import StreamSummary
from cexledger.model import StreamKey

NOW = 1_796_119_192_733          # 2026-12-01
NAME = "an-account-name-far-longer-than-any-column-of-the-status-table-would-hold"


def _text(summaries, unconfigured) -> str:
    table, _ = status_table(summaries, NOW, unconfigured)
    buffer = io.StringIO()
    Console(file=buffer, width=80).print(table)
    return buffer.getvalue()


def test_reach_and_unconfigured_lines_read_at_80_columns():
    summaries = [
        StreamSummary(StreamKey(NAME, "bitget", "tax-records", "SPOT"), 10, NOW - 300 * DAY_MS, NOW,
                      [(NOW - 300 * DAY_MS, NOW - 200 * DAY_MS), (NOW - 100 * DAY_MS, NOW)], NOW),
        StreamSummary(StreamKey(NAME, "bitget", "tax-records", "MARGIN"), 0, None, None,
                      [(NOW - 320 * DAY_MS, NOW)], NOW),
        StreamSummary(StreamKey("old", "bitget", "financial-records", "SPOT"), 3, NOW - 400 * DAY_MS, NOW,
                      [(NOW - 400 * DAY_MS, NOW)], NOW),
        StreamSummary(StreamKey("empty", "coinw", "deals-history", "BTC"), 0, None, None, [], NOW),
    ]
    unconfigured = {"old": [("bitget", "tax-records", "not configured: add a tax API key to archive 366 days")],
                    "never-synced": [("bitget", "tax-records", "not configured: add a tax API key to archive 366 days")]}
    text = _text(summaries, unconfigured)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and "…" not in text, text
    # the oldest covered point of any partition; the exchange's reach from its spec
    assert "  archived since 2026-01-15 · exchange serves 366 days, since 2025-11-30" in lines
    # older than the exchange still serves: kept only by the archive
    assert "  archived since 2025-10-27 · exchange serves 90 days, since 2026-09-02" in lines
    assert "  nothing covered yet · exchange serves 90 days, since 2026-09-02" in lines
    told = [i for i, line in enumerate(lines) if line == "  not configured: add a tax API key to archive 366 days"]
    assert [lines[i - 1] for i in told] == ["old · bitget tax-records", "never-synced · bitget tax-records"]
    assert lines.index("old · bitget financial-records") < told[0] < lines.index("empty · coinw deals-history")


def test_tax_records_are_safe_while_financial_records_cover_what_they_skip():
    """Tax records end for good where financial records' coverage begins (they are never
    fetched there): status measures them over both, so no warning sync could never clear."""
    from cexledger._render import status_table

    day = 86_400_000
    now = 400 * day
    first_sync = now - 250 * day                 # the tax backfill, 250 days ago
    fin = StreamSummary(key=StreamKey("a", "bitget", "financial-records", "SPOT"), records=1,
                        oldest_ts=None, newest_ts=None, coverage=[(first_sync - 90 * day, now)],
                        last_write_ms=now)
    tax = StreamSummary(key=StreamKey("a", "bitget", "tax-records", "SPOT"), records=1,
                        oldest_ts=None, newest_ts=None, coverage=[(first_sync - 366 * day, first_sync - 90 * day)],
                        last_write_ms=now)
    _, warnings = status_table([fin, tax], now)
    assert warnings == []
    lone = StreamSummary(key=tax.key, records=1, oldest_ts=None, newest_ts=None,
                         coverage=[(first_sync - 366 * day, first_sync - 90 * day)], last_write_ms=now)
    _, warnings = status_table([lone], now)       # without financial records, the gap is real
    assert len(warnings) == 1 and "tax-records" in warnings[0]
