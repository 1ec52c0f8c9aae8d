"""``python -m qopt`` (and ``torchrun ... -m qopt``): the working directory that ``python -m``
puts on ``sys.path`` is removed first, so that a config's ``model = "mod:Class"`` is never
imported from it (:func:`qopt._imports.isolate_entry_path`)."""

import sys

from qopt._imports import isolate_entry_path

isolate_entry_path()

from qopt.cli import main  # noqa: E402 - after the path is cleaned

sys.exit(main())
