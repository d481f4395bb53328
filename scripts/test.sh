#!/usr/bin/env bash
# Set up everything the test suite needs, then run it:
#   a virtualenv in .venv, cexledger with its test and bench (ccxt) extras, the PostgreSQL server binaries
#   (Debian package `postgresql`; the tests start their own throwaway server on 127.0.0.1),
#   Debian's `chromium` (the report page's tests drive it headless through Playwright, which
#   downloads no browser of its own; without it they fail), then pytest. Extra arguments go to
#   pytest. pytest's "no tests collected" (exit 5) fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  echo "installing PostgreSQL (Debian package postgresql) for the archive tests" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

if ! [ -x /usr/bin/chromium ]; then
  echo "installing Chromium (Debian package chromium) for the report page's browser tests" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
fi
exit "$status"
