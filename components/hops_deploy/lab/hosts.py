"""One lab host: an overlay on the shared root filesystem, its own identity, booted by
systemd-nspawn under the supervisor, stopped with a clean poweroff (or killed).

Why an overlay per host: the lower layer (rootfs.py) is shared read-only, so a host costs
only what it writes, and `down` throws a host away by unmounting and deleting its upper
layer. Why write identity files before boot: a copied tree shares machine-id and SSH host
keys, which breaks journald, D-Bus and SSH host trust; every host gets new ones here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import hops_deploy
from hops_deploy.lab import LabError, cgroups
from hops_deploy.lab.prereqs import command
from hops_deploy.lab.processes import ProcessRef, processes_on_overlay, spawn


@dataclass(frozen=True)
class HostSpec:
    """A lab host as the network and inventory see it."""

    name: str
    index: int
    address: str


@dataclass(frozen=True)
class HostPaths:
    """Where a host's layers live: upper (its writes), work (overlayfs scratch), root
    (the merged tree systemd-nspawn boots), and its log and nspawn pid file."""

    base: Path

    @property
    def host(self) -> str:
        return self.base.name

    @property
    def upper(self) -> Path:
        return self.base / "upper"

    @property
    def work(self) -> Path:
        return self.base / "work"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def pidfile(self) -> Path:
        return self.base / "nspawn.pid"


def hosts_file(peers: Iterable[HostSpec]) -> str:
    """/etc/hosts: loopback plus every lab host by name (the hosts have no DNS)."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        "",
        "# lab hosts (written by hops-lab up)",
        *(f"{peer.address}\t{peer.name}" for peer in peers),
    ]
    return "\n".join(lines) + "\n"


def network_file(address: str, prefixlen: int) -> str:
    """systemd-networkd config for the container's veth (host0): a static address, no
    gateway (no route off the machine). Named 10-: the packaged 80-container-host0.network
    would otherwise win and ask for DHCP."""
    return (
        "[Match]\nName=host0\n\n"
        f"[Network]\nAddress={address}/{prefixlen}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


def identity_files(
    host: HostSpec,
    prefixlen: int,
    peers: Sequence[HostSpec],
    authorized_key: str,
    machine_id: str,
    apt_proxy_url: str,
    pip_conf: str,
) -> dict[str, tuple[str, int]]:
    """Files (path inside the host -> content, mode) that make the shared tree this host."""
    return {
        "etc/hostname": (f"{host.name}\n", 0o644),
        "etc/hosts": (hosts_file(peers), 0o644),
        "etc/machine-id": (f"{machine_id}\n", 0o444),
        "etc/resolv.conf": (
            "# lab hosts have no DNS server: names are in /etc/hosts\n"
            "options timeout:1 attempts:1\n",
            0o644,
        ),
        "etc/systemd/network/10-host0.network": (network_file(host.address, prefixlen), 0o644),
        "etc/apt/apt.conf.d/01hops-lab-proxy": (
            f'Acquire::http::Proxy "{apt_proxy_url}";\n',
            0o644,
        ),
        "etc/pip.conf": (pip_conf, 0o644),
        "root/.ssh/authorized_keys": (f"{authorized_key}\n", 0o600),
    }


def write_files(root: Path, files: Mapping[str, tuple[str, int]]) -> None:
    """Write files into a host tree (replacing symlinks such as resolv.conf's)."""
    for relative, (content, mode) in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_text(content)
        path.chmod(mode)


def new_machine_id() -> str:
    """A fresh machine id (an empty /etc/machine-id gives every container the same one)."""
    out = subprocess.run(  # noqa: S603
        [command("systemd-id128"), "new"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if len(out) != 32:
        raise LabError(f"systemd-id128 new printed {out!r}, not a machine id")
    return out


HOST_KEY_TYPES = ("ed25519", "ecdsa")
"""No RSA host key: generating one takes 1-2 s of CPU per host (most of a warm `up`), and
every SSH client Ansible and pyinfra use speaks ed25519; sshd skips the absent default."""


def generate_host_keys(root: Path, name: str) -> None:
    """New SSH host keys, written into the host's /etc/ssh (never shared between hosts)."""
    ssh_dir = root / "etc" / "ssh"
    for key_type in HOST_KEY_TYPES:
        key = ssh_dir / f"ssh_host_{key_type}_key"
        for path in (key, key.with_name(key.name + ".pub")):
            path.unlink(missing_ok=True)
        comment = f"root@{name}"
        subprocess.run(  # noqa: S603
            [command("ssh-keygen"), "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(key)],
            capture_output=True,
            check=True,
        )


def is_mounted(path: Path) -> bool:
    """Whether `path` is a mount point in this mount namespace."""
    target = str(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4].replace("\\040", " ")
        if mount_point == target:
            return True
    return False


def mount_overlay(lower: Path, paths: HostPaths) -> None:
    """Mount the host's tree: shared lower layer, its own upper layer."""
    for directory in (lower, paths.upper, paths.work, paths.root):
        if any(c in str(directory) for c in ",:\\"):
            raise LabError(f"overlayfs cannot take a path with ',', ':' or '\\': {directory}")
    for directory in (paths.upper, paths.work, paths.root):
        directory.mkdir(parents=True, exist_ok=True)
    options = f"lowerdir={lower},upperdir={paths.upper},workdir={paths.work}"
    result = subprocess.run(  # noqa: S603
        [command("mount"), "-t", "overlay", "overlay", "-o", options, str(paths.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"overlay mount on {paths.root} failed: {result.stderr.strip()}")


def unmount(root: Path, attempts: int = 20) -> None:
    """Unmount a host tree; retried while a dying container still holds it, then lazily."""
    umount = command("umount")
    for _ in range(attempts):
        if not is_mounted(root):
            return
        subprocess.run([umount, str(root)], capture_output=True, check=False)  # noqa: S603
        time.sleep(0.1)
    if is_mounted(root):
        subprocess.run([umount, "--lazy", str(root)], capture_output=True, check=False)  # noqa: S603
    if is_mounted(root):
        raise LabError(f"cannot unmount {root}: see `fuser -vm {root}`")


SHARED_MOUNT = "/srv/hops/shared"
"""Where every host of a lab sees the lab's one shared directory: it stands in for the
shared file system (HDFS, NFS) a real site's hosts have, so that files a Spark executor
writes on one host (a table in the warehouse) are what the driver and Hive see on another."""


def nspawn_argv(root: Path, name: str, bridge: str, shared: Path | None = None) -> list[str]:
    """The systemd-nspawn command that boots a host. `--register=no --keep-unit`: there is
    no system bus/machined on a CI box; `--resolv-conf=off`: the host writes its own; no
    journal link into this machine's /var/log. `shared`: bound at SHARED_MOUNT."""
    bind = [f"--bind={shared}:{SHARED_MOUNT}"] if shared is not None else []
    return [
        command("systemd-nspawn"),
        "--boot",
        f"--directory={root}",
        f"--machine={name}",
        f"--network-bridge={bridge}",
        "--register=no",
        "--keep-unit",
        "--console=passive",
        "--resolv-conf=off",
        "--link-journal=no",
        *bind,
    ]


def boot(
    root: Path, name: str, bridge: str, paths: HostPaths, log: Path, shared: Path | None = None
) -> ProcessRef:
    """Start the host under the supervisor (detached; it restarts nspawn on reboot)."""
    package_parent = str(Path(hops_deploy.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    argv = [
        sys.executable,
        "-m",
        "hops_deploy.lab.supervisor",
        str(paths.pidfile),
        name,
        "--",
        *nspawn_argv(root, name, bridge, shared),
    ]
    return spawn(argv, log, env)


def nspawn_process(paths: HostPaths) -> ProcessRef | None:
    """The current systemd-nspawn of a host, from the supervisor's pid file."""
    with contextlib.suppress(OSError, ValueError, ProcessLookupError):
        pid = int(paths.pidfile.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd-nspawn":
            return ProcessRef.of(pid)
    return None


def request_poweroff(supervisor: ProcessRef | None) -> None:
    """SIGTERM to the supervisor: it stops restarting and forwards the signal to nspawn,
    which powers the guest off cleanly."""
    if supervisor is not None:
        supervisor.signal(signal.SIGTERM)


def finish_stop(supervisor: ProcessRef | None, paths: HostPaths, deadline: float) -> bool:
    """Wait for a host to be gone until `deadline` (monotonic), then SIGKILL whatever is
    left: nspawn, the supervisor and the guest's processes (a guest outlives a killed
    nspawn). Then unmount its tree. True if it stopped cleanly."""
    clean = True
    nspawn = nspawn_process(paths)
    for ref in (supervisor, nspawn):
        if ref is not None and not ref.wait(max(0.0, deadline - time.monotonic())):
            clean = False
            ref.signal(signal.SIGKILL)
            ref.wait(5.0)
    leftovers = processes_on_overlay(paths.upper)
    for ref in leftovers:
        clean = False
        ref.signal(signal.SIGKILL)
    for ref in leftovers:
        ref.wait(5.0)
    unmount(paths.root)
    cgroups.remove(paths.host)
    return clean
