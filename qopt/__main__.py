import sys

from qopt.cli import main

sys.exit(main())
