"""Subcommands of the ``qopt`` CLI, one module each (see :mod:`qopt.cli`)."""
