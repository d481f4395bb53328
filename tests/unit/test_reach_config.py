"""The Bitget tax API key in the config, and the one line a classic (non-UTA) account gets."""

from __future__ import annotations

import io

import httpx
import pytest

from cexledger.config import load_config
from cexledger.errors import ConfigError, FatalAccountError
from cexledger.exchanges._http import RetryPolicy
from cexledger.exchanges.bitget import BitgetClient, BitgetCredentials

BASE = """
[accounts.main]
exchange = "bitget"
api_key = "bg_key_123456"
api_secret_env = "BG_SECRET"
passphrase_env = "BG_PASS"
"""
ENV = {"BG_SECRET": "normal-secret-value", "BG_PASS": "normal-pass-value"}
TAX_INLINE = """tax_api_key = "bg_tax_key_778899"
tax_api_secret = "tax-inline-SECRET-1"
tax_passphrase = "tax-inline-PASS-1"
"""
TAX_ENV = """tax_api_key_env = "TAX_KEY"
tax_api_secret_env = "TAX_SECRET"
tax_passphrase_env = "TAX_PASS"
"""
TAX_VALUES = {"TAX_KEY": "bg_tax_key_from_env", "TAX_SECRET": "tax-env-SECRET-2", "TAX_PASS": "tax-env-PASS-2"}


def write(tmp_path, text, mode=0o600):
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def error(tmp_path, text, env=None) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text), env=ENV if env is None else env)
    message = str(exc.value)
    assert "\n" not in message and "account 'main'" in message
    return message


def test_inline_tax_key(tmp_path):
    cfg = load_config(write(tmp_path, BASE + TAX_INLINE), env=ENV)
    main = cfg.accounts["main"]
    assert (main.tax_api_key, main.tax_api_secret, main.tax_passphrase) == (
        "bg_tax_key_778899", "tax-inline-SECRET-1", "tax-inline-PASS-1")
    assert main.has_tax_key and main.tax_problem is None and main.problem is None
    assert main.secret_sources["tax_api_secret"] == "config file"
    # the normal secrets come from the environment: the inline tax secret alone needs mode 0600
    assert cfg.warnings == []
    loose = load_config(write(tmp_path, BASE + TAX_INLINE, mode=0o644), env=ENV)
    assert len(loose.warnings) == 1 and "chmod 600" in loose.warnings[0]
    key_only = load_config(write(tmp_path, BASE + TAX_ENV.replace('tax_api_key_env = "TAX_KEY"',
                                                                   'tax_api_key = "k"'), mode=0o644),
                           env={**ENV, **TAX_VALUES})
    assert key_only.warnings == []  # a key id inline is no secret: no warning


def test_tax_key_from_the_environment(tmp_path):
    main = load_config(write(tmp_path, BASE + TAX_ENV), env={**ENV, **TAX_VALUES}).accounts["main"]
    assert (main.tax_api_key, main.tax_api_secret, main.tax_passphrase) == (
        "bg_tax_key_from_env", "tax-env-SECRET-2", "tax-env-PASS-2")
    assert main.has_tax_key and main.tax_problem is None
    assert main.secret_sources["tax_passphrase"] == "$TAX_PASS"


def test_no_tax_key_is_not_configured(tmp_path):
    main = load_config(write(tmp_path, BASE), env=ENV).accounts["main"]
    assert main.tax_api_key is None and main.tax_api_secret is None and main.tax_passphrase is None
    assert not main.has_tax_key and main.tax_problem is None


@pytest.mark.parametrize("given, missing", [
    ('tax_api_key = "k"\n', ["tax_api_secret", "tax_passphrase"]),
    ('tax_api_key = "k"\ntax_api_secret_env = "TAX_SECRET"\n', ["tax_passphrase"]),
    ('tax_api_secret = "s"\ntax_passphrase = "p"\n', ["tax_api_key"]),
    ('tax_passphrase_env = "TAX_PASS"\n', ["tax_api_key", "tax_api_secret"]),
])
def test_a_partial_tax_key_names_exactly_what_is_missing(tmp_path, given, missing):
    message = error(tmp_path, BASE + given, env={**ENV, **TAX_VALUES})
    named = " and ".join(f"`{m}` (or `{m}_env`)" for m in missing)
    assert message.endswith(f"incomplete tax API key: missing {named}")
    for other in {"tax_api_key", "tax_api_secret", "tax_passphrase"} - set(missing):
        assert f"`{other}`" not in message


@pytest.mark.parametrize("text, needle", [
    (TAX_INLINE + 'tax_api_secret_env = "X"\n', "set either `tax_api_secret` or `tax_api_secret_env`, not both"),
    (TAX_INLINE.replace('tax_passphrase = "tax-inline-PASS-1"', 'tax_passphrase = ""'),
     "`tax_passphrase` must be a non-empty string"),
    (TAX_ENV.replace('"TAX_SECRET"', '""'), "`tax_api_secret_env` must name an environment variable"),
])
def test_tax_secrets_follow_the_same_rules_as_the_others(tmp_path, text, needle):
    assert needle in error(tmp_path, BASE + text, env={**ENV, **TAX_VALUES})


@pytest.mark.parametrize("setting", ['tax_api_key = "k"', 'tax_api_secret_env = "S"', 'tax_passphrase = "p"'])
def test_coinw_refuses_a_tax_key(tmp_path, setting):
    text = f"[accounts.main]\nexchange = 'coinw'\napi_key = 'k'\napi_secret = 's'\n{setting}\n"
    key = setting.split(" ")[0]
    assert error(tmp_path, text).endswith(f"coinw has no tax API key; `{key}` is a Bitget setting")


@pytest.mark.parametrize("typo, meant", [
    ("tax_apikey", "tax_api_key"), ("tax_api_secrets_env", "tax_api_secret_env"),
    ("tax_passphrse", "tax_passphrase"),
])
def test_a_typo_in_a_tax_setting_is_caught_with_a_suggestion(tmp_path, typo, meant):
    message = error(tmp_path, BASE + f'{typo} = "x"\n')
    assert f"unknown setting {typo!r} for a bitget account (did you mean `{meant}`?)" in message


def test_an_unset_tax_variable_fails_only_the_tax_stream(tmp_path):
    env = {**ENV, "TAX_KEY": "bg_tax_key_from_env", "TAX_PASS": "p"}  # TAX_SECRET unset
    cfg = load_config(write(tmp_path, BASE + TAX_ENV), env=env)
    main = cfg.accounts["main"]
    assert main.problem is None  # the account's normal streams still sync
    assert main.tax_problem == "environment variable TAX_SECRET (for `tax_api_secret`) is not set"
    assert main.has_tax_key and not main.tax_api_secret
    assert cfg.select(["main"]) == [main]  # naming it is no error: only its tax stream fails
    # unset normal and tax variables: each reported where it applies
    both = load_config(write(tmp_path, BASE + TAX_ENV), env={"BG_PASS": "p"}).accounts["main"]
    assert both.problem == "environment variable BG_SECRET (for `api_secret`) is not set"
    assert both.tax_problem == ("environment variables TAX_KEY (for `tax_api_key`), TAX_SECRET "
                                "(for `tax_api_secret`), TAX_PASS (for `tax_passphrase`) are not set")


def test_secrets_include_the_tax_secrets(tmp_path):
    inline = load_config(write(tmp_path, BASE + TAX_INLINE), env=ENV).accounts["main"]
    assert set(inline.secrets()) == {"normal-secret-value", "normal-pass-value",
                                     "tax-inline-SECRET-1", "tax-inline-PASS-1"}
    none = load_config(write(tmp_path, BASE), env=ENV).accounts["main"]
    assert set(none.secrets()) == {"normal-secret-value", "normal-pass-value"}


@pytest.mark.parametrize("tax, env", [(TAX_INLINE, ENV), (TAX_ENV, {**ENV, **TAX_VALUES})])
def test_no_repr_str_or_accounts_table_shows_a_tax_secret(tmp_path, tax, env):
    from rich.console import Console

    from cexledger._render import accounts_table

    cfg = load_config(write(tmp_path, BASE + tax), env=env)
    main = cfg.accounts["main"]
    out = io.StringIO()
    Console(file=out, width=80).print(accounts_table(list(cfg.accounts.values())))
    shown = [repr(main), str(main), repr(cfg), str(cfg), out.getvalue()]
    hidden = main.secrets() + [main.tax_api_key]
    assert len(hidden) == 5 and all(hidden)
    assert not [(s, text) for s in hidden for text in shown if s in text]


async def test_a_classic_account_gets_one_line_naming_the_problem():
    body = b'{"code":"40084","msg":"You are in Classic Account mode","requestTime":1,"data":null}'
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(400, content=body)

    client = BitgetClient(
        "main", BitgetCredentials("bg-key-classic", "classic-secret", "classic-pass"),
        base_url="https://bitget.test", http=httpx.AsyncClient(transport=httpx.MockTransport(answer)),
        retry=RetryPolicy(attempts=4, base=0.0, cap=0.0, timeout=5.0), rate=10_000.0,
    )
    with pytest.raises(FatalAccountError) as info:
        await client.financial_records("SPOT")
    message = str(info.value)
    assert info.value.code == "40084" and "\n" not in message
    assert "classic Bitget account" in message and "Unified Trading Account (UTA)" in message
    assert len(requests) == 1  # never retried: the account stops, with the reason
