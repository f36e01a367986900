"""`up`, `status` and `down` of a lab, composed from the other modules.

`up`: packages -> root filesystem (cached) -> ssh key -> bridge -> apt proxy -> wheelhouse
server -> a shared directory if asked (every host's /srv/hops/shared) -> per host: overlay,
identity, boot -> wait for ssh -> inventory. Every created
resource is recorded in the state file before the next step, and any failure (or Ctrl-C)
runs `down` on what exists, so a failed `up` leaves nothing behind.

`down`: SIGTERM to every host at once (clean poweroff), SIGKILL after the timeout, unmount,
stop the apt proxy and wheelhouse server, delete the bridge, remove the inventory (unless
edited) and the hosts' layers. It carries on past a failing step and reports all failures
at the end; without a state file it still removes a leftover bridge and mounts by name.

One host's start (`start_host`, `wait_for_host`) and removal (`finish_host`) are their own
functions because `add` (add.py) boots a host into a lab that is already up.
"""

from __future__ import annotations

import functools
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path
from typing import Protocol

from hops_deploy.lab import LabError, aptproxy, hosts, inventory, network, sshkeys, state
from hops_deploy.lab import wheelhouse as wheels
from hops_deploy.lab.prereqs import ensure_packages, require_root
from hops_deploy.lab.processes import stop
from hops_deploy.lab.rootfs import RootfsSpec, ensure_rootfs
from hops_deploy.lab.state import HostState, LabState, ServiceState

NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,8}[a-z])?$")
"""Lab names: hosts are named <lab><n>, so a name may not end in a digit (lab1 + 1 = lab11)."""

MAX_HOSTS = 20
APT_PROXY = "apt-proxy"
WHEELHOUSE = "wheelhouse"

STEPS = (
    "packages",
    "root filesystem",
    "ssh key",
    "network",
    "apt proxy",
    "wheelhouse",
    "hosts",
    "ssh",
    "inventory",
)
"""The steps `up` reports, in order (the CLI sizes its progress bar with this)."""


class Reporter(Protocol):
    """Where `up`/`down` say what they are doing (the CLI shows it with Rich)."""

    def step(self, name: str) -> None:
        """A new step (one of STEPS for `up`) begins."""

    def note(self, message: str) -> None:
        """A detail worth showing (a package installed, a slow first build)."""


class PrintReporter:
    """A Reporter for scripts and tests."""

    def step(self, name: str) -> None:
        print(f"== {name}", flush=True)

    def note(self, message: str) -> None:
        print(f"   {message}", flush=True)


def default_inventory_dir() -> Path:
    """`inventories/lab` of this repository (where ansible.cfg and site.yml are)."""
    from hops_deploy.checkout import find_checkout

    return find_checkout() / "inventories" / "lab"


@dataclass(frozen=True)
class LabConfig:
    """What `up` builds. Defaults: one host named lab1, the shared cache, this repo's
    inventories/lab, the shared wheelhouse under the cache dir."""

    name: str = "lab"
    hosts: int = 1
    cache_dir: Path = state.DEFAULT_CACHE_DIR
    inventory_dir: Path | None = None
    wheelhouse_dir: Path | None = None
    boot_timeout: float = 120.0
    install_packages: bool = True
    shared_dir: bool = False
    """Bind one directory of the lab into every host at /srv/hops/shared (hosts.SHARED_MOUNT),
    standing in for a site's shared file system."""

    def validate(self) -> None:
        if not NAME_RE.match(self.name):
            raise LabError(
                f"bad lab name {self.name!r}: 1-10 of a-z, 0-9, '-', starting with a letter "
                "and not ending in a digit"
            )
        if not 1 <= self.hosts <= MAX_HOSTS:
            raise LabError(f"--hosts must be 1..{MAX_HOSTS}, not {self.hosts}")


def host_names(name: str, count: int) -> list[str]:
    return [f"{name}{i}" for i in range(1, count + 1)]


def _log_tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _subnets_of_other_labs(cache_dir: Path, name: str) -> list[IPv4Network]:
    found = []
    for other in state.lab_names(cache_dir):
        lab = state.load(cache_dir, other) if other != name else None
        if lab is not None and lab.subnet:
            found.append(IPv4Network(lab.subnet))
    return found


def _start_hosts(
    lab: LabState, lower: Path, key: Path, apt_url: str, pip_conf: str, shared_dir: bool
) -> None:
    shared = lab.dir / "shared" if shared_dir else None
    if shared is not None:
        shared.mkdir(mode=0o755, exist_ok=True)
    for host in lab.hosts:  # planned in order, addresses fixed
        start_host(lab, host, lower, key, apt_url, pip_conf, shared)


def start_host(
    lab: LabState,
    host: HostState,
    lower: Path,
    key: Path,
    apt_url: str,
    pip_conf: str,
    shared: Path | None,
) -> None:
    """Mount, name and boot one host of `lab` (already in `lab.hosts`); its /etc/hosts
    names every host of the lab. Recorded in the state file after each step."""
    subnet = IPv4Network(lab.subnet or "")
    assert lab.bridge is not None
    specs = [hosts.HostSpec(h.name, h.index, h.address) for h in lab.hosts]
    paths = hosts.HostPaths(Path(host.base))
    hosts.mount_overlay(lower, paths)
    host.mounted = True
    lab.save()
    spec = next(s for s in specs if s.name == host.name)
    files = hosts.identity_files(
        spec,
        subnet.prefixlen,
        specs,
        sshkeys.public_key(key),
        hosts.new_machine_id(),
        apt_url,
        pip_conf,
    )
    hosts.write_files(paths.root, files)
    hosts.generate_host_keys(paths.root, host.name)
    host.supervisor = hosts.boot(
        paths.root, host.name, lab.bridge, paths, lab.dir / "logs" / f"{host.name}.log", shared
    )
    lab.save()


def _wait_for_hosts(lab: LabState, key: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for host in lab.hosts:
        wait_for_host(lab, host, key, deadline)


def wait_for_host(lab: LabState, host: HostState, key: Path, deadline: float) -> None:
    """Until `deadline` (monotonic): the host's ssh answers and takes the lab key."""
    log = lab.dir / "logs" / f"{host.name}.log"
    while not network.wait_port(host.address, 22, timeout=0.5):
        if host.supervisor is None or not host.supervisor.alive():
            raise LabError(f"{host.name} stopped while booting; {log}:\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise LabError(f"{host.name} did not open ssh in time; {log}")
    sshkeys.wait_ready(key, host.address, max(5.0, deadline - time.monotonic()))


def up(config: LabConfig, reporter: Reporter | None = None) -> LabState:
    """Bring a lab up and write its inventory; on any failure remove what was started."""
    report = reporter or PrintReporter()
    config.validate()
    require_root()
    cache_dir = config.cache_dir.resolve()
    report.step("packages")
    if config.install_packages:
        ensure_packages(report.note)
    if state.load(cache_dir, config.name) is not None:
        raise LabError(
            f"lab {config.name!r} is already up (or was not taken down): "
            f"hops-lab down --name {config.name}"
        )
    report.step("root filesystem")
    spec = RootfsSpec.from_machine()
    lower = ensure_rootfs(spec, cache_dir, report.note)

    lab = LabState(name=config.name, cache_dir=str(cache_dir), rootfs=str(lower))
    leftovers = [lab.dir / "hosts", lab.dir / "logs", lab.dir / "shared"]
    for path in leftovers:
        if path.exists():
            _refuse_if_mounted(path)
            shutil.rmtree(path)
    try:
        lab.save()
        report.step("ssh key")
        key = sshkeys.ensure_key(lab.dir / "ssh", f"hops-lab-{config.name}")
        lab.ssh_key = str(key)
        lab.save()

        report.step("network")
        in_use = network.used_networks() + _subnets_of_other_labs(cache_dir, config.name)
        subnet = network.choose_subnet(config.name, in_use)
        bridge = network.bridge_name(config.name)
        # recorded only once created: an existing bridge of that name is not ours to delete
        bridge_ip = str(network.create_bridge(bridge, subnet))
        lab.subnet, lab.bridge, lab.bridge_address = str(subnet), bridge, bridge_ip
        lab.hosts = [
            HostState(
                name=name,
                index=i,
                address=str(network.host_address(subnet, i)),
                base=str(lab.dir / "hosts" / name),
            )
            for i, name in enumerate(host_names(config.name, config.hosts), start=1)
        ]
        lab.save()
        report.note(f"bridge {lab.bridge} {bridge_ip}/{subnet.prefixlen}")

        report.step("apt proxy")
        apt_port = network.pick_port(bridge_ip, aptproxy.DEFAULT_PORT)
        apt_ref = aptproxy.start(
            bridge_ip,
            apt_port,
            spec.sources,
            lab.dir,
            cache_dir / "apt-cacher-ng" / config.name,
            lab.dir / "logs" / "apt-cacher-ng.log",
        )
        apt_url = aptproxy.proxy_url(bridge_ip, apt_port)
        lab.services[APT_PROXY] = ServiceState(apt_ref, apt_url)
        lab.save()

        report.step("wheelhouse")
        wheel_dir = config.wheelhouse_dir or cache_dir / "wheelhouse"
        wheel_port = network.pick_port(bridge_ip, wheels.DEFAULT_PORT)
        wheel_ref = wheels.serve(
            wheel_dir, bridge_ip, wheel_port, lab.dir / "logs" / "wheelhouse.log"
        )
        lab.services[WHEELHOUSE] = ServiceState(
            wheel_ref, wheels.find_links_url(bridge_ip, wheel_port)
        )
        lab.save()

        report.step("hosts")
        _start_hosts(
            lab, lower, key, apt_url, wheels.pip_conf(bridge_ip, wheel_port), config.shared_dir
        )

        report.step("ssh")
        _wait_for_hosts(lab, key, config.boot_timeout)

        report.step("inventory")
        doc = inventory.document(
            {h.name: h.address for h in lab.hosts},
            key,
            {
                "hops_lab_name": config.name,
                "hops_apt_proxy": apt_url,
                "hops_pip_find_links": wheels.find_links_url(bridge_ip, wheel_port),
                "hops_pip_trusted_host": bridge_ip,
            },
        )
        path, digest = inventory.write(config.inventory_dir or default_inventory_dir(), doc)
        lab.inventory, lab.inventory_sha256 = str(path), digest
        lab.ready = True
        lab.save()
        return lab
    except BaseException:
        report.note("up failed: removing what it started")
        try:
            _down(lab, timeout=10.0, report=report)
        except LabError as cleanup_error:
            report.note(f"cleanup incomplete: {cleanup_error}")
        raise


def _refuse_if_mounted(directory: Path) -> None:
    prefix = str(directory) + "/"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if mount_point.startswith(prefix):
            raise LabError(f"{mount_point} is still mounted: hops-lab down first")


@dataclass
class DownResult:
    """What `down` did, and what it could not do."""

    actions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    clean: bool = True


def _down(lab: LabState, timeout: float, report: Reporter) -> DownResult:
    result = DownResult()

    def attempt(what: str, action: Callable[[], object]) -> None:
        try:
            action()
            result.actions.append(what)
        except Exception as error:  # carry on: the rest must still be removed
            result.errors.append(f"{what}: {error}")

    report.step("stopping hosts")
    for host in lab.hosts:
        hosts.request_poweroff(host.supervisor)
    deadline = time.monotonic() + timeout
    for host in lab.hosts:

        def stop_host(host: HostState = host) -> None:
            if not finish_host(host, deadline):
                result.clean = False
                report.note(f"{host.name} did not power off cleanly: killed")

        attempt(f"stopped {host.name}", stop_host)
    report.step("stopping services")
    for name, service in lab.services.items():
        attempt(f"stopped {name}", functools.partial(stop, service.ref, 5.0))
    if lab.bridge:
        report.step("removing network")
        attempt(f"deleted bridge {lab.bridge}", lambda: network.delete_bridge(lab.bridge or ""))
    if lab.inventory:
        attempt(
            "removed inventory",
            lambda: inventory.remove_if_unchanged(Path(lab.inventory or ""), lab.inventory_sha256),
        )
    if not result.errors:
        for leftover in (
            lab.dir / "ssh",
            lab.dir / "hosts",
            lab.dir / "apt-cacher-ng",
            lab.dir / "shared",
        ):
            if leftover.exists():
                _refuse_if_mounted(leftover)
                shutil.rmtree(leftover)
        state.remove(lab)
    return result


def finish_host(host: HostState, deadline: float) -> bool:
    """After `hosts.request_poweroff`: wait (then kill), unmount, delete the host's layers.
    True if it powered off cleanly."""
    paths = hosts.HostPaths(Path(host.base))
    clean = hosts.finish_stop(host.supervisor, paths, deadline)
    if paths.base.exists():
        if hosts.is_mounted(paths.root):
            raise LabError(f"{paths.root} still mounted; not deleting")
        shutil.rmtree(paths.base)
    return clean


def down(
    name: str = "lab",
    cache_dir: Path = state.DEFAULT_CACHE_DIR,
    timeout: float = 30.0,
    reporter: Reporter | None = None,
) -> DownResult:
    """Take lab `name` down (see the module docstring); LabError lists what failed."""
    report = reporter or PrintReporter()
    require_root()
    cache_dir = cache_dir.resolve()
    lab = state.load(cache_dir, name)
    if lab is None:
        lab = LabState(name=name, cache_dir=str(cache_dir), bridge=network.bridge_name(name))
        hosts_dir = lab.dir / "hosts"
        if hosts_dir.is_dir():  # an `up` that died before writing its hosts
            lab.hosts = [
                HostState(name=p.name, index=0, address="", base=str(p))
                for p in sorted(hosts_dir.iterdir())
            ]
        if not lab.hosts and not network.link_exists(lab.bridge or ""):
            result = DownResult()
            result.actions.append(f"no lab named {name!r}: nothing to do")
            return result
    result = _down(lab, timeout, report)
    if result.errors:
        raise LabError("down incomplete:\n" + "\n".join(result.errors))
    return result


@dataclass
class HostStatus:
    name: str
    address: str
    running: bool
    ssh: bool


@dataclass
class LabStatus:
    name: str
    ready: bool
    subnet: str | None
    bridge: str | None
    bridge_present: bool
    hosts: list[HostStatus]
    services: dict[str, tuple[str, bool]]
    inventory: str | None
    ssh_key: str | None


def status(name: str = "lab", cache_dir: Path = state.DEFAULT_CACHE_DIR) -> LabStatus | None:
    """What is running of lab `name` now, or None if it is not up. Read-only."""
    lab = state.load(cache_dir.resolve(), name)
    if lab is None:
        return None
    host_status = []
    for host in lab.hosts:
        running = host.supervisor is not None and host.supervisor.alive()
        running = running and hosts.nspawn_process(hosts.HostPaths(Path(host.base))) is not None
        ssh = running and network.wait_port(host.address, 22, timeout=1.0)
        host_status.append(HostStatus(host.name, host.address, running, ssh))
    return LabStatus(
        name=lab.name,
        ready=lab.ready,
        subnet=lab.subnet,
        bridge=lab.bridge,
        bridge_present=bool(lab.bridge) and network.link_exists(lab.bridge or ""),
        hosts=host_status,
        services={k: (v.url, v.ref.alive()) for k, v in lab.services.items()},
        inventory=lab.inventory,
        ssh_key=lab.ssh_key,
    )
