"""The lab's command line: `hops-lab`, a console script of its own, and not in `hops`.

Nothing here boots a host (tests/lab does, as root): only the commands' wiring.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from hops_deploy.lab.cli import lab_app
from hopsworks_api.cli import app as hops

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_hops_lab_is_its_own_console_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["hops-lab"] == "hops_deploy.lab.cli:lab_app"
    assert scripts["hops"] == "hopsworks_api.cli:app"


def test_hops_lab_help_lists_the_lab_commands() -> None:
    result = runner.invoke(lab_app, ["--help"], prog_name="hops-lab")
    assert result.exit_code == 0, result.output
    for command in ("up", "add", "status", "down", "ssh", "wheelhouse"):
        assert f" {command} " in result.output, command


def test_the_production_command_has_no_lab() -> None:
    assert runner.invoke(hops, ["--help"]).exit_code == 0
    result = runner.invoke(hops, ["lab", "--help"])
    assert result.exit_code != 0
    assert "No such command 'lab'" in result.output


def test_neither_command_loads_the_other() -> None:
    """`hops-lab` starts without the control service, and `hops` without the lab."""
    for command, other in (
        ("hops_deploy.lab.cli", "hopsworks_api"),
        ("hopsworks_api.cli", "hops_deploy.lab"),
    ):
        code = f"import sys, {command}; print(sorted(m for m in sys.modules if m.startswith('{other}')))"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert out.strip() == "[]", (command, out)
