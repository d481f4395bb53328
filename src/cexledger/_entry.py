"""The console-script entry point: as small as possible, so that it runs before the imports.

Ctrl-C while the command's modules are still being imported (the first few tenths of a
second), or a reader closing standard output at any moment, must end the command like
everywhere else: one line and exit code 130, or quietly with exit code 141 — never a
traceback. So the entry imports the command line itself, inside the handlers; it imports
nothing heavy of its own (this package's ``__init__`` is light for the same reason).
"""

from __future__ import annotations

import os
import sys

from . import _exit

__all__ = ["main"]


def _stdout_closed() -> int:
    """Point stdout at devnull so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return _exit.BROKEN_PIPE


def _interrupted(terminated: bool = False) -> int:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C must not interrupt this
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        sys.stderr.write("cexledger: terminated\n" if terminated else "cexledger: interrupted\n")
        sys.stderr.flush()
    except OSError:
        pass
    return _exit.TERMINATED if terminated else _exit.INTERRUPTED


def _unraisable(hook: object) -> None:
    """An interrupt that landed where Python cannot raise it (a weakref or GC callback, such
    as importlib's module-lock cleanup) is printed as "Exception ignored … Traceback" and
    then lost. Deliver the signal again instead: it is raised at the next ordinary line and
    ends the command like any Ctrl-C. Anything else goes to Python's own hook."""
    import signal

    exc = getattr(hook, "exc_value", None)
    if isinstance(exc, KeyboardInterrupt):
        def again(signum: int, frame: object) -> None:
            raise exc

        # a moment later, once this hook has returned (raised in here, it would be "ignored"
        # once more)
        signal.signal(signal.SIGALRM, again)
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        return
    sys.__unraisablehook__(hook)  # type: ignore[arg-type]


def main() -> int:
    """Run the ``cexledger`` command; returns its exit code."""
    sys.unraisablehook = _unraisable
    _exit.install_sigterm()
    try:
        try:
            from .cli import app

            try:
                app()
                code: object = _exit.OK
            except SystemExit as exc:
                code = exc.code
                cause = getattr(exc.__context__, "__cause__", None)
                if isinstance(cause, KeyboardInterrupt):
                    # Typer ends a Ctrl-C outside a command silently
                    return _interrupted(isinstance(cause, _exit.Terminated))
            # Click ends a write into a closed pipe with exit code 1 after wrapping stdout
            # in its "pacify" wrapper: that is a closed stdout, reported as such.
            if type(sys.stdout).__name__ == "PacifyFlushWrapper":
                sys.stdout = sys.stdout.wrapped
                return _stdout_closed()
            sys.stdout.flush()   # what is still buffered, inside the handlers below
        except KeyboardInterrupt as exc:
            return _interrupted(isinstance(exc, _exit.Terminated))
        except BrokenPipeError:
            return _stdout_closed()
    except KeyboardInterrupt:    # Ctrl-C while handling the first one
        return _exit.INTERRUPTED
    if code is None:
        return _exit.OK
    return code if isinstance(code, int) else _exit.ERROR
