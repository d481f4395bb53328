"""The real ``bean-check`` (beancount 3, from the ``test`` extra) for the Beancount export's
tests. A missing executable fails the test: it is never a reason to skip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BEAN_CHECK = Path(sys.executable).parent / "bean-check"


def bean_check(path: Path) -> subprocess.CompletedProcess:
    """``bean-check path``, output captured."""
    assert BEAN_CHECK.is_file(), (f"{BEAN_CHECK} is missing: `bash scripts/test.sh` installs "
                                  "beancount with the test extra")
    return subprocess.run([str(BEAN_CHECK), str(path)], capture_output=True, text=True, timeout=600)


def assert_bean_check_passes(path: Path) -> None:
    proc = bean_check(path)
    assert proc.returncode == 0, f"bean-check {path} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
