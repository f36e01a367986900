"""What the lab needs from the machine: root, the kernel features, and a few Debian packages.

Why install from code: CI runs on a fresh machine and `hops-lab up` must work there with no
manual step; a package missing is installed with apt (and said so), a machine that cannot run
containers at all is reported with the reason instead of failing half-way through `up`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from hops_deploy.lab import LabError

REQUIRED_COMMANDS: dict[str, str] = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "apt-cacher-ng": "apt-cacher-ng",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "systemd-id128": "systemd",
    "zstd": "zstd",
    "unshare": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "systemctl": "systemd",
    "tar": "tar",
    "apt-config": "apt",
}
"""Command -> the Debian package that provides it."""

_SBIN_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_APT_LOCK_TIMEOUT_S = 600

Report = Callable[[str], None]


def find_command(name: str) -> str | None:
    """Locate a command on PATH or in the sbin directories a non-login PATH often lacks."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    return shutil.which(name, path=path)


def command(name: str) -> str:
    """Absolute path of a required command, or a LabError naming the package to install."""
    found = find_command(name)
    if found is None:
        package = REQUIRED_COMMANDS.get(name, name)
        raise LabError(f"{name} not found: apt-get install {package}")
    return found


def require_root() -> None:
    """Containers, bridges and mounts need root; say so before touching anything."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (bridges, overlay mounts, systemd-nspawn): run as root")


def missing_packages(commands: Iterable[str] = REQUIRED_COMMANDS) -> list[str]:
    """Debian packages to install so that every required command exists (sorted, unique)."""
    return sorted({REQUIRED_COMMANDS[c] for c in commands if find_command(c) is None})


def _apt_get(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(  # noqa: S603 - fixed argv
        [command("apt-get"), "-o", f"DPkg::Lock::Timeout={_APT_LOCK_TIMEOUT_S}", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def ensure_packages(report: Report = print) -> list[str]:
    """Install the Debian packages behind any missing command; return what was installed.

    A fresh machine may have empty apt lists, so a failed install is retried once after
    `apt-get update`.
    """
    packages = missing_packages()
    if not packages:
        return []
    if find_command("apt-get") is None:
        raise LabError(f"missing packages and no apt-get: install {' '.join(packages)}")
    report(f"installing Debian packages the lab needs: {' '.join(packages)}")
    install = ["install", "-y", "--no-install-recommends", *packages]
    result = _apt_get(install)
    if result.returncode != 0:
        _apt_get(["update"])
        result = _apt_get(install)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise LabError(f"apt-get install {' '.join(packages)} failed:\n{tail}")
    still = missing_packages()
    if still:
        raise LabError(f"installed, yet commands are still missing from: {' '.join(still)}")
    return packages


def container_support() -> str | None:
    """None if this machine can run systemd-nspawn containers, else the reason it cannot.

    Probes what nspawn needs without booting anything: overlayfs for the per-host layers
    and the mount/pid/net/uts/ipc namespaces (absent in some sandboxes and unprivileged
    containers).
    """
    if os.geteuid() != 0:
        return "not root"
    filesystems = Path("/proc/filesystems")
    if filesystems.exists() and "overlay" not in filesystems.read_text():
        return "the kernel has no overlayfs (modprobe overlay)"
    unshare = find_command("unshare")
    if unshare is None:
        return "unshare not found: apt-get install util-linux"
    probe = subprocess.run(  # noqa: S603 - fixed argv
        [unshare, "--mount", "--pid", "--net", "--uts", "--ipc", "--fork", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot create namespaces here: {probe.stderr.strip() or probe.returncode}"
    return None
