"""``status`` through the real CLI: per account and stream how far back the archive reaches
and how far back the exchange still serves (90 or 366 days), and the streams an account
has not configured (no tax key), read at 80 columns with output piped, as in a cron mail."""

from __future__ import annotations

import re
import time
from decimal import Decimal

from cexledger._clock import DAY_MS, utc_text
from cexledger.archive import Archive
from cexledger.model import Kind, LedgerEntry, Record, StreamKey

from .test_trust_messages import assert_reads_at_80, narrow

TAX_KEYS = {"tax_api_key": "bg_tax_key_445566", "tax_api_secret": "tax-SECRET-value-2",
            "tax_passphrase": "tax-PASS-value-2"}
REACH = re.compile(r"  archived since (\d{4}-\d\d-\d\d) · exchange serves (\d+) days, since (\d{4}-\d\d-\d\d)")


def _day(ms: int) -> str:
    return utc_text(ms, minutes=False)


def _under(lines: list[str], heading: str) -> str:
    """The line under a stream's heading."""
    return lines[lines.index(heading) + 1]


def _tax_stream(db_url: str, account: str, start_ms: int, end_ms: int) -> None:
    """A tax-records stream as a sync writes it (one page, its window covered)."""
    key = StreamKey(account, "bitget", "tax-records", "SPOT")
    entry = LedgerEntry(account, "bitget", key.stream, "1", 0, start_ms + 5, Kind.TRANSFER, "USDT",
                        Decimal("1.5"), None, "SPOT", None, "transfer")
    with Archive.open(db_url) as archive:
        archive.write_page(key, [Record("1", start_ms + 5, b'{"id":"1"}', [entry])], cover=(start_ms, end_ms))


def test_status_shows_reach_and_what_is_not_configured_at_80_columns(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "300", "--bitget-accounts", "2", "--coinw-accounts", "0")
    plain, taxed = ({k: v for k, v in a.items() if not k.startswith("tax_")} | {"categories": ["SPOT"]}
                    for a in sb.accounts("bitget"))
    taxed.update(TAX_KEYS)
    cli = cli_for(sb, [plain, taxed], tax=True)     # the tax key of the one account that has it
    cli.run("sync", plain["name"])       # its funding stream may fail on a sandbox without it
    with Archive.open(cli.db_url, create=False) as archive:
        spot = next(s for s in archive.streams(plain["name"]) if s.key.stream == "financial-records")
    assert spot.coverage, "the sync covered nothing"
    taxed_start = spot.coverage[0][0] - 200 * DAY_MS
    _tax_stream(cli.db_url, taxed["name"], taxed_start, spot.coverage[-1][1])

    before = time.time_ns() // 1_000_000
    status = narrow(cli, "status", check=True)
    after = time.time_ns() // 1_000_000
    lines = assert_reads_at_80(status.stdout)

    reach = REACH.fullmatch(_under(lines, f"{plain['name']} · bitget financial-records"))
    assert reach, status.stdout
    assert reach[1] == _day(spot.coverage[0][0]) and reach[2] == "90"
    assert reach[3] in {_day(before - 90 * DAY_MS), _day(after - 90 * DAY_MS)}

    tax = REACH.fullmatch(_under(lines, f"{taxed['name']} · bitget tax-records"))
    assert tax, status.stdout
    assert tax[1] == _day(taxed_start) and tax[2] == "366"
    assert tax[3] in {_day(before - 366 * DAY_MS), _day(after - 366 * DAY_MS)}

    # no tax key: said under the account, once; the account with one is not told
    missing = f"{plain['name']} · bitget tax-records"
    assert _under(lines, missing) == "  not configured: add a tax API key to archive 366 days"
    assert sum("not configured" in line for line in lines) == 1, status.stdout
    assert lines.index(missing) > lines.index(f"{plain['name']} · bitget financial-records")
    assert "safe for" in status.stdout                      # the table and its safe days stay
    for secret in (TAX_KEYS["tax_api_secret"], TAX_KEYS["tax_passphrase"], plain["api_secret"]):
        assert secret not in status.stdout + status.stderr

    one = narrow(cli, "status", "--account", taxed["name"], check=True)
    assert "not configured" not in one.stdout and f"{plain['name']} ·" not in one.stdout
    one = narrow(cli, "status", "--account", plain["name"], check=True)
    assert_reads_at_80(one.stdout)
    assert "not configured: add a tax API key to archive 366 days" in one.stdout
    assert f"{taxed['name']} ·" not in one.stdout


def test_a_configured_account_not_archived_yet_is_told_what_is_not_configured(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "50", "--bitget-accounts", "2", "--coinw-accounts", "0")
    synced, fresh = (dict(a, categories=["SPOT"]) for a in sb.accounts("bitget"))
    cli = cli_for(sb, [synced, fresh])
    cli.run("sync", synced["name"])
    status = narrow(cli, "status", check=True)
    lines = assert_reads_at_80(status.stdout)
    assert _under(lines, f"{fresh['name']} · bitget tax-records") == (
        "  not configured: add a tax API key to archive 366 days")
    assert f"account {fresh['name']!r} is configured but nothing of it is archived" in status.stderr
