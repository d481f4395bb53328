"""The config's ``[worker]`` table: ``every`` and ``cron`` become the schedule's cron line; a
wrong value is one ``ConfigError`` line naming the file, the table and the key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cexledger.config import load_config
from cexledger.errors import ConfigError
from cexledger.worker.schedule import parse_worker_table
from cexledger.worker.status import next_tick


@pytest.mark.parametrize(("every", "cron", "text"), [
    ("30s", "* * * * * */30", "every 30s"),
    ("1s", "* * * * * *", "every 1s"),
    ("15m", "*/15 * * * *", "every 15m"),
    ("1m", "* * * * *", "every 1m"),
    ("1h", "0 * * * *", "every 1h"),
    ("6h", "0 */6 * * *", "every 6h"),
    (" 2H ", "0 */2 * * *", "every 2h"),
    ("1d", "0 0 * * *", "every 1d"),
])
def test_every_becomes_a_clock_aligned_cron(every: str, cron: str, text: str) -> None:
    schedule = parse_worker_table({"every": every}, "f.toml")
    assert schedule is not None
    assert (schedule.cron, schedule.text) == (cron, text)


def test_every_instants_are_aligned_on_the_clock() -> None:
    start = dt.datetime(2026, 12, 1, 18, 7, 3, tzinfo=dt.UTC)
    hourly = parse_worker_table({"every": "6h"}, "f.toml")
    assert next_tick(hourly.cron, start) == dt.datetime(2026, 12, 2, 0, 0, tzinfo=dt.UTC)
    fast = parse_worker_table({"every": "30s"}, "f.toml")
    assert next_tick(fast.cron, start) == dt.datetime(2026, 12, 1, 18, 7, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(("cron", "normal"), [
    ("17 3 * * *", "17 3 * * *"),
    ("  */5   *  * * 1-5 ", "*/5 * * * 1-5"),
    ("0 * * * * 30", "0 * * * * 30"),
])
def test_cron_lines_are_kept(cron: str, normal: str) -> None:
    schedule = parse_worker_table({"cron": cron}, "f.toml")
    assert (schedule.cron, schedule.text) == (normal, f"cron {normal}")


def test_no_schedule() -> None:
    assert parse_worker_table({}, "f.toml") is None


@pytest.mark.parametrize(("table", "says"), [
    ({"every": "7m"}, 'every = "7m": give a whole divisor of the next unit'),
    ({"every": "60s"}, 'every = "60s": give a whole divisor'),
    ({"every": "24h"}, 'every = "24h": give a whole divisor'),
    ({"every": "2d"}, 'every = "2d": give a whole divisor'),
    ({"every": "0m"}, 'every = "0m": give a whole divisor'),
    ({"every": "1 hour"}, "every = '1 hour': give a duration such as"),
    ({"every": "-1h"}, "every = '-1h': give a duration such as"),
    ({"every": 3600}, "every = 3600: give a duration such as"),
    ({"every": ""}, "every = '': give a duration such as"),
    ({"cron": "17 3 * *"}, "cron = '17 3 * *': give 5 fields"),
    ({"cron": "1 2 3 4 5 6 7"}, "cron = '1 2 3 4 5 6 7': give 5 fields"),
    ({"cron": 5}, "cron = 5: give 5 fields"),
    ({"cron": "61 * * * *"}, "cron = '61 * * * *' is not a valid cron line"),
    ({"cron": "a b c d e"}, "cron = 'a b c d e' is not a valid cron line"),
    ({"every": "1h", "cron": "0 * * * *"}, "give every or cron, not both"),
    ({"period": "1h"}, "unknown setting 'period' (expected every or cron)"),
    ("1h", "must be a table"),
])
def test_wrong_values_are_one_line_naming_the_key(table: object, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_worker_table(table, "f.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("f.toml: [worker]"), message
    assert says in message, message


def test_the_config_file_reads_the_worker_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    account = "[accounts.a]\nexchange = 'coinw'\napi_key = 'k'\napi_secret = 's'\n"
    path.write_text('[worker]\nevery = "15m"\n' + account, encoding="utf-8")
    assert load_config(path).schedule.cron == "*/15 * * * *"
    path.write_text('[worker]\nevery = "45m"\n' + account, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and 'every = "45m"' in str(caught.value)


def test_the_readme_setup_reads_as_written() -> None:
    """The README's "Many accounts": its schedule is a valid ``[worker]`` table, and its
    systemd unit stops the worker with SIGTERM, waits long enough, and restarts it."""
    import re
    import tomllib

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Many accounts\n"):]
    section = section[:section.index("\n## ", 1)]
    (toml,) = re.findall(r"```toml\n(.*?)```", section, re.S)
    schedule = parse_worker_table(tomllib.loads(toml)["worker"], "README")
    assert schedule is not None and schedule.cron == "0 * * * *"
    (unit,) = re.findall(r"```ini\n(.*?)```", section, re.S)
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["KillSignal"] == "SIGTERM" and settings["Restart"] == "always"
    assert int(settings["TimeoutStopSec"]) >= 30
    assert settings["ExecStart"].split()[1:3] == ["worker", "--concurrency"]
    from cexledger.worker.app import EXTRA_HINT
    from cexledger.worker.timing import RECOVERY_S

    assert EXTRA_HINT.split(": ", 1)[1] in section and f"within {RECOVERY_S:g} s" in section
    assert re.search(r"^\S.* cexledger .*sync --quiet", section, re.M)       # the cron line
