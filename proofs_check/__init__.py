"""proofs_check: verify any quantizer, any training run, and every claim of :mod:`theory`."""
