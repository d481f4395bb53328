"""``cexledger`` with the connectors' documented rate limits multiplied: ``_scaled_cli.py SCALE ARGS``.

The sandbox can serve far above the real exchanges' limits (``--rate-limit-scale``,
``--no-rate-limit``), but the product refuses a configured ``rate_limit`` above the
documented one. A benchmark that measures something other than pacing (peak memory of a
large backfill) runs the real CLI through this launcher, which scales the one definition of
each limit (every connector's rate-limit ``Budget``) before the CLI starts, so the config check and
the clients' default pace both follow it. Nothing else changes.
"""

from __future__ import annotations

import sys

from cexledger.exchanges import registry

if __name__ == "__main__":
    scale = float(sys.argv.pop(1))
    budgets = {id(s.budget): s.budget for c in registry.values() for s in c.streams.values()}
    for budget in budgets.values():
        budget.rate *= scale
    from cexledger.cli import main

    sys.argv[0] = "cexledger"
    main()
