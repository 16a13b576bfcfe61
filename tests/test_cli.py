"""Every console entry point and subcommand answers --help (in a fresh process, as a user runs it)."""

import subprocess
import sys

import pytest

from dmcdata.cli import SUBCOMMANDS as DATA_COMMANDS
from dmcmodels.cli import SUBCOMMANDS as MODEL_COMMANDS

CASES = [("dmcdata", c) for c in DATA_COMMANDS] + [("dmcmodels", c) for c in MODEL_COMMANDS]


@pytest.mark.parametrize("tool,command", CASES)
def test_subcommand_help(tool, command):
    module = {"dmcdata": "dmcdata.cli", "dmcmodels": "dmcmodels.cli"}[tool]
    r = subprocess.run([sys.executable, "-m", module, command, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"{tool} {command}" in r.stdout
    # every option is explained
    assert "--" in r.stdout and "show this help message" in r.stdout


def test_unknown_command_is_an_error():
    r = subprocess.run([sys.executable, "-m", "dmcdata.cli", "no-such-command"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


def test_no_command_prints_usage():
    r = subprocess.run([sys.executable, "-m", "dmcdata.cli"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage: dmcdata" in r.stderr
