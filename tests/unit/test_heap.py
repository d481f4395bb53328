"""``freeze_loaded``: what a long run loaded stays out of the collector's later passes, and
garbage made before it is freed, not frozen. Run in a fresh interpreter: freezing is for
the whole process."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_freeze_leaves_the_loaded_libraries_out_of_every_later_collection():
    script = textwrap.dedent("""
        import gc, weakref
        import cexledger.cli, cexledger.sync, cexledger.archive, cexledger.worker.run
        from cexledger._heap import freeze_loaded

        class Node:
            pass
        a, b = Node(), Node()
        a.peer, b.peer = b, a            # a reference cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        before = len(gc.get_objects())
        freeze_loaded()
        print(before, gc.get_freeze_count(), len(gc.get_objects()), gone() is None)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    before, frozen, walked, freed = int(out[0]), int(out[1]), int(out[2]), out[3] == "True"
    assert before > 20_000                  # the libraries a sync loads
    assert frozen >= before * 0.9           # nearly all of them frozen
    assert walked < 1_000                   # a full collection now walks almost nothing
    assert freed                            # the cycle was collected, not frozen
