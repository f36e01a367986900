"""Daemons the lab starts (the nspawn supervisors, apt-cacher-ng, the wheelhouse server),
started detached so they outlive `hops-lab up`, and stopped later from another process.

Why pid + start time: `down` may run hours later in another process, when a pid may have
been reused; a process is only ours if its start time (clock ticks after boot, from
/proc/PID/stat) still matches the one recorded at spawn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks after boot, None if there is no such pid."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


@dataclass(frozen=True)
class ProcessRef:
    """A process we started: pid plus start time, so a reused pid is never mistaken for it."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        ticks = start_ticks(pid)
        if ticks is None:
            raise ProcessLookupError(pid)
        return cls(pid, ticks)

    def alive(self) -> bool:
        """Running (zombies count as gone) and still the same process."""
        fields = _stat_fields(self.pid)
        return bool(fields) and fields[0] != "Z" and int(fields[19]) == self.start  # type: ignore[index]

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def reap(self) -> None:
        """Collect the exit status if this process is our child (no zombie left behind)."""
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, os.WNOHANG)

    def wait(self, timeout: float) -> bool:
        """True once the process is gone, False if it still runs after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.reap()
            if not self.alive():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def children(self) -> list[ProcessRef]:
        """Direct children (from /proc/PID/task/*/children), for finding a guest's init."""
        found: list[ProcessRef] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                for pid in (task / "children").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        found.append(ProcessRef.of(int(pid)))
        return found


def spawn(
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
) -> ProcessRef:
    """Start `argv` (argv[0] an absolute path) in a new session, stdin /dev/null, stdout and
    stderr appended to `log`. posix_spawn, not Popen: the daemon is not ours to wait for,
    and no Popen object is left to warn about a still-running child."""
    log.parent.mkdir(parents=True, exist_ok=True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(
        argv[0],
        list(argv),
        dict(env if env is not None else os.environ),
        file_actions=actions,
        setsid=True,
    )
    return ProcessRef.of(pid)


def stop(ref: ProcessRef, timeout: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout` seconds; True if it ended without the KILL."""
    ref.signal(signal.SIGTERM)
    if ref.wait(timeout):
        return True
    ref.signal(signal.SIGKILL)
    ref.wait(5.0)
    return False


def processes_on_overlay(upperdir: Path) -> list[ProcessRef]:
    """Processes in another pid namespace whose root is the overlay with this upper layer:
    what is left of a container whose systemd-nspawn was killed (its guest survives it)."""
    own_ns = os.readlink("/proc/self/ns/pid")
    needle = f"upperdir={upperdir},"
    found: list[ProcessRef] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ProcessLookupError, ValueError):
            if os.readlink(entry / "ns/pid") == own_ns:
                continue
            for line in (entry / "mountinfo").read_text().splitlines():
                fields = line.split()
                if fields[4] == "/" and needle in line + ",":
                    found.append(ProcessRef.of(int(entry.name)))
                    break
    return found
