"""Facts about the platform that the cloud stack must agree with, read from the Ansible
roles at program time so that the roles stay their one source of truth.

The firewall opens exactly the ports the roles bind, the GPU taint tag names the taint the
kubernetes role applies, and the data volume is mounted where the hdfs role keeps blocks. If
a role changes one of these, the next `pulumi up` follows without an edit here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The repository checkout: site.yml, ansible.cfg and roles/ live here."""

SERVICE_ROLES = (
    "metadata_db",
    "zookeeper",
    "hdfs",
    "yarn",
    "kafka",
    "spark",
    "hive",
    "kubernetes",
    "hopsworks_api",
)
"""Roles whose `*_port` defaults are ports cluster hosts connect to one another on."""

KUBERNETES_NODE_PORTS = (
    (10250, "tcp", "kubelet API (kubeadm default; the control plane reaches every node)"),
    (8472, "udp", "flannel VXLAN (pod network between nodes)"),
)
"""Ports Kubernetes nodes need that no role variable names: they are the defaults of kubelet
and of the flannel manifest the kubernetes role applies."""


PORT_RANGES = {
    "spark_driver_port": "spark_port_max_retries",
    "spark_block_manager_port": "spark_port_max_retries",
}
"""Ports that are the first of a range: the variable that says how many follow."""


@dataclass(frozen=True)
class PlatformPort:
    """A port (or range) cluster hosts accept from one another, with the role variables
    that set it."""

    port: int
    protocol: str
    sources: tuple[str, ...]
    last: int | None = None

    @property
    def to_port(self) -> int:
        return self.last if self.last is not None else self.port

    @property
    def description(self) -> str:
        span = f"{self.port}-{self.to_port}" if self.to_port != self.port else str(self.port)
        return f"{self.protocol}/{span}: " + ", ".join(self.sources)


@dataclass(frozen=True)
class PlatformFacts:
    """What the stack reads from the roles (see the module docstring)."""

    group_ports: Mapping[str, Mapping[str, int]]
    api_port: int
    gpu_taint: str
    datanode_data_dir: str
    ca_chain_path: str
    cluster_ports: tuple[PlatformPort, ...]


def _defaults(repo_root: Path, role: str) -> dict[str, Any]:
    path = repo_root / "roles" / role / "defaults" / "main.yml"
    return yaml.safe_load(path.read_text()) or {}


def _cluster_ports(
    repo_root: Path, group_ports: Mapping[str, Mapping[str, int]]
) -> tuple[PlatformPort, ...]:
    """The preflight's per-group ports, then every integer `*_port` default of the service
    roles (the preflight list lacks some fixed ports, e.g. the ResourceManager's tracker and
    scheduler ports NodeManagers and ApplicationMasters connect to), then Kubernetes'."""
    found: dict[tuple[int, str], list[str]] = {}
    last: dict[tuple[int, str], int] = {}
    for group, variables in group_ports.items():
        for variable, port in variables.items():
            found.setdefault((int(port), "tcp"), []).append(f"{variable} ({group})")
    for role in SERVICE_ROLES:
        defaults = _defaults(repo_root, role)
        for variable, value in defaults.items():
            is_port = isinstance(value, int) and not isinstance(value, bool)
            if variable in PORT_RANGES and is_port:
                last[(value, "tcp")] = value + int(defaults[PORT_RANGES[variable]])
            if variable.endswith("_port") and is_port:
                sources = found.setdefault((value, "tcp"), [])
                if not any(s.split(" ")[0] == variable for s in sources):
                    sources.append(variable)
    for port, protocol, why in KUBERNETES_NODE_PORTS:
        found.setdefault((port, protocol), []).append(why)
    return tuple(
        PlatformPort(
            port=port, protocol=protocol, sources=tuple(sources), last=last.get((port, protocol))
        )
        for (port, protocol), sources in sorted(found.items())
    )


def _resolve(variables: Mapping[str, Any], name: str) -> str:
    """A default built only from other plain defaults of the same file (`{{ var }}` pieces),
    as hops_ca_chain is from hops_pki_dir."""
    value = str(variables[name])
    for _ in range(5):
        match = re.search(r"\{\{\s*(\w+)\s*\}\}", value)
        if not match:
            return value
        value = value.replace(match.group(0), str(variables[match.group(1)]))
    raise ValueError(f"{name}: too deeply nested")


@cache
def load_platform(repo_root: Path = REPO_ROOT) -> PlatformFacts:
    """Read the facts from the role defaults of the checkout at `repo_root`."""
    preflight = _defaults(repo_root, "preflight")
    hops = _defaults(repo_root, "hops")
    group_ports = {
        group: {variable: int(port) for variable, port in variables.items()}
        for group, variables in preflight["preflight_group_ports"].items()
    }
    return PlatformFacts(
        group_ports=group_ports,
        api_port=group_ports["hopsworks_api"]["hopsworks_api_port"],
        gpu_taint=str(_defaults(repo_root, "kubernetes")["kubernetes_gpu_taint"]),
        datanode_data_dir=str(_defaults(repo_root, "hdfs")["hdfs_datanode_dirs"][0]),
        ca_chain_path=_resolve(hops, "hops_ca_chain"),
        cluster_ports=_cluster_ports(repo_root, group_ports),
    )
