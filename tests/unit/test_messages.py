"""Issue 8, messages: errors grouped by cause, incomplete accounts, CoinW instrument names,
safe days from coverage only."""

from __future__ import annotations

import pytest

from cexledger.retention import safe_days
from cexledger.archive import StreamSummary
from cexledger.config import load_config
from cexledger.errors import ConfigError
from cexledger.exchanges import registry
from cexledger.exchanges.coinw.client import closest_instrument
from cexledger.model import StreamKey
from cexledger.sync import AccountReport

DAY = 86_400_000


def key(partition: str, exchange: str = "bitget") -> StreamKey:
    return StreamKey("main", exchange, "financial-records", partition)


def test_one_line_per_cause_counting_windows_and_streams():
    report = AccountReport("main", "bitget")
    down = "gave up after 3 attempts: cannot connect (ConnectError: refused) (GET /x)"
    for partition in ("SPOT", "MARGIN", "OTHER"):
        for n in range(4):
            report.fail(down, key(partition), f"{key(partition)} window {n}", "windows")
    report.fail("cursor loop", key("SPOT"), "main/bitget/financial-records/SPOT 2026-01-01 00:00 → 2026-01-31 00:00", "windows")
    report.fail("two of one", key("USDT-FUTURES"), "w1", "windows")
    report.fail("two of one", key("USDT-FUTURES"), "w2", "windows")
    report.fail("one per stream", key("A"), "a", "passes")
    report.fail("one per stream", key("B"), "b", "passes")
    report.fail("API key refused")
    report.errors.append("account 'main': appended directly")
    assert report.error_lines() == [
        f"account 'main': 12 windows in 3 streams failed: {down}",
        "account 'main': main/bitget/financial-records/SPOT 2026-01-01 00:00 → 2026-01-31 00:00 failed: cursor loop",
        "account 'main': 2 windows of main/financial-records/USDT-FUTURES failed: two of one",
        "account 'main': 2 streams failed: one per stream",
        "account 'main': API key refused",
        "account 'main': appended directly",
    ]
    assert len(report.errors) == 12 + 1 + 2 + 2 + 1 + 1      # the run log keeps every one


@pytest.mark.parametrize("name, known, expected", [
    ("BTCUSDT", ["BTC", "ETH"], "BTC"),
    ("ETH-USDT", ["BTC", "ETH"], "ETH"),
    ("SOL_USDT", ["SOL"], "SOL"),
    ("PEPE", ["1000PEPE", "BTC"], "1000PEPE"),
    ("ETHH", ["ETH"], "ETH"),
    ("QQQQQQ", ["BTC", "ETH"], None),
])
def test_closest_instrument(name, known, expected):
    assert closest_instrument(name, known) == expected


@pytest.mark.parametrize("stream", [s for c in registry.values() for s in c.streams.values()],
                         ids=lambda s: f"{s.exchange}-{s.name}")
def test_a_stream_without_coverage_has_no_safe_days_whatever_it_holds(stream):
    now = 1_800_000_000_000
    where = StreamKey("acc", stream.exchange, stream.name, "X")
    holding = StreamSummary(key=where, records=500, oldest_ts=now - 80 * DAY,
                            newest_ts=now - DAY, coverage=[], last_write_ms=now)
    assert round(safe_days(holding, now)) == 0
    covered = StreamSummary(key=where, records=0, oldest_ts=None, newest_ts=None,
                            coverage=[(now - stream.retention_ms, now)], last_write_ms=now)
    assert round(safe_days(covered, now)) == stream.retention_ms // DAY


CONFIG = """
[accounts.main]
exchange = "bitget"
api_key = "bg_key"
api_secret_env = "T_SECRET"
passphrase_env = "T_PASS"

[accounts.other]
exchange = "coinw"
api_key = "cw_key"
api_secret = "cw_secret"
"""


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_an_unset_secret_variable_makes_only_that_account_incomplete(tmp_path):
    cfg = load_config(write(tmp_path, CONFIG), env={"T_PASS": "p"})
    assert cfg.accounts["main"].problem == "environment variable T_SECRET (for `api_secret`) is not set"
    assert cfg.accounts["other"].problem is None
    assert [a.name for a in cfg.select(None)] == ["main", "other"]
    assert [a.name for a in cfg.select(["other"])] == ["other"]
    with pytest.raises(ConfigError) as exc:
        cfg.select(["main"])
    assert "account 'main'" in str(exc.value) and "T_SECRET" in str(exc.value)
    both = load_config(write(tmp_path, CONFIG), env={}).accounts["main"].problem
    assert both == "environment variables T_SECRET (for `api_secret`), T_PASS (for `passphrase`) are not set"


def test_an_incomplete_account_is_still_validated(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, CONFIG + "timeout = -1\n"), env={})
    assert "`timeout`" in str(exc.value)
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, CONFIG.replace('api_secret_env = "T_SECRET"', 'api_secret_env = ""')), env={})


def test_status_with_holes_and_long_names_reads_at_80_columns():
    import io

    from rich.console import Console

    from cexledger._render import status_table

    now = 1_796_119_192_733
    holes = [(now - 95 * DAY, now - 60 * DAY), (now - 60 * DAY + 3_600_000, now - 20 * DAY),
             (now - 20 * DAY + 7_200_000, now - DAY), (now - DAY + 1000, now)]
    name = "an-account-name-far-longer-than-any-column-of-the-status-table-would-hold"
    summaries = [
        StreamSummary(StreamKey(name, "bitget", "financial-records", "USDT-FUTURES"), 1_234_567,
                      now - 89 * DAY, now - 1000, holes, now),
        StreamSummary(StreamKey(name, "bitget", "financial-records", "SPOT"), 0, None, None, [], now),
    ]
    table, warnings = status_table(summaries, now)
    buffer = io.StringIO()
    Console(file=buffer, width=80).print(table)
    text = buffer.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines()) and "…" not in text, text
    assert "1234567" in text and "(+1 earlier)" in text and "2026-11-11 09:59" in text
    assert [line.split()[-2:] for line in text.splitlines() if line.startswith(("USDT", "SPOT"))] == [
        ["30", "days"], ["0", "days"]]
    assert len(warnings) == 1 and "/SPOT:" in warnings[0]
