"""``cexledger report``: fees, funding and PnL per month, coin and instrument, aggregated in
Arrow from the ledger (:mod:`.model` says what every figure is)."""
