"""`add`: one more host for a lab that is up, as a site racks a new machine beside running
ones (what `scale.yml` is tested against).

The host gets the next index and address on the lab's bridge, boots from the same root
filesystem with the same apt proxy, wheelhouse and shared directory as the others, and is
recorded in the state file before anything is created, so `down` removes it like the
hosts `up` made (and a failed `add` removes just it). The inventory gains the host in the
groups the caller names, at their end (never a group's first host: no new Spark master or
CA host); in no group unless asked. The running hosts are not touched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from ipaddress import IPv4Network
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from hops_deploy.lab import LabError, hosts, inventory, lifecycle, network, state
from hops_deploy.lab import wheelhouse as wheels
from hops_deploy.lab.prereqs import require_root
from hops_deploy.lab.state import HostState, LabState


def next_host(lab: LabState) -> HostState:
    """The host `add` would create: index one past the highest, its address on the lab's
    subnet, named as `up` names hosts (<lab><index>)."""
    if lab.subnet is None or not lab.hosts:
        raise LabError(f"lab {lab.name!r} has no network or hosts: bring it up first")
    index = max(h.index for h in lab.hosts) + 1
    if index > lifecycle.MAX_HOSTS:
        raise LabError(f"lab {lab.name!r} has {lifecycle.MAX_HOSTS} hosts, the most it can have")
    name = lifecycle.host_names(lab.name, index)[-1]
    address = network.host_address(IPv4Network(lab.subnet), index)
    return HostState(
        name=name, index=index, address=str(address), base=str(lab.dir / "hosts" / name)
    )


def list_in_inventory(lab: LabState, host: HostState, groups: Sequence[str]) -> None:
    """Rewrite the lab's hosts.yml with `host` in it (edits since `up` are kept). The
    recorded digest follows the new content only if the file was as `up` wrote it: `down`
    then still removes an unedited inventory and keeps an edited one."""
    path = Path(lab.inventory or "")
    doc = yaml.safe_load(path.read_text())
    unedited = inventory.file_digest(path) == lab.inventory_sha256
    try:
        new_doc = inventory.add_host(doc, host.name, host.address, groups)
    except ValueError as error:  # e.g. the name was written into the file by hand
        raise LabError(f"{path}: {error}") from None
    _, digest = inventory.write(path.parent, new_doc)
    if unedited:
        lab.inventory_sha256 = digest
    lab.save()


def _check(lab: LabState | None, name: str, groups: Sequence[str]) -> LabState:
    if lab is None or not lab.ready:
        raise LabError(f"lab {name!r} is not up: hops-lab up --name {name}")
    if not lab.inventory or not Path(lab.inventory).is_file():
        raise LabError(f"the inventory of lab {name!r} ({lab.inventory}) is gone")
    if not lab.rootfs or not Path(lab.rootfs).is_dir():
        raise LabError(f"the root filesystem of lab {name!r} ({lab.rootfs}) is gone")
    if lab.ssh_key is None or not {lifecycle.APT_PROXY, lifecycle.WHEELHOUSE} <= set(lab.services):
        raise LabError(f"lab {name!r} lacks its ssh key or services: hops-lab down, then up")
    try:
        inventory.check_groups(groups)
    except ValueError as error:
        raise LabError(str(error)) from None
    return lab


def add(
    name: str = "lab",
    groups: Sequence[str] = (),
    cache_dir: Path = state.DEFAULT_CACHE_DIR,
    boot_timeout: float = 120.0,
    reporter: lifecycle.Reporter | None = None,
) -> HostState:
    """Boot one more host in lab `name` and list it in the inventory (in `groups`)."""
    report = reporter or lifecycle.PrintReporter()
    require_root()
    lab = _check(state.load(cache_dir.resolve(), name), name, groups)
    host = next_host(lab)
    lab.hosts.append(host)
    lab.save()  # recorded before it exists: a crash from here on leaves it to `down`
    report.step(f"host {host.name} ({host.address})")
    try:
        key = Path(lab.ssh_key or "")
        wheel_url = urlsplit(lab.services[lifecycle.WHEELHOUSE].url)
        shared = lab.dir / "shared"
        lifecycle.start_host(
            lab,
            host,
            Path(lab.rootfs or ""),
            key,
            lab.services[lifecycle.APT_PROXY].url,
            wheels.pip_conf(wheel_url.hostname or "", wheel_url.port or 0),
            shared if shared.is_dir() else None,
        )
        report.step("ssh")
        lifecycle.wait_for_host(lab, host, key, time.monotonic() + boot_timeout)
        report.step("inventory")
        list_in_inventory(lab, host, groups)
    except BaseException:
        report.note(f"add failed: removing {host.name}")
        _remove(lab, host)
        raise
    return host


def _remove(lab: LabState, host: HostState) -> None:
    """Undo a failed `add`: power the host off, delete its layers, forget it."""
    hosts.request_poweroff(host.supervisor)
    try:
        lifecycle.finish_host(host, time.monotonic() + 10.0)
    finally:
        if not Path(host.base).exists():
            lab.hosts.remove(host)
            lab.save()
