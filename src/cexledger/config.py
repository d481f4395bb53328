"""Accounts from a TOML file plus the environment, validated with one-line messages.

```toml
[accounts.main]                      # the account's name, used everywhere
exchange = "bitget"                  # "bitget" or "coinw"
api_key = "bg_..."
api_secret_env = "BITGET_SECRET"     # any secret may come from an environment variable
passphrase_env = "BITGET_PASSPHRASE" # bitget only
# base_url = "https://api.bitget.com"
# demo = true                        # bitget demo trading keys (sends `paptrading: 1`)
# categories = ["USDT-FUTURES"]      # bitget: a subset of the six categories (default: all)
# tax_api_key = "bg_tax_..."         # bitget: the separate tax API key (tax records, 366 days);
# tax_api_secret_env = "BITGET_TAX_SECRET"   # its secret and passphrase, inline or `_env`
# tax_passphrase_env = "BITGET_TAX_PASSPHRASE"

[accounts.futures]
exchange = "coinw"
api_key = "..."
api_secret = "..."                   # inline secrets: keep the file mode 0600
instruments = ["BTC", "ETH"]         # default: every instrument in CoinW's public list
```

A secret read from an environment variable that is unset does not fail the whole config:
that account carries its ``problem`` (``accounts`` shows it incomplete, a sync of all
accounts reports it and syncs the others, naming it is an error). Every other mistake
is an error of the whole file, as before.

The tax key (Bitget only) is optional, but all three of ``tax_api_key``, ``tax_api_secret``
and ``tax_passphrase`` or none: a partial tax key is an error naming what is missing. An
unset environment variable of the tax key affects only the tax-records stream: the account
carries ``tax_problem`` (its other streams sync, the tax stream fails with that line), never
``problem``.

Optional per account: `rate_limit` (requests/s, overrides the default pace; from 0.01 up to
the exchange's documented limit, which its connector defines: Bitget 20, CoinW 5), `timeout`
(seconds each request may take in total, connecting and reading the whole answer included;
0.1 to 3600). `base_url` must be an http(s) URL with
a host, a valid port (1-65535) if any, and no query or fragment.
"""

from __future__ import annotations

import difflib
import math
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import platformdirs

from .errors import ConfigError
from .worker.schedule import Schedule, parse_worker_table

__all__ = ["Account", "Config", "load_config", "default_config_path", "exchange_names", "mask"]

def _connectors() -> dict[str, Any]:
    """The exchanges and what each declares about its accounts: ``secrets`` (required),
    ``optional_secrets`` (all or none: Bitget's tax key), ``fields`` (its own settings),
    ``default_base_url`` and ``streams`` (whose budgets bound ``rate_limit``)."""
    from .exchanges import registry

    return registry


#: The key ids: shown masked, never counted as an inline secret; every other secret is hidden.
_KEY_FIELDS = ("api_key", "tax_api_key")
_COMMON_FIELDS = {"exchange", "base_url", "rate_limit", "timeout"}
#: Sane ranges of the numeric settings (inclusive), and what they count.
_RANGES: dict[str, tuple[float, float, str]] = {
    "rate_limit": (0.01, 10_000.0, "requests per second"),
    "timeout": (0.1, 3600.0, "seconds"),
}


def default_config_path() -> Path:
    """``config.toml`` in the platform's user config directory."""
    return Path(platformdirs.user_config_dir("cexledger")) / "config.toml"


def mask(value: str | None) -> str:
    """Show only enough of a key to recognise it: ``bg_1…9f`` (never a whole secret)."""
    if not value:
        return "-"
    if len(value) <= 8:
        return "****"
    return f"{value[:4]}…{value[-2:]}"


@dataclass(frozen=True)
class Account:
    """One exchange account. ``repr`` never shows secrets."""

    name: str
    exchange: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)
    base_url: str = ""
    demo: bool = False
    categories: tuple[str, ...] | None = None
    instruments: tuple[str, ...] | None = None
    rate_limit: float | None = None
    timeout: float | None = None
    secret_sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: Why this account cannot be used as configured (a secret's environment variable is
    #: unset), else ``None``. Such an account is listed, and refused only where it is used.
    problem: str | None = None
    #: The Bitget tax API key (the tax-records stream), ``None`` when none is configured; a
    #: configured one whose environment variable is unset is ``""`` (see ``tax_problem``).
    tax_api_key: str | None = field(default=None, repr=False)
    tax_api_secret: str | None = field(default=None, repr=False)
    tax_passphrase: str | None = field(default=None, repr=False)
    #: Why the configured tax key cannot be used (its environment variable is unset), else
    #: ``None``. It fails only the tax-records stream; the account's other streams sync.
    tax_problem: str | None = None

    @property
    def has_tax_key(self) -> bool:
        """A tax API key is configured (usable only when ``tax_problem`` is ``None`` too)."""
        return self.tax_api_key is not None

    def secrets(self) -> list[str]:
        """Every secret value of this account (tax key included), for leak checks and redaction."""
        return [s for s in (self.api_secret, self.passphrase, self.tax_api_secret, self.tax_passphrase) if s]


@dataclass(frozen=True)
class Config:
    path: Path | None
    accounts: dict[str, Account]
    warnings: list[str] = field(default_factory=list)
    #: The ``[worker]`` table's schedule (``cexledger schedule``), ``None`` when unset.
    schedule: Schedule | None = None

    def select(self, names: list[str] | None) -> list[Account]:
        """The named accounts in the order first given, each once (default: all, incomplete
        ones included: the caller reports them). Naming an incomplete account is an error."""
        if not names:
            return list(self.accounts.values())
        unknown = [n for n in names if n not in self.accounts]
        if unknown:
            known = ", ".join(sorted(self.accounts)) or "none"
            raise ConfigError(f"unknown account {unknown[0]!r} (configured: {known})")
        selected = [self.accounts[n] for n in dict.fromkeys(names)]
        for account in selected:
            if account.problem:
                where = str(self.path) if self.path else "config"
                raise ConfigError(f"{where}: account {account.name!r}: {account.problem}")
        return selected


def load_config(path: Path | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Read and validate the config file; raise ``ConfigError`` with a one-line message."""
    env = dict(os.environ) if env is None else env
    path = path or default_config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {path} (create one, see `cexledger --help`, or pass --config)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"config path {path} is a directory, not a TOML file") from None
    except PermissionError:
        raise ConfigError(f"cannot read config file {path}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(
            f"config file {path} nests arrays or tables too deeply to read (a config needs two levels)"
        ) from None
    return parse_config(data, path=path, env=env)


def parse_config(data: dict[str, Any], *, path: Path | None, env: dict[str, str]) -> Config:
    where = str(path) if path else "config"
    unknown_top = set(data) - {"accounts", "worker"}
    if unknown_top:
        raise ConfigError(f"{where}: unknown section {sorted(unknown_top)[0]!r} "
                          "(expected [accounts.NAME] or [worker])")
    schedule = parse_worker_table(data["worker"], where) if "worker" in data else None
    raw_accounts = data.get("accounts", {})
    if not isinstance(raw_accounts, dict) or not raw_accounts:
        raise ConfigError(f"{where}: no accounts configured (add an [accounts.NAME] table)")
    accounts: dict[str, Account] = {}
    inline_secrets = False
    for name, table in raw_accounts.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: accounts.{name} must be a table")
        account, inline = _parse_account(name, table, where, env)
        inline_secrets = inline_secrets or inline
        accounts[name] = account
    warnings: list[str] = []
    if inline_secrets and path is not None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0
        if mode & 0o077:
            warnings.append(
                f"{path} holds API secrets and is readable by others (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
    return Config(path=path, accounts=accounts, warnings=warnings, schedule=schedule)


def _parse_account(
    name: str, table: dict[str, Any], where: str, env: dict[str, str]
) -> tuple[Account, bool]:
    ctx = f"{where}: account {name!r}"
    connectors = _connectors()
    exchange = table.get("exchange")
    if not isinstance(exchange, str) or not exchange:
        raise ConfigError(f"{ctx}: missing `exchange` (one of: {', '.join(connectors)})")
    exchange = exchange.lower()
    if exchange not in connectors:
        raise ConfigError(f"{ctx}: unknown exchange {table['exchange']!r} (supported: {', '.join(connectors)})")
    connector = connectors[exchange]
    tax_secrets: tuple[str, ...] = connector.optional_secrets
    allowed = _COMMON_FIELDS | connector.fields
    allowed |= {f for s in connector.secrets + tax_secrets for f in (s, f"{s}_env")}
    unknown = sorted(set(table) - allowed)
    if unknown:
        tax_settings = {f for c in connectors.values() for s in c.optional_secrets for f in (s, f"{s}_env")}
        if unknown[0] in tax_settings:
            raise ConfigError(f"{ctx}: {exchange} has no tax API key; "
                              f"`{unknown[0]}` is a Bitget setting")
        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise ConfigError(f"{ctx}: unknown setting {unknown[0]!r} for a {exchange} account{hint}")

    values, sources, unset, inline, missing = _read_secrets(
        table, connector.secrets, ctx, env)
    if missing:
        raise ConfigError(f"{ctx}: missing `{missing[0]}` (or `{missing[0]}_env`)")
    tax_values, tax_sources, tax_unset, tax_inline, tax_missing = _read_secrets(
        table, tax_secrets, ctx, env)
    if tax_values and tax_missing:
        raise ConfigError(f"{ctx}: incomplete tax API key: missing "
                          + " and ".join(f"`{m}` (or `{m}_env`)" for m in tax_missing))
    sources.update(tax_sources)
    inline = inline or tax_inline

    base_url = _base_url(table.get("base_url", connector.default_base_url), ctx)
    rate_limit = _in_range(table.get("rate_limit"), ctx, "rate_limit")
    if rate_limit is not None:
        documented = documented_rate(connector)
        if rate_limit > documented:
            raise ConfigError(
                f"{ctx}: `rate_limit` {rate_limit:g} is above {exchange}'s documented limit of "
                f"{documented:g} requests per second (an exchange bans keys that exceed it)"
            )
    timeout = _in_range(table.get("timeout"), ctx, "timeout")
    demo = table.get("demo", False)
    if not isinstance(demo, bool):
        raise ConfigError(f"{ctx}: `demo` must be true or false")

    categories = None
    if "categories" in table:
        from .exchanges.bitget import BITGET_CATEGORIES

        categories = _string_list(table["categories"], ctx, "categories")
        bad = [c for c in categories if c not in BITGET_CATEGORIES]
        if bad:
            raise ConfigError(f"{ctx}: unknown category {bad[0]!r} (one of: {', '.join(BITGET_CATEGORIES)})")
    instruments = None
    if "instruments" in table:
        instruments = tuple(dict.fromkeys(i.upper() for i in _string_list(table["instruments"], ctx, "instruments")))

    account = Account(
        name=name,
        exchange=exchange,
        api_key=values["api_key"],
        api_secret=values["api_secret"],
        passphrase=values.get("passphrase"),
        base_url=base_url.rstrip("/"),
        demo=demo,
        categories=categories,
        instruments=instruments,
        rate_limit=rate_limit,
        timeout=timeout,
        secret_sources=sources,
        problem=_unset_problem(unset),
        tax_api_key=tax_values.get("tax_api_key"),
        tax_api_secret=tax_values.get("tax_api_secret"),
        tax_passphrase=tax_values.get("tax_passphrase"),
        tax_problem=_unset_problem(tax_unset),
    )
    return account, inline


def _read_secrets(
    table: dict[str, Any], names: tuple[str, ...], ctx: str, env: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str], bool, list[str]]:
    """Each named secret, inline (``name``) or from the environment (``name_env``): its values,
    their sources (``config file`` or ``$VAR``), the unset variables (their value is ``""``:
    the account stays listed, marked incomplete), whether an inline one is more than a key id,
    and the names given neither way."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    unset: list[str] = []
    inline = False
    missing: list[str] = []
    for secret in names:
        direct, var = table.get(secret), table.get(f"{secret}_env")
        if direct is not None and var is not None:
            raise ConfigError(f"{ctx}: set either `{secret}` or `{secret}_env`, not both")
        if var is not None:
            if not isinstance(var, str) or not var:
                raise ConfigError(f"{ctx}: `{secret}_env` must name an environment variable")
            value = env.get(var) or ""
            if not value:
                unset.append(f"{var} (for `{secret}`)")
            sources[secret] = f"${var}"
        elif direct is not None:
            if not isinstance(direct, str) or not direct:
                raise ConfigError(f"{ctx}: `{secret}` must be a non-empty string")
            value = direct
            sources[secret] = "config file"
            inline = inline or secret not in _KEY_FIELDS
        else:
            missing.append(secret)
            continue
        values[secret] = value
    return values, sources, unset, inline, missing


def _unset_problem(unset: list[str]) -> str | None:
    """The one line naming the unset environment variables, or ``None``."""
    if not unset:
        return None
    many = len(unset) > 1
    return f"environment variable{'s' if many else ''} {', '.join(unset)} {'are' if many else 'is'} not set"


def documented_rate(connector: Any) -> float:
    """The highest documented request limit per second of the connector's budgets: a
    ``rate_limit`` above it is refused (each budget is capped at its own rate anyway)."""
    return max(spec.budget.rate for spec in connector.streams.values())


def exchange_names() -> list[str]:
    """The supported exchanges, by name."""
    return list(_connectors())


def _base_url(value: Any, ctx: str) -> str:
    """An http(s) URL with a host and a valid port, checked by httpx's own parser."""
    problem = f"{ctx}: `base_url` must be an http(s) URL such as https://api.example.com"
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(problem)
    if any(c.isspace() for c in value):
        raise ConfigError(f"{problem} (it contains white space)")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{problem} ({' '.join(str(exc).split())})") from None
    if not url.host:
        raise ConfigError(f"{problem} (it has no host)")
    if url.userinfo:
        raise ConfigError(f"{ctx}: `base_url` must not hold a user name or password "
                          f"(it would be stored and shown)")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ConfigError(f"{problem} (port {url.port} is not in 1-65535)")
    if url.query or url.fragment:
        raise ConfigError(f"{problem} (without a query or fragment)")
    return value


def _in_range(value: Any, ctx: str, key: str) -> float | None:
    """A finite number within the setting's sane range (``_RANGES``)."""
    if value is None:
        return None
    low, high, unit = _RANGES[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigError(f"{ctx}: `{key}` must be a number from {low:g} to {high:g} ({unit}), not {value!r}")
    return float(value)


def _string_list(value: Any, ctx: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{ctx}: `{key}` must be a non-empty list of strings")
    return tuple(value)
