"""Run `site.yml` with ansible-playbook and read its PLAY RECAP: what the lab tests and
`bench/deploy.py` need (did it succeed, how long, what changed on which host)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hops_deploy.checkout import find_checkout

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass
class PlaybookRun:
    returncode: int
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    output: str = ""

    @property
    def changed(self) -> dict[str, int]:
        return {host: counts.get("changed", 0) for host, counts in self.recap.items()}

    def changed_tasks(self) -> list[str]:
        """Task headers followed by a `changed:` line, to say what a re-run changed."""
        found, task = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line.split("]", 1)[0] + "]"
            elif line.startswith("changed:") and task and task not in found:
                found.append(task)
        return found

    def explain(self, tail: int = 3000) -> str:
        """Each failed task with every failing host's whole message, then the output's tail:
        a tail alone cuts off the first of several hosts' (often the telling) messages."""
        failures, task = [], ""
        lines = self.output.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("TASK ["):
                task = line.split("]", 1)[0] + "]"
            elif line.startswith(("fatal:", "failed:")):
                ignored = index + 1 < len(lines) and lines[index + 1].startswith("...ignoring")
                if not ignored:
                    failures.append(task + "\n" + line.replace("\\n", "\n"))
        return "\n\n".join([*failures, "---- the end of the output ----", self.output[-tail:]])


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP_LINE.match(line.strip()) if in_recap else None
        if match:
            counts = dict(item.split("=") for item in match.group("counts").split())
            recap[match.group("host")] = {k: int(v) for k, v in counts.items()}
    return recap


def deploy_tool(name: str) -> str:
    """A deploy tool's executable: the one beside this Python (the project's venv) first."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: pip install '.[deploy]'")
    return found


def ansible_playbook() -> str:
    return deploy_tool("ansible-playbook")


def run_site(
    inventory: Path, args: Sequence[str] = (), timeout: float = 3600, log: Path | None = None
) -> PlaybookRun:
    return run_playbook("site.yml", inventory, args, timeout, log)


def run_playbook(
    playbook: str,
    inventory: Path,
    args: Sequence[str] = (),
    timeout: float = 3600,
    log: Path | None = None,
    checkout: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> PlaybookRun:
    """A playbook of the checkout (site.yml, upgrade.yml, backup.yml, ...) on an inventory;
    `checkout`: another tree's (an earlier commit's, for an upgrade from it)."""
    repo = checkout or find_checkout()
    env = {
        **os.environ,
        **(extra_env or {}),
        "HOPS_CHECKOUT": str(repo),
        "ANSIBLE_CONFIG": str(repo / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    argv = [ansible_playbook(), "-i", str(inventory), str(repo / playbook), *args]
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - fixed argv
        argv, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    if log is not None:
        log.write_text(output)
    return PlaybookRun(result.returncode, time.monotonic() - started, parse_recap(output), output)
