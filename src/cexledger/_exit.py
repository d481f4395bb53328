"""The exit codes of the ``cexledger`` command, one definition for every command.

======  ==================================================================================
code    meaning
======  ==================================================================================
0       success
1       an error the user can act on (one line on stderr); ``sync``: some stream failed
2       usage error: an unknown option or a missing argument (the command did nothing)
70      internal error: a bug in cexledger (``EX_SOFTWARE``; ``CEXLEDGER_DEBUG=1`` shows it)
130     interrupted (Ctrl-C, 128 + SIGINT); everything archived so far is kept
141     standard output was closed by its reader (128 + SIGPIPE), e.g. ``| head``
======  ==================================================================================
"""

from __future__ import annotations

__all__ = ["OK", "ERROR", "USAGE", "INTERNAL", "INTERRUPTED", "BROKEN_PIPE", "HELP"]

OK = 0
ERROR = 1
USAGE = 2
INTERNAL = 70
INTERRUPTED = 130
BROKEN_PIPE = 141

#: The codes as the top-level ``--help`` and the README list them.
HELP: tuple[tuple[int, str], ...] = (
    (OK, "success"),
    (ERROR, "error (one line on stderr); sync: some stream failed, the rest is kept"),
    (USAGE, "usage error (unknown option, missing argument)"),
    (INTERNAL, "internal error, a bug (CEXLEDGER_DEBUG=1 shows the traceback)"),
    (INTERRUPTED, "interrupted (Ctrl-C); everything archived so far is kept"),
    (BROKEN_PIPE, "standard output closed by its reader (e.g. | head)"),
)
