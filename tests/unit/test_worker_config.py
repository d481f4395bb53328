"""A worker reads its config again for a job only when the file has changed (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("procrastinate")

from cexledger.demo import write_sandbox_config  # noqa: E402
from cexledger.errors import ConfigError  # noqa: E402
from cexledger.worker.app import job_locks  # noqa: E402
from cexledger.worker.tasks import config_locks, current_config  # noqa: E402


def _accounts(n: int) -> list[dict]:
    return [{"name": f"bitget-{i}", "exchange": "bitget", "api_key": f"bg_key_{i}", "api_secret": f"secret-{i}",
             "passphrase": "pass"} for i in range(1, n + 1)]


def test_parsed_once_while_unchanged_and_again_when_edited(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_sandbox_config(path, "http://127.0.0.1:9", _accounts(2))
    first = current_config(path)
    assert current_config(path) is first
    write_sandbox_config(path, "http://127.0.0.1:9", _accounts(3))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))   # a later write, whatever the clock's step
    edited = current_config(path)
    assert edited is not first and sorted(edited.accounts) == ["bitget-1", "bitget-2", "bitget-3"]


def test_a_missing_file_is_the_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file"):
        current_config(tmp_path / "gone.toml")


def test_job_locks_are_computed_once_per_config_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_sandbox_config(path, "http://127.0.0.1:9", _accounts(3))
    cfg = current_config(path)
    locks = config_locks(cfg)
    assert locks == job_locks(cfg.accounts.values()) and len(set(locks.values())) == 3
    assert config_locks(current_config(path)) is locks
    rotated = _accounts(3)
    rotated[0]["api_key"] = "bg_key_rotated"
    write_sandbox_config(path, "http://127.0.0.1:9", rotated)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    edited = current_config(path)
    assert config_locks(edited) == job_locks(edited.accounts.values())
    assert config_locks(edited)["bitget-1"] != locks["bitget-1"]
    assert config_locks(edited)["bitget-2"] == locks["bitget-2"]
