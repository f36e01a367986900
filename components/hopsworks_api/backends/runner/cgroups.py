"""CPU and memory limits for a run's process tree: a cgroup of its own, on cgroup v2 (one
unified hierarchy: `/sys/fs/cgroup/cgroup.controllers` exists) or v1 (a `cpu` and a `memory`
hierarchy), removed after the run.

The run's first process enters its cgroup before it starts the sandbox (`enter_command`: a
shell writes its own pid, then execs), so no process of the run ever runs outside it. The
memory limit includes swap (a run over it is OOM-killed rather than swapped out); the CPU
limit is a CFS quota of `cores` x the period. When no hierarchy is writable (no root, a
container without a delegated cgroup) runs still start, without limits: `Cgroups.enforced`
says so and the service logs it once, when it builds the runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from hopsworks_api.backends.runner.base import Limits

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PARENT = "hops-runs"
V1_SHARES = 1024  # cpu.shares of one task (cgroup v1's default)
V2_WEIGHT = 100  # cpu.weight of one task (cgroup v2's default)
PERIOD_US = 100_000
REMOVE_TRIES = 50
REMOVE_PAUSE_S = 0.02
# enters every cgroup.procs file named before the program, then becomes the program
ENTER = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'  # noqa: E501


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@dataclass(frozen=True)
class RunCgroup:
    """The directories of one run's cgroup (one on v2, one per controller on v1)."""

    dirs: tuple[Path, ...]

    def enter_command(self, argv: list[str]) -> list[str]:
        procs = [str(d / "cgroup.procs") for d in self.dirs]
        return ["/bin/sh", "-c", ENTER, "sh", str(len(procs)), *procs, *argv]

    def remove(self) -> None:
        """Once its processes are gone; the kernel frees an emptied group asynchronously, so
        a busy group is retried briefly, then left (and logged)."""
        for directory in self.dirs:
            for _ in range(REMOVE_TRIES):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(REMOVE_PAUSE_S)
            else:
                log.warning("cgroup left behind", extra={"cgroup": str(directory)})


class Cgroups:
    """Makes run cgroups under `<hierarchy>/hops-runs/`; `root` is swappable for tests."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.version: int | None = None
        if (root / "cgroup.controllers").is_file() and _writable(root):
            self.version = 2
        elif _writable(root / "memory") and _writable(root / "cpu"):
            self.version = 1
        else:  # once, when the runner is built
            log.warning("CPU and memory limits of runs are not enforced: %s", self.describe())

    @property
    def enforced(self) -> bool:
        return self.version is not None

    def describe(self) -> str:
        if self.version is None:
            return "not enforced: no writable cgroup hierarchy"
        return f"cgroup v{self.version}"

    def create(self, run_id: str, limits: Limits) -> RunCgroup | None:
        """The run's cgroup with its limits set; None without limits or without cgroups.
        Its name adds this process and a random part to the run's id: run ids repeat across
        instances (and test databases) on one host."""
        if limits.cores is None and limits.memory_mb is None:
            return None
        if self.version is None:
            return None
        name = f"{run_id}-{os.getpid()}-{secrets.token_hex(3)}"
        return self._v2(name, limits) if self.version == 2 else self._v1(name, limits)

    def _v2(self, run_id: str, limits: Limits) -> RunCgroup:
        parent = self.root / PARENT
        parent.mkdir(exist_ok=True)
        for directory in (self.root, parent):  # let the children have both controllers
            with contextlib.suppress(OSError):  # already on, or set up by the operator
                (directory / "cgroup.subtree_control").write_text("+cpu +memory")
        group = parent / run_id
        group.mkdir(exist_ok=True)
        if limits.memory_mb is not None:
            (group / "memory.max").write_text(str(limits.memory_mb * 1024 * 1024))
            with contextlib.suppress(OSError):  # without swap accounting
                (group / "memory.swap.max").write_text("0")
        if limits.cores is not None:
            (group / "cpu.max").write_text(f"{round(limits.cores * PERIOD_US)} {PERIOD_US}")
            _weigh(parent / "cpu.weight", group / "cpu.weight", V2_WEIGHT, limits.cores)
        return RunCgroup((group,))

    def _v1(self, run_id: str, limits: Limits) -> RunCgroup:
        memory = self.root / "memory" / PARENT / run_id
        cpu = self.root / "cpu" / PARENT / run_id
        for group in (memory, cpu):
            group.mkdir(parents=True, exist_ok=True)
        if limits.memory_mb is not None:
            limit = str(limits.memory_mb * 1024 * 1024)
            (memory / "memory.limit_in_bytes").write_text(limit)
            with contextlib.suppress(OSError):  # without swap accounting
                (memory / "memory.memsw.limit_in_bytes").write_text(limit)
        if limits.cores is not None:
            (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(str(round(limits.cores * PERIOD_US)))
            _weigh(cpu.parent / "cpu.shares", cpu / "cpu.shares", V1_SHARES, limits.cores)
        return RunCgroup((memory, cpu))


def _weigh(parent: Path, group: Path, unit: int, cores: float) -> None:
    """Give the runs' parent the weight of every core of the host and a run the weight of
    its cores: by default a group competes for CPU as one task would, so a 2-core Spark run
    got about one task's share on a busy host while a bare JVM's threads each got theirs.
    The quota above still caps it. Best effort: a weight the kernel refuses is left as is."""
    most = 10_000 if unit == V2_WEIGHT else 262_144  # the kernel's upper bounds
    for path, count in ((parent, os.cpu_count() or 1), (group, cores)):
        with contextlib.suppress(OSError):
            path.write_text(str(min(max(round(unit * count), 2), most)))
