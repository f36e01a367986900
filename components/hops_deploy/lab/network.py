"""The lab network: one Linux bridge per lab with a private /24 on the host side; the hosts
get static addresses on it (.11, .12, ...) and the bridge address (.1) serves them the apt
proxy and the wheelhouse.

Why no NAT and no gateway: the hosts must reach only each other and this machine, exactly
like an air-gapped site; nothing is forwarded off the machine.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import zlib
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from hops_deploy.lab import LabError
from hops_deploy.lab.prereqs import command

POOL = IPv4Network("10.213.0.0/16")
"""Where lab subnets are taken from (private, rarely used by other software)."""

FIRST_HOST_OFFSET = 10
"""Host i (1-based) gets network address + 10 + i, so lab1 is .11: easy to read in logs."""

MAX_HOSTS = 200
BRIDGE_PREFIX = "hl-"
_IFNAMSIZ = 15


def bridge_name(lab: str) -> str:
    """The bridge's interface name (Linux allows 15 characters)."""
    return (BRIDGE_PREFIX + lab)[:_IFNAMSIZ]


def choose_subnet(lab: str, in_use: Iterable[IPv4Network], pool: IPv4Network = POOL) -> IPv4Network:
    """A /24 of `pool` that overlaps nothing in `in_use`; the lab's name picks where to start
    looking, so a lab usually gets the same subnet each time (stable addresses in logs)."""
    taken = list(in_use)
    candidates = list(pool.subnets(new_prefix=24))
    start = zlib.crc32(lab.encode()) % len(candidates)
    for offset in range(len(candidates)):
        subnet = candidates[(start + offset) % len(candidates)]
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise LabError(f"no free /24 left in {pool} for lab {lab!r}")


def bridge_address(subnet: IPv4Network) -> IPv4Address:
    """The machine's address on the lab bridge: the apt proxy and wheelhouse listen here."""
    return subnet.network_address + 1


def host_address(subnet: IPv4Network, index: int) -> IPv4Address:
    """Address of host number `index` (1-based)."""
    if not 1 <= index <= MAX_HOSTS:
        raise LabError(f"host index {index} out of range 1..{MAX_HOSTS}")
    return subnet.network_address + FIRST_HOST_OFFSET + index


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(  # noqa: S603
        [command("ip"), "-j", *args], capture_output=True, text=True, check=True
    ).stdout
    parsed: list[dict[str, Any]] = json.loads(out or "[]")
    return parsed


def used_networks() -> list[IPv4Network]:
    """IPv4 networks already on this machine's interfaces and routes (to avoid clashes)."""
    found: list[IPv4Network] = []
    for link in _ip_json("-4", "addr", "show"):
        for info in link.get("addr_info", []):
            found.append(IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in _ip_json("-4", "route", "show", "table", "all"):
        dst = str(route.get("dst", ""))
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                found.append(IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return found


def link_exists(name: str) -> bool:
    result = subprocess.run(  # noqa: S603
        [command("ip"), "link", "show", "dev", name], capture_output=True, check=False
    )
    return result.returncode == 0


def _ip(*args: str) -> None:
    result = subprocess.run(  # noqa: S603
        [command("ip"), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def create_bridge(name: str, subnet: IPv4Network) -> IPv4Address:
    """Create the bridge with the subnet's first address, up; return that address."""
    if link_exists(name):
        raise LabError(
            f"network interface {name} already exists: another lab of this name is up "
            f"(hops-lab down) or delete it with: ip link del {name}"
        )
    address = bridge_address(subnet)
    _ip("link", "add", "name", name, "type", "bridge")
    try:
        _ip("addr", "add", f"{address}/{subnet.prefixlen}", "dev", name)
        _ip("link", "set", "dev", name, "up")
    except LabError:
        delete_bridge(name)
        raise
    return address


def delete_bridge(name: str) -> None:
    """Delete the bridge if it exists (idempotent)."""
    if link_exists(name):
        _ip("link", "del", "dev", name)


def port_free(address: str, port: int) -> bool:
    """Whether a TCP port can be bound on `address` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def pick_port(address: str, preferred: int) -> int:
    """`preferred` if free on `address` (a system apt-cacher-ng may hold 3142 on all
    addresses), else a port the kernel picks."""
    if port_free(address, preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_port(address: str, port: int, timeout: float) -> bool:
    """Poll until something accepts TCP connections on address:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
            return True
        time.sleep(0.1)
    return False
