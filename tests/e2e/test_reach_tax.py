"""Bitget tax records (366 days, the tax API key) through the real CLI against the sandbox.

Every sandbox here keeps 130 days of history and one category is configured, so a first
sync with a tax key reads about 40 seven-day windows at 1 request/s (the windows past 130
days are empty but still asked for: nothing tells the client they are)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cexledger import _json
from cexledger._clock import DAY_MS, now_ms
from cexledger.archive import Archive
from cexledger.exchanges._windows import EDGE_MARGIN_MS
from cexledger.model import StreamKey

from .conftest import by_id, kill_sync_midway

TAX, FIN, FUNDING = "tax-records", "financial-records", "funding-records"
CAT = "USDT-FUTURES"
TAX_PATH = "/api/v3/tax/records"
BASE = ("--history-days", "130", "--records", "600", "--old-records", "150", "--coinw-accounts", "0")


def _sandbox(factory, *extra: str):
    return factory(*BASE, *extra)


def _cli(cli_for, sb, accounts=None, tax=True):
    return cli_for(sb, accounts if accounts is not None else sb.accounts("bitget"), tax=tax,
                   categories=[CAT])


def _coverage(cli, account: str, stream: str) -> list[tuple[int, int]]:
    with Archive.open(cli.db_url) as archive:
        return archive.coverage(StreamKey(account, "bitget", stream, CAT))


def _truth(sb, account: str, stream: str, partition: str = CAT) -> dict[str, dict]:
    """Ground truth of one partition, decoded as ``Sandbox.truth`` decodes it."""
    body = sb.http.get("/_sandbox/truth", params={"exchange": "bitget", "account": account,
                                                  "stream": stream, "partition": partition}).content
    ids = {_json.to_id(row["id"]) for row in _json.loads(body)["rows"]}
    return {k: v for k, v in sb.truth("bitget", account, stream).items() if k in ids}


def _tax_requests(sb, account: str) -> list[dict]:
    return sb.http.get("/_sandbox/requests", params={"account": account, "path": TAX_PATH}).json()["requests"]


def _archived(cli, account: str, stream: str) -> dict[str, object]:
    return by_id(cli.export_jsonl(), "bitget", account, stream)


def _in(rows: dict[str, dict], ranges: list[tuple[int, int]]) -> dict[str, dict]:
    return {k: r for k, r in rows.items() if any(s <= int(r["ts"]) < e for s, e in ranges)}


def _assert_year_archived(sb, cli, account: str, before: int, after: int) -> None:
    """The tax records of [reach edge, start of financial coverage) exactly, no gap."""
    fin = _coverage(cli, account, FIN)
    tax = _coverage(cli, account, TAX)
    assert len(tax) == 1, tax
    (start, end), = tax
    assert end == fin[0][0], (tax, fin)
    assert before - 366 * DAY_MS + EDGE_MARGIN_MS <= start <= after - 366 * DAY_MS + EDGE_MARGIN_MS
    assert fin[0][0] <= after - 90 * DAY_MS + EDGE_MARGIN_MS
    truth = _truth(sb, account, TAX)
    wanted = _in(truth, tax)
    assert len(wanted) > 10, "the test needs tax rows older than 90 days"
    got = _archived(cli, account, TAX)
    assert got.keys() == wanted.keys(), (len(got.keys() - wanted.keys()), len(wanted.keys() - got.keys()))
    for rid, row in wanted.items():
        assert got[rid] == row, rid


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_a_first_sync_with_a_tax_key_archives_the_year_and_a_second_asks_nothing(
        sandbox_factory, cli_for, dialect):
    sb = _sandbox(sandbox_factory, "--dialect", dialect)
    (acc,) = sb.accounts("bitget")
    cli = _cli(cli_for, sb)
    before = now_ms()
    proc = cli.run("sync")
    after = now_ms()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_year_archived(sb, cli, acc["name"], before, after)
    # the summary names the tax stream; without a terminal, progress is not a line per window
    assert any(line.split()[:2] == [TAX, CAT] for line in proc.stdout.splitlines()), proc.stdout
    assert len(proc.stdout.splitlines()) < 30, proc.stdout
    ids_tax = set(_archived(cli, acc["name"], TAX))
    ids_fin = set(_archived(cli, acc["name"], FIN))
    if dialect == "variant":           # the tax API's own ids: none is a financial record's
        assert not ids_tax & set(sb.truth("bitget", acc["name"]))
    assert not ids_tax & ids_fin or dialect == "standard"
    _secret_free(cli, acc["tax_api_secret"])

    sb.reset_stats()
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _tax_requests(sb, acc["name"]) == []


def test_a_sync_killed_midway_then_rerun_gives_the_uninterrupted_archive(sandbox_factory, cli_for):
    sb = _sandbox(sandbox_factory)
    (acc,) = sb.accounts("bitget")
    cli = _cli(cli_for, sb)
    before = now_ms()
    kill_sync_midway(cli, sb, after_requests=15)
    assert _tax_requests(sb, acc["name"]), "killed before any tax request"
    proc = cli.run("sync", "--quiet")
    after = now_ms()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_year_archived(sb, cli, acc["name"], before, after)


def test_a_hole_in_old_financial_coverage_is_healed_by_tax_records(sandbox_factory, cli_for):
    """An archive whose financial records once covered older time, with a hole a failed
    window left (made here by writing that coverage into the archive): the tax records
    fill exactly the hole, and nothing else."""
    sb = _sandbox(sandbox_factory)
    (acc,) = sb.accounts("bitget")
    name = acc["name"]
    cli = _cli(cli_for, sb, tax=False)
    cli.run("sync", "--quiet", check=True)
    fin = _coverage(cli, name, FIN)
    now = now_ms()
    hole = (now - 120 * DAY_MS, now - 110 * DAY_MS)
    engine = sa.create_engine(cli.db_url)
    with engine.begin() as conn:
        sid = conn.execute(sa.text("SELECT id FROM streams WHERE account=:a AND stream=:s AND partition=:p"),
                           {"a": name, "s": FIN, "p": CAT}).scalar_one()
        for start, end in ((now - 370 * DAY_MS, hole[0]), (hole[1], fin[0][0])):
            conn.execute(sa.text("INSERT INTO coverage (stream_id, start_ms, end_ms) VALUES (:i, :s, :e)"),
                         {"i": sid, "s": start, "e": end})
    engine.dispose()
    tax_cli = _cli(cli_for, sb)
    tax_cli.db = cli.db
    sb.reset_stats()
    proc = tax_cli.run("sync", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _coverage(tax_cli, name, TAX) == [hole]
    wanted = _in(_truth(sb, name, TAX), [hole])
    assert wanted, "the test needs tax rows in the hole"
    got = _archived(tax_cli, name, TAX)
    assert got == wanted
    # the tax API was asked for the hole only, and once for the proof of the tax key
    asked = [dict(part.split("=") for part in r["query"].split("&")) for r in _tax_requests(sb, name)]
    outside = [q for q in asked if not (int(q["startTime"]) >= hole[0] - 1 and int(q["endTime"]) <= hole[1])]
    assert len(outside) == 1 and int(outside[0]["startTime"]) >= fin[0][0], outside


def _secret_free(cli, secret: str) -> None:
    blob = b"".join(p.read_bytes() for p in Path(cli.db).parent.glob(Path(cli.db).name + "*") if p.is_file())
    assert secret.encode() not in blob
    for out in cli.outputs:
        assert secret not in out


def test_a_wrong_tax_key_is_one_line_and_the_other_streams_sync(sandbox_factory, cli_for):
    sb = _sandbox(sandbox_factory)
    (acc,) = sb.accounts("bitget")
    secret = acc["tax_api_secret"]
    wrong = dict(acc, tax_api_secret=acc["tax_api_secret"][:-3] + "xyz")
    cli = _cli(cli_for, sb, [wrong])
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cexledger: error:") and "tax API key" in lines[0], lines
    assert "Traceback" not in proc.stdout + proc.stderr
    assert _archived(cli, acc["name"], FIN) == _truth(sb, acc["name"], FIN)
    assert _archived(cli, acc["name"], FUNDING) == sb.truth("bitget", acc["name"], FUNDING)
    assert _archived(cli, acc["name"], TAX) == {}
    _secret_free(cli, secret)
    _secret_free(cli, wrong["tax_api_secret"])


def test_an_unset_tax_secret_variable_is_one_line_and_the_other_streams_sync(sandbox_factory, cli_for):
    sb = _sandbox(sandbox_factory)
    (acc,) = sb.accounts("bitget")
    unset = {k: v for k, v in acc.items() if k != "tax_api_secret"}
    unset["tax_api_secret_env"] = "CEXLEDGER_TEST_UNSET_TAX_SECRET"
    cli = _cli(cli_for, sb, [unset])
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "CEXLEDGER_TEST_UNSET_TAX_SECRET" in lines[0] and "tax" in lines[0]
    assert _tax_requests(sb, acc["name"]) == []
    assert _archived(cli, acc["name"], FIN) == _truth(sb, acc["name"], FIN)
    assert _archived(cli, acc["name"], FUNDING) == sb.truth("bitget", acc["name"], FUNDING)


def test_a_classic_account_is_one_line(sandbox_factory, cli_for):
    sb = _sandbox(sandbox_factory, "--classic-accounts", "bitget-1")
    (acc,) = sb.accounts("bitget")
    cli = _cli(cli_for, sb)
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "bitget-1" in lines[0] and "lassic" in lines[0], lines
    assert "Traceback" not in proc.stdout + proc.stderr
    _secret_free(cli, acc["tax_api_secret"])


def test_another_users_tax_key_writes_nothing(sandbox_factory, cli_for):
    """The second Bitget user's tax key on the first account: its tax rows match none of the
    archived financial records, so no tax record is written; the rightful key is then
    proven by the same check and recorded (its fingerprint, never the key)."""
    sb = _sandbox(sandbox_factory, "--bitget-accounts", "2")
    first, second = sb.accounts("bitget")
    cli = _cli(cli_for, sb, [first], tax=False)
    cli.run("sync", "--quiet", check=True)            # financial records to compare with
    wrong = dict(first, **{k: second[k] for k in ("tax_api_key", "tax_api_secret", "tax_passphrase")})
    bad = _cli(cli_for, sb, [wrong])
    bad.db = cli.db
    sb.reset_stats()
    proc = bad.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"cexledger: error: account {first['name']!r}: the tax API key belongs to another "
                     f"Bitget user than this account's key; tax records not synced"], proc.stderr
    assert len(_tax_requests(sb, second["name"])) == 1         # the one proof window, on its key
    assert _archived(bad, first["name"], TAX) == {}
    assert _coverage(bad, first["name"], TAX) == []
    _secret_free(bad, second["tax_api_secret"])

    good = _cli(cli_for, sb, [first])
    good.db = cli.db
    before = now_ms()
    proc = good.run("sync", "--quiet")
    after = now_ms()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_year_archived(sb, good, first["name"], before - 1, after)
    with Archive.open(good.db_url) as archive:
        recorded = archive.get_meta(StreamKey(first["name"], "bitget", TAX, CAT), "tax_key_fingerprint")
    assert recorded and recorded.startswith("sha256:") and first["tax_api_key"] not in recorded
    _secret_free(good, first["tax_api_secret"])


def test_another_users_tax_key_on_a_first_sync_writes_nothing(sandbox_factory, cli_for):
    """On a first sync nothing is archived to compare with yet: the check reads the account's
    newest financial records from the exchange with its own key, and the other user's tax
    rows match none of them — no tax record is written, the account's other streams sync."""
    sb = _sandbox(sandbox_factory, "--bitget-accounts", "2")
    first, second = sb.accounts("bitget")
    wrong = dict(first, **{k: second[k] for k in ("tax_api_key", "tax_api_secret", "tax_passphrase")})
    bad = _cli(cli_for, sb, [wrong])
    proc = bad.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"cexledger: error: account {first['name']!r}: the tax API key belongs to another "
                     f"Bitget user than this account's key; tax records not synced"], proc.stderr
    assert _archived(bad, first["name"], TAX) == {}
    assert _coverage(bad, first["name"], TAX) == []
    assert _archived(bad, first["name"], "financial-records")     # the other streams synced
    funding = by_id(bad.export_jsonl(), "bitget", first["name"], stream="funding-records")
    assert funding.keys() == sb.truth("bitget", first["name"], stream="funding-records").keys()
    _secret_free(bad, second["tax_api_secret"])
