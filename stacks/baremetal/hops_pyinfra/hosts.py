"""The Ansible YAML inventory as pyinfra sees it: the same host names and groups, SSH
settings translated to pyinfra's connector data.

One inventory file serves both tools, so a site keeps one list of hosts and one set of
variables; `stacks/baremetal/inventory.py` calls `pyinfra_groups` on it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hops_deploy.preflight import problems
from hops_deploy.topology import Inventory, load_inventory
from hops_deploy.variables import role_defaults
from hops_platform.host_groups import GROUPS

INVENTORY_ENV = "HOPS_INVENTORY"
EXTRA_VARS_ENV = "HOPS_EXTRA_VARS"
REPO = Path(__file__).resolve().parents[3]
DEFAULT_INVENTORY = REPO / "inventories" / "local" / "hosts.yml"

# Ansible connection variable -> pyinfra SSH connector data.
_SSH_KEYS = {
    "ansible_host": "ssh_hostname",
    "ansible_port": "ssh_port",
    "ansible_user": "ssh_user",
    "ansible_ssh_private_key_file": "ssh_key",
}


def inventory_path() -> Path:
    return Path(os.environ.get(INVENTORY_ENV, str(DEFAULT_INVENTORY)))


def extra_vars() -> dict[str, Any]:
    """Ansible's `-e @file`: a YAML file of variables that win over the inventory's."""
    path = os.environ.get(EXTRA_VARS_ENV)
    if not path:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{EXTRA_VARS_ENV}={path}: expected a mapping of variables")
    return data


def connection_data(variables: Mapping[str, Any]) -> dict[str, Any]:
    """pyinfra's SSH settings from a host's Ansible connection variables. The options the
    lab passes in `ansible_ssh_common_args` (no host key pinning) have pyinfra equivalents;
    a local host (`ansible_connection: local`) uses pyinfra's local connector."""
    data: dict[str, Any] = {}
    for ansible_key, pyinfra_key in _SSH_KEYS.items():
        if ansible_key in variables:
            data[pyinfra_key] = variables[ansible_key]
    options = shlex.split(str(variables.get("ansible_ssh_common_args", "")))
    if "StrictHostKeyChecking=no" in options:
        data["ssh_strict_host_key_checking"] = "off"
    if "UserKnownHostsFile=/dev/null" in options:
        data["ssh_known_hosts_file"] = "/dev/null"
    return data


def pyinfra_name(host: str, variables: Mapping[str, Any]) -> str:
    return "@local" if variables.get("ansible_connection") == "local" else host


def pyinfra_groups(inventory: Inventory) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """``{group: ([(host, data), ...], {})}`` for every platform group with hosts; each host's
    data carries its inventory name, so the deploy finds its variables."""
    groups: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    for group in GROUPS:
        members = []
        for host in inventory.groups.get(group, []):
            variables = inventory.variables(host)
            data = {**connection_data(variables), "hops_inventory_name": host}
            members.append((pyinfra_name(host, variables), data))
        if members:
            groups[group] = (members, {})
    return groups


def preflight_problems(inventory: Inventory, extra: Mapping[str, Any] | None = None) -> list[str]:
    """The preflight role's checks (hops_deploy.preflight) on this inventory, with the same
    rules: what Ansible's first play refuses, pyinfra refuses before it connects."""
    hostvars = {host: {**inventory.variables(host), **(extra or {})} for host in inventory.hosts}
    return problems(inventory.groups, hostvars, role_defaults("preflight"))


def load() -> Inventory:
    return load_inventory(inventory_path())
