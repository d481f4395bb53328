"""The exit codes of the ``cexledger`` command, one definition for every command.

======  ==================================================================================
code    meaning
======  ==================================================================================
0       success
1       an error the user can act on (one line on stderr); ``sync``: some stream failed
2       usage error: an unknown option or a missing argument (the command did nothing)
70      internal error: a bug in cexledger (``EX_SOFTWARE``; ``CEXLEDGER_DEBUG=1`` shows it)
130     interrupted (Ctrl-C, 128 + SIGINT); everything archived so far is kept
143     terminated (SIGTERM: ``kill``, a service manager stopping it); likewise kept
141     standard output was closed by its reader (128 + SIGPIPE), e.g. ``| head``
======  ==================================================================================
"""

from __future__ import annotations

__all__ = ["OK", "ERROR", "USAGE", "INTERNAL", "INTERRUPTED", "TERMINATED", "BROKEN_PIPE", "HELP",
           "Terminated"]

OK = 0
ERROR = 1
USAGE = 2
INTERNAL = 70
INTERRUPTED = 130
TERMINATED = 143
BROKEN_PIPE = 141

#: The codes as the top-level ``--help`` and the README list them.
HELP: tuple[tuple[int, str], ...] = (
    (OK, "success"),
    (ERROR, "error (one line on stderr); sync: some stream failed, the rest is kept"),
    (USAGE, "usage error (unknown option, missing argument)"),
    (INTERNAL, "internal error, a bug (CEXLEDGER_DEBUG=1 shows the traceback)"),
    (INTERRUPTED, "interrupted (Ctrl-C); everything archived so far is kept"),
    (TERMINATED, "terminated (SIGTERM); everything archived so far is kept"),
    (BROKEN_PIPE, "standard output closed by its reader (e.g. | head)"),
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is (as Ctrl-C raises ``KeyboardInterrupt``), so a
    ``kill`` ends a command through the same path: pages already committed stay, one line."""


def install_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread."""
    import signal

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, raise_terminated)
