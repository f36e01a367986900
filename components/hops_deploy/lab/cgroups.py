"""A cgroup of its own for each lab host, in every hierarchy systemd tracks units with.

Why: `systemd-nspawn --keep-unit --register=no` puts the guest in `<its own cgroup>/payload`.
On a machine without systemd (a CI box) every nspawn starts in the root cgroup, so every
host of every lab shared one `/payload` tree: the guests' systemd all managed the same
`/payload/system.slice/mariadb.service`. Stopping a unit on one host then read the other
hosts' processes in it (pid 0 across PID namespaces: "Failed to kill control group ...
Input/output error") and a start raced another host's removal of the group (219/CGROUP).
The supervisor therefore moves itself into `/hops-lab/<host>` before it starts nspawn.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PARENT = "hops-lab"
MOUNTINFO = Path("/proc/self/mountinfo")


def tracking_hierarchies(mountinfo: str) -> list[Path]:
    """Mount points of the unified (v2) hierarchy and of v1's `name=systemd` one: the two
    systemd places units' processes in (hybrid hosts have both)."""
    found: list[Path] = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line:
            continue
        after = line.split(" - ", 1)[1].split()
        fstype, options = after[0], after[2] if len(after) > 2 else ""
        if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options.split(",")):
            found.append(Path(fields[4]))
    return found


def host_cgroups(host: str, hierarchies: list[Path] | None = None) -> list[Path]:
    """The host's cgroup directory in each tracking hierarchy."""
    if hierarchies is None:
        hierarchies = tracking_hierarchies(MOUNTINFO.read_text())
    return [h / PARENT / host for h in hierarchies]


def enter(host: str, hierarchies: list[Path] | None = None) -> list[Path]:
    """Move this process into the host's cgroups (created as needed); returns those it
    entered. A hierarchy this process may not write to is skipped (the guests still boot,
    sharing a tree as before)."""
    entered: list[Path] = []
    for directory in host_cgroups(host, hierarchies):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "cgroup.procs").write_text(f"{os.getpid()}\n")
        except OSError:
            continue
        entered.append(directory)
    return entered


def _bottom_up(directory: Path) -> Iterator[Path]:
    for child in sorted(p for p in directory.iterdir() if p.is_dir()):
        yield from _bottom_up(child)
    yield directory


def remove(host: str, hierarchies: list[Path] | None = None) -> None:
    """Remove the host's cgroups and what the guest left under them, once its processes
    are gone (a group that still has processes stays)."""
    for directory in host_cgroups(host, hierarchies):
        if not directory.is_dir():
            continue
        for group in _bottom_up(directory):
            with contextlib.suppress(OSError):
                group.rmdir()
