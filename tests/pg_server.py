"""A throwaway PostgreSQL server: what the tests' fixture (``tests/conftest.py``) and the
benchmark (``benchmarks/_postgres.py``) both start.

The server is found on ``PATH`` or under ``/usr/lib/postgresql/*/bin`` (newest first),
initialised into a temporary directory and started by ``pg_ctl`` on 127.0.0.1 at a free port,
its unix socket inside the temporary directory, durability off (``fsync``,
``synchronous_commit``, ``full_page_writes``: throwaway data). PostgreSQL refuses to run as
root, so under root the server commands run as the ``postgres`` system user (or a dedicated
``cexledger-pg`` user, created if neither exists) via ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["Server", "bin_dir"]

_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_SERVER_USER = "cexledger-pg"


def bin_dir() -> Path | None:
    """The directory of the server's programs, ``None`` when they are not installed."""
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    installed = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    installed.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates += installed
    return next((d for d in candidates if all((d / p).is_file() for p in _PROGRAMS)), None)


def _server_user() -> str | None:
    """The unprivileged user to run the server as, when we are root (else ``None``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SERVER_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVER_USER],
                   check=True, capture_output=True)
    return _SERVER_USER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


class Server:
    """A started server (``options``: more ``-c name=value`` settings); :meth:`stop` stops it
    and deletes its directory. A server that does not start raises ``RuntimeError`` with its
    log, leaving nothing behind."""

    host = "127.0.0.1"

    def __init__(self, options: str = "", *, prefix: str = "cexledger-pg-") -> None:
        programs = bin_dir()
        if programs is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on "
                               "PATH or in /usr/lib/postgresql/*/bin")
        user = _server_user()
        self._as = ["runuser", "-u", user, "--"] if user else []
        self._bin = programs
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._data, log = self.root / "data", self.root / "server.log"
        self.port = _free_port()
        settings = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                    f"-c synchronous_commit=off -c full_page_writes=off {options}").strip()
        try:
            _run([*self._as, str(programs / "initdb"), "-D", str(self._data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync"])
            try:
                _run([*self._as, str(programs / "pg_ctl"), "-D", str(self._data), "-l", str(log), "-o", settings,
                      "-w", "-t", "60", "start"])
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{log.read_text() if log.exists() else ''}") from None
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        self.pid = int((self._data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        try:
            _run([*self._as, str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
