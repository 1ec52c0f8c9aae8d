"""One module per claim of ``qopt reproduce``; each defines ``SPEC`` (a
:class:`~qopt.reproduce.claim.ClaimSpec`). The registry (:mod:`qopt.reproduce.registry`) lists
them in report order."""
