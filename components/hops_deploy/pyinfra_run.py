"""Run the pyinfra deploy (stacks/baremetal) and read its results table: what the twin test
and `bench/deploy.py` need (did it succeed, how long, how many operations changed)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hops_deploy.checkout import find_checkout
from hops_deploy.playbook import deploy_tool

# "Grand total   <hosts>   <success>   <error>   <no change>", '-' for none.
TOTAL = re.compile(r"^\s*Grand total\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", re.M)


@dataclass
class DeployRun:
    returncode: int
    seconds: float
    output: str
    operations: int = 0
    changed: int = 0  # pyinfra's "Success" column: operations that changed something
    errors: int = 0

    def explain(self, tail: int = 3000) -> str:
        """Each operation that failed with its error line, then the output's tail (as
        PlaybookRun.explain does for Ansible)."""
        failures, operation = [], ""
        for line in self.output.splitlines():
            if line.startswith("--> Starting operation:"):
                operation = line.removeprefix("--> Starting operation:").strip()
            elif "Error:" in line:
                failures.append(f"{operation}\n{line.strip()}")
        return "\n\n".join([*failures, "---- the end of the output ----", self.output[-tail:]])


def _count(value: str) -> int:
    return 0 if value == "-" else int(value)


def parse_totals(output: str) -> tuple[int, int, int]:
    """(operations, changed, errors) from the last results table of a run."""
    found = TOTAL.findall(output)
    if not found:
        return 0, 0, 0
    operations, changed, errors, _unchanged = (_count(v) for v in found[-1])
    return operations, changed, errors


def run_pyinfra(
    inventory: Path,
    data: Mapping[str, str] | None = None,
    timeout: float = 3600,
    log: Path | None = None,
) -> DeployRun:
    """`pyinfra -y stacks/baremetal/inventory.py stacks/baremetal/deploy.py` on `inventory`
    (an Ansible YAML inventory), with `--data key=value` for each of `data`."""
    stack = find_checkout() / "stacks" / "baremetal"
    argv = [deploy_tool("pyinfra"), "-y", str(stack / "inventory.py"), str(stack / "deploy.py")]
    for key, value in (data or {}).items():
        argv += ["--data", f"{key}={value}"]
    env = {**os.environ, "HOPS_INVENTORY": str(inventory), "NO_COLOR": "1"}
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed argv
        argv, cwd=stack, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    if log is not None:
        log.write_text(output)
    operations, changed, errors = parse_totals(output)
    return DeployRun(
        result.returncode, time.monotonic() - started, output, operations, changed, errors
    )
