"""The Ansible inventory for the machines the stack created: a pure function of plain values
(no Pulumi), in the format and with the group names of inventories/example/hosts.yml.

Hosts are addressed by their private IP (`ansible_host`), which is also where their
services bind. The operator's machine reaches them one of two ways:

- bastion: `ansible_ssh_common_args` jumps through the bastion (`-o ProxyJump=user@ip`);
- ssm: each host's SSH runs inside an SSM session (`-o ProxyCommand="aws ssm
  start-session --target <instance id> --document-name AWS-StartSSHSession ..."`), so no
  port is open to anyone and the operator needs the AWS CLI with the Session Manager plugin.

`ssh_config` renders the same route for plain `ssh` (used to read the CA chain back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from hops_platform.host_groups import GROUPS


@dataclass(frozen=True)
class Connection:
    """How the operator's machine reaches the private hosts."""

    kind: Literal["bastion", "ssm"]
    user: str
    bastion_address: str = ""
    region: str = ""


@dataclass(frozen=True)
class InventoryHost:
    """A created host: name, groups, private address and, for SSM, the instance id."""

    name: str
    groups: tuple[str, ...]
    address: str
    gpu: bool = False
    target_id: str = ""
    host_vars: Mapping[str, Any] = field(default_factory=dict)


def _ssm_proxy_command(host: InventoryHost, connection: Connection) -> str:
    command = [
        "aws",
        "ssm",
        "start-session",
        "--target",
        host.target_id,
        "--document-name",
        "AWS-StartSSHSession",
        "--parameters",
        "portNumber=%p",
    ]
    if connection.region:
        command += ["--region", connection.region]
    return " ".join(command)


def ssh_common_args(host: InventoryHost, connection: Connection) -> str:
    """The ssh options that route to `host` (Ansible's `ansible_ssh_common_args`)."""
    if connection.kind == "bastion":
        return f"-o ProxyJump={connection.user}@{connection.bastion_address}"
    if not host.target_id:
        raise ValueError(f"host {host.name}: SSM access needs the instance id")
    return f'-o ProxyCommand="{_ssm_proxy_command(host, connection)}"'


def build_inventory(
    hosts: Sequence[InventoryHost],
    connection: Connection,
    *,
    nvidia_driver_version: str,
) -> dict[str, Any]:
    """The inventory as a dict: connection settings in `all.vars`, host variables in
    `all.hosts`, and every platform group under `all.children` (empty groups left out)."""
    all_vars: dict[str, Any] = {
        "ansible_user": connection.user,
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    if connection.kind == "bastion":
        all_vars["ansible_ssh_common_args"] = ssh_common_args(hosts[0], connection)

    host_entries: dict[str, dict[str, Any]] = {}
    for host in hosts:
        entry: dict[str, Any] = {"ansible_host": host.address}
        if connection.kind == "ssm":
            entry["ansible_ssh_common_args"] = ssh_common_args(host, connection)
        if host.gpu:
            entry["gpu"] = True
            entry["nvidia_driver_version"] = nvidia_driver_version
        entry.update(host.host_vars)
        host_entries[host.name] = entry

    children = {
        group: {"hosts": {h.name: None for h in hosts if group in h.groups}}
        for group in GROUPS
        if any(group in h.groups for h in hosts)
    }
    return {"all": {"vars": all_vars, "hosts": host_entries, "children": children}}


HEADER = (
    "# Written by the hops-cloud Pulumi stack (stacks/cloud): the hosts it created, with the\n"
    "# groups of inventories/example. Regenerated on every `pulumi up`; do not edit.\n"
)


class _InventoryDumper(yaml.SafeDumper):
    """Writes group members as `head1:` (an empty value), as inventories/example does."""


_InventoryDumper.add_representer(
    type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "")
)


def render_inventory(inventory: Mapping[str, Any]) -> str:
    """YAML text that `ansible-playbook -i` reads; stable for equal inputs (it is hashed to
    decide whether the playbook runs again)."""
    return HEADER + yaml.dump(
        dict(inventory),
        Dumper=_InventoryDumper,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
    )


def inventory_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ssh_config(alias: str, host: InventoryHost, connection: Connection) -> str:
    """An ssh_config(5) block that reaches `host` as `alias` over the same route Ansible
    uses."""
    lines = [f"Host {alias}", f"  HostName {host.address}", f"  User {connection.user}"]
    if connection.kind == "bastion":
        lines.append(f"  ProxyJump {connection.user}@{connection.bastion_address}")
    else:
        lines.append(f"  ProxyCommand {_ssm_proxy_command(host, connection)}")
    return "\n".join(lines) + "\n"
