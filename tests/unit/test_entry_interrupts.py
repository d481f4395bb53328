"""A Ctrl-C that lands inside a callback Python cannot raise from (a weakref or GC callback,
such as importlib's module-lock cleanup) must not print "Exception ignored … Traceback" and
be lost: the entry re-delivers it, so it ends the command like any other Ctrl-C."""

from __future__ import annotations

import subprocess
import sys

_PROGRAM = r'''
import sys, time, weakref
from cexledger import _entry
sys.unraisablehook = _entry._unraisable
class Thing: pass
def callback(_): raise KeyboardInterrupt      # what a Ctrl-C inside a weakref callback does
thing = Thing(); ref = weakref.ref(thing, callback)
try:
    del thing
    started = time.monotonic()
    while time.monotonic() - started < 30: pass
    print("lost")
except KeyboardInterrupt:
    print("interrupted")
'''


def test_an_interrupt_inside_a_callback_is_delivered_again() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "interrupted", proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
