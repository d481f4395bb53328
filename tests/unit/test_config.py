"""Config parsing: every mistake is one clear line; secrets from the environment; perms warning."""

from __future__ import annotations

import pytest

from cexledger.config import load_config, mask
from cexledger.errors import ConfigError


def write(tmp_path, text, mode=0o600):
    p = tmp_path / "config.toml"
    p.write_text(text)
    p.chmod(mode)
    return p


GOOD = """
[accounts.main]
exchange = "bitget"
api_key = "bg_key_123456"
api_secret_env = "BG_SECRET"
passphrase_env = "BG_PASS"
categories = ["SPOT", "USDT-FUTURES"]

[accounts.fut]
exchange = "CoinW"
api_key = "cw_key"
api_secret = "cw-inline-secret"
instruments = ["btc", "1000pepe", "BTC"]
"""


def test_good_config(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), env={"BG_SECRET": "s", "BG_PASS": "p"})
    main, fut = cfg.accounts["main"], cfg.accounts["fut"]
    assert main.api_secret == "s" and main.passphrase == "p" and main.base_url == "https://api.bitget.com"
    assert main.categories == ("SPOT", "USDT-FUTURES")
    assert fut.exchange == "coinw" and fut.instruments == ("BTC", "1000PEPE")
    assert "cw-inline-secret" not in repr(fut) and "cw-inline-secret" not in repr(cfg)
    assert cfg.warnings == []


def test_world_readable_inline_secret_warns(tmp_path):
    cfg = load_config(write(tmp_path, GOOD, mode=0o644), env={"BG_SECRET": "s", "BG_PASS": "p"})
    assert len(cfg.warnings) == 1 and "chmod 600" in cfg.warnings[0]


@pytest.mark.parametrize("text, needle", [
    ("[accounts.a]\napi_key='k'", "missing `exchange`"),
    ("[accounts.a]\nexchange='kraken'\n", "unknown exchange"),
    ("[accounts.a]\nexchange='bitget'\napi_key='k'\napi_secret='s'\n", "missing `passphrase`"),
    ("[accounts.a]\nexchange='coinw'\napi_key='k'\napi_secret='s'\napi_secret_env='X'\n", "not both"),
    ("[accounts.a]\nexchange='coinw'\napi_key='k'\napi_secret='s'\nsecret='typo'\n", "unknown setting 'secret'"),
    ("[accounts.a]\nexchange='bitget'\napi_key='k'\napi_secret='s'\npassphrase='p'\ncategories=['FUTURES']\n", "unknown category"),
    ("[accounts.a]\nexchange='coinw'\napi_key='k'\napi_secret='s'\nbase_url='ftp://x'\n", "base_url"),
    ("[other]\nx=1\n", "unknown section"),
    ("", "no accounts"),
])
def test_config_errors_are_one_line(tmp_path, text, needle):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text), env={})
    message = str(exc.value)
    assert needle in message and "\n" not in message


def test_mask_never_shows_a_whole_secret():
    assert mask("abcdefghijklmnop") == "abcd…op"
    assert mask("short") == "****"


COINW = "[accounts.a]\nexchange='coinw'\napi_key='k'\napi_secret='s'\n"


@pytest.mark.parametrize("setting, needle", [
    ("rate_limit = nan", "`rate_limit` must be a number from 0.01 to 10000"),
    ("rate_limit = inf", "`rate_limit`"),
    ("rate_limit = 0.001", "`rate_limit`"),
    ("rate_limit = 1e9", "`rate_limit`"),
    ("rate_limit = 0", "`rate_limit`"),
    ("rate_limit = -5", "`rate_limit`"),
    ("rate_limit = true", "`rate_limit`"),
    ("rate_limit = 'fast'", "`rate_limit`"),
    ("timeout = nan", "`timeout` must be a number from 0.1 to 3600"),
    ("timeout = -inf", "`timeout`"),
    ("timeout = 0.01", "`timeout`"),
    ("timeout = 86400", "`timeout`"),
    ("base_url = 'http://127.0.0.1:99999'", "port 99999"),
    ("base_url = 'http://127.0.0.1:0'", "port 0"),
    ("base_url = 'http://127.0.0.1:abc'", "base_url"),
    ("base_url = 'http://'", "no host"),
    ("base_url = 'https://:8080'", "no host"),
    ("base_url = 'https://api example.com'", "white space"),
    ("base_url = 'https://api.example.com/?x=1'", "query"),
])
def test_numbers_and_urls_out_of_range_are_one_line_errors(tmp_path, setting, needle):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, COINW + setting + "\n"), env={})
    message = str(exc.value)
    assert needle in message and "\n" not in message and "account 'a'" in message


@pytest.mark.parametrize("setting, field, value", [
    ("rate_limit = 0.01", "rate_limit", 0.01),
    ("rate_limit = 5", "rate_limit", 5.0),
    ("rate_limit = 2.5", "rate_limit", 2.5),
    ("timeout = 0.1", "timeout", 0.1),
    ("timeout = 3600", "timeout", 3600.0),
    ("base_url = 'http://127.0.0.1:65535/'", "base_url", "http://127.0.0.1:65535"),
    ("base_url = 'http://[::1]:8080'", "base_url", "http://[::1]:8080"),
    ("base_url = 'https://api.coinw.com'", "base_url", "https://api.coinw.com"),
])
def test_values_within_range_are_accepted(tmp_path, setting, field, value):
    cfg = load_config(write(tmp_path, COINW + setting + "\n"), env={})
    assert getattr(cfg.accounts["a"], field) == value


def test_select_runs_each_account_once_in_the_order_given(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), env={"BG_SECRET": "s", "BG_PASS": "p"})
    assert [a.name for a in cfg.select(["fut", "main", "fut", "main", "fut"])] == ["fut", "main"]
    assert [a.name for a in cfg.select(["main", "main"])] == ["main"]
    assert [a.name for a in cfg.select(None)] == ["main", "fut"]
    with pytest.raises(ConfigError, match="'nope'"):
        cfg.select(["main", "nope", "main"])
