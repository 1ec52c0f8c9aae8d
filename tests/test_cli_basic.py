import subprocess
import sys

from qopt import __version__
from qopt.cli import COMMANDS, main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "qopt", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout
