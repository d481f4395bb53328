"""``docs/ledger.md`` lists every type the Bitget normalizers know, with the kind the code
gives it, and nothing the code does not know: the mapping table cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from cexledger.exchanges.bitget.normalize import BITGET_KINDS, FUNDING_KINDS, _PREFIX_KINDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"
_ROW = re.compile(r"^\| `([^`]+)` \| `([a-z_]+)` \|")


def _tables(text: str, heading: str) -> list[dict[str, str]]:
    """The two-column-or-more tables under ``heading`` (up to the next heading of its level
    or higher) whose rows start with a backticked name and a backticked kind, in order."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n") + len(heading) + 1
    end = re.search(rf"^#{{1,{level}}} ", text[start:], re.M)
    section = text[start: start + end.start()] if end else text[start:]
    tables: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in section.splitlines():
        match = _ROW.match(line)
        if match is None:
            if current:
                tables.append(current)
            current = None
            continue
        current = {} if current is None else current
        assert match.group(1) not in current, f"{match.group(1)} listed twice"
        current[match.group(1)] = match.group(2)
    if current:
        tables.append(current)
    return tables


def test_the_bitget_type_table_is_the_codes():
    types, prefixes = _tables(DOC.read_text(encoding="utf-8"),
                              "### Financial records (`financial-records`) and tax records (`tax-records`)")
    assert types == {name: kind.value for name, kind in BITGET_KINDS.items()}
    assert prefixes == {prefix: kind.value for prefix, kind in _PREFIX_KINDS}


def test_the_funding_wallet_table_is_the_codes():
    (table,) = _tables(DOC.read_text(encoding="utf-8"), "### Funding wallet (`funding-records`)")
    assert table == {name: kind.value for name, kind in FUNDING_KINDS.items()}
