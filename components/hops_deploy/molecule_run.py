"""Run the roles' molecule scenarios (roles/<role>/molecule/default) on a lab host, in
site.yml's order: each converges its role on a host the roles before it have converged,
converges it again (idempotence: nothing may change) and verifies it with testinfra. The
shared settings are `.config/molecule/config.yml` (lab hosts as delegated platforms)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hops_deploy.checkout import find_checkout
from hops_deploy.playbook import deploy_tool

SCENARIO = Path("molecule") / "default"
BASE_CONFIG = Path(".config") / "molecule" / "config.yml"


@dataclass
class ScenarioRun:
    role: str
    returncode: int
    seconds: float
    output: str

    def explain(self, tail: int = 4000) -> str:
        return f"molecule scenario of role {self.role}:\n{self.output[-tail:]}"


def scenario_roles(checkout: Path) -> list[str]:
    """The roles with a scenario, in the order site.yml's plays apply them."""
    found: list[str] = []
    for play in yaml.safe_load((checkout / "site.yml").read_text()):
        for entry in play.get("roles", []):
            role = entry["role"] if isinstance(entry, dict) else entry
            has_scenario = (checkout / "roles" / role / SCENARIO / "molecule.yml").is_file()
            if has_scenario and role not in found:
                found.append(role)
    return found


def run_scenario(
    role: str,
    inventory_dir: Path,
    host: str,
    checkout: Path | None = None,
    timeout: float = 3600,
) -> ScenarioRun:
    """`molecule test` for one role against `host` of the inventory in `inventory_dir`
    (hosts.yml and group_vars/)."""
    repo = checkout or find_checkout()
    env = {
        **os.environ,
        "HOPS_MOLECULE_INVENTORY": str(inventory_dir),
        "HOPS_MOLECULE_HOST": host,
        "NO_COLOR": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    argv = [deploy_tool("molecule"), "--base-config", str(repo / BASE_CONFIG), "test"]
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed argv
        argv,
        cwd=repo / "roles" / role,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    return ScenarioRun(role, result.returncode, time.monotonic() - started, output)


def run_scenarios(
    inventory_dir: Path, host: str, checkout: Path | None = None, log: Path | None = None
) -> list[ScenarioRun]:
    """Every scenario in order, stopping at the first that fails (the later roles need it)."""
    repo = checkout or find_checkout()
    runs: list[ScenarioRun] = []
    for role in scenario_roles(repo):
        runs.append(run_scenario(role, inventory_dir, host, repo))
        if log is not None:
            with log.open("a") as out:
                out.write(f"==== {role}: exit {runs[-1].returncode}\n{runs[-1].output}\n")
        if runs[-1].returncode != 0:
            break
    return runs
