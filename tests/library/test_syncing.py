"""``cexledger.sync()`` from Python against the real sandbox over HTTP, and the README's
example, run as it is written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import cexledger
from cexledger.demo import write_sandbox_config
from tests.library.conftest import jsonl_lines

README = Path(__file__).parent.parent.parent / "README.md"


def test_sync_from_python_archives_the_sandbox_truth(sandbox_factory, cli_for, tmp_path: Path) -> None:
    sb = sandbox_factory("--records", "300", "--funding-records", "60", "--seed", "21")
    cli = cli_for(sb)
    db = tmp_path / "lib.db"
    results = cexledger.sync(config=cli.config, db=db)
    accounts = sb.accounts()
    assert [r.account for r in results] == [a["name"] for a in accounts]
    assert all(r.ok and not r.errors for r in results), results
    with cexledger.open(db) as led:
        records = list(led.records())
    for acc in accounts:
        mine = [r for r in records if r.account == acc["name"]]
        result = next(r for r in results if r.account == acc["name"])
        assert result.new == result.written == len(mine) > 0
        default = "financial-records" if acc["exchange"] == "bitget" else "deals-history"
        truth = sb.truth(acc["exchange"], acc["name"])
        assert {r.record_id: r.json() for r in mine if r.stream == default} == truth
    # the archive is the CLI's: its JSONL export reads the same raw rows
    assert [(line["id"], line["raw"]) for line in jsonl_lines(db)] == [(r.record_id, r.json()) for r in records]
    again = cexledger.sync(config=str(cli.config), db=f"sqlite:///{db}", accounts=[accounts[0]["name"]])
    assert [(r.account, r.ok, r.new) for r in again] == [(accounts[0]["name"], True, 0)]


def test_sync_refuses_a_bad_config_or_account_in_library_terms(sandbox_factory, cli_for, tmp_path: Path) -> None:
    with pytest.raises(cexledger.ConfigError) as caught:
        cexledger.sync(config=tmp_path / "none.toml", db=tmp_path / "a.db")
    assert "cexledger.sync(config=PATH)" in str(caught.value) and "--" not in str(caught.value)
    sb = sandbox_factory("--records", "20", "--seed", "2")
    cli = cli_for(sb)
    with pytest.raises(cexledger.ConfigError, match=r"unknown account 'nobody' \(configured: "):
        cexledger.sync(config=cli.config, db=tmp_path / "a.db", accounts=["nobody"])
    assert not (tmp_path / "a.db").exists()          # refused before the archive was created


def test_sync_inside_a_running_loop_names_sync_async(sandbox_factory, cli_for, tmp_path: Path) -> None:
    sb = sandbox_factory("--records", "40", "--coinw-accounts", "0", "--seed", "8")
    cli = cli_for(sb)
    db = tmp_path / "loop.db"

    async def notebook() -> list[cexledger.AccountResult]:
        with pytest.raises(cexledger.CexledgerError, match=r"await cexledger\.sync_async\(\.\.\.\)"):
            cexledger.sync(config=cli.config, db=db)
        assert not db.exists()
        return await cexledger.sync_async(config=cli.config, db=db)

    results = asyncio.run(notebook())
    assert results and all(r.ok and r.new > 0 for r in results)


def _readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Python library\n"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the Python library section has one example"
    return blocks[0]


def test_the_readme_example_runs_against_the_sandbox(sandbox_factory, tmp_path: Path, monkeypatch, capsys) -> None:
    sb = sandbox_factory("--records", "200", "--funding-records", "40", "--seed", "5")
    write_sandbox_config(tmp_path / "cexledger.toml", sb.url,
                         [{k: v for k, v in a.items() if not k.startswith("tax_")} for a in sb.accounts()])
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(_readme_example(), str(README), "exec"), scope)
    out = capsys.readouterr().out
    for acc in sb.accounts():
        assert re.search(rf"^{re.escape(acc['name'])} ok [1-9]\d* new records$", out, re.M), out
    assert "amount" in out and "safe for" in out
    df = scope["df"]
    with cexledger.open(tmp_path / "archive.db") as led:
        entries = list(led.entries(since="2026-01-01", until="2027-01-01"))
        assert scope["fees"] == [e for e in entries if e.kind is cexledger.Kind.FEE]
    assert list(df["amount"]) == [e.amount for e in entries]
