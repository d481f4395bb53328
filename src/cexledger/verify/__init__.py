"""``cexledger verify``: the proof that nothing is missing, where the exchange gives the means
(:mod:`.model` says what a verdict holds)."""
