"""The tax API key through the real CLI: config mistakes are one line, no tax secret is shown."""

from __future__ import annotations

from .test_cli_errors import one_line_error, plain_cli

BITGET = """
[accounts.main]
exchange = "bitget"
api_key = "bg_key_123456"
api_secret = "normal-SECRET-value"
passphrase = "normal-PASS-value"
"""
TAX = """tax_api_key = "bg_tax_key_778899"
tax_api_secret = "tax-SECRET-value-1"
tax_passphrase = "tax-PASS-value-1"
"""


def test_accounts_with_a_tax_key_shows_no_tax_secret(tmp_path):
    cli = plain_cli(tmp_path, BITGET + TAX)
    proc = cli.run("accounts", check=True)
    assert "main (bitget)" in proc.stdout
    for secret in ("tax-SECRET-value-1", "tax-PASS-value-1", "bg_tax_key_778899"):
        assert secret not in proc.stdout + proc.stderr


def test_tax_key_mistakes_are_one_line_errors(tmp_path):
    partial = plain_cli(tmp_path, BITGET + 'tax_api_key = "bg_tax_key_778899"\n').run("accounts")
    assert partial.returncode == 1
    one_line_error(partial, "cexledger: error: ", "account 'main'", "incomplete tax API key: missing "
                   "`tax_api_secret` (or `tax_api_secret_env`) and `tax_passphrase` (or `tax_passphrase_env`)")
    coinw = "[accounts.main]\nexchange = 'coinw'\napi_key = 'k'\napi_secret = 's'\ntax_api_key = 'k'\n"
    refused = plain_cli(tmp_path, coinw).run("accounts")
    assert refused.returncode == 1
    one_line_error(refused, "coinw has no tax API key; `tax_api_key` is a Bitget setting")
    typo = plain_cli(tmp_path, BITGET + 'tax_apikey = "k"\n').run("sync")
    assert typo.returncode == 1
    one_line_error(typo, "unknown setting 'tax_apikey'", "did you mean `tax_api_key`?")
