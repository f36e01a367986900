"""The platform's host groups, read from a YAML inventory, as every template sees them.

One function, `topology`, turns an inventory's groups into ``{group: [{"name", "address",
"gpu"}...]}``. Ansible calls it through the `hops_topology` filter (filter_plugins/hops.py)
and the pyinfra deploy and the tests call it directly, so both tools hand the templates the
same addresses in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hops_deploy.checkout import CheckoutNotFound, find_checkout
from hops_deploy.vault import Decrypter, load_vars_file, password_file
from hops_platform.host_groups import GROUPS


def address_of(name: str, hostvars: Mapping[str, Any]) -> str:
    """The address the platform's services use: `hops_address` when the inventory sets one
    (a cluster network apart from the one SSH comes in on), else the SSH address."""
    return str(hostvars.get("hops_address") or hostvars.get("ansible_host") or name)


def topology(
    groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """``{group: [{"name": host, "address": address_of(host), "gpu": bool}]}`` for
    every platform group, hosts in inventory order."""
    result: dict[str, list[dict[str, Any]]] = {}
    for group in GROUPS:
        result[group] = [
            {
                "name": host,
                "address": address_of(host, hostvars.get(host, {})),
                "gpu": bool(hostvars.get(host, {}).get("gpu", False)),
            }
            for host in groups.get(group, [])
        ]
    return result


@dataclass
class Inventory:
    """A YAML inventory (the format `ansible-inventory` reads): groups with `hosts`,
    `vars` and `children`, plus `group_vars/` and `host_vars/` beside the file."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)  # group -> child groups

    @property
    def hosts(self) -> list[str]:
        seen: dict[str, None] = {}
        for members in self.groups.values():
            for host in members:
                seen.setdefault(host, None)
        return list(seen)

    def groups_of(self, host: str) -> list[str]:
        return [g for g, members in self.groups.items() if host in members]

    def variables(self, host: str) -> dict[str, Any]:
        """Inventory variables of a host with Ansible's precedence: `all`, then its groups
        (parents before children, then by name), then the host."""
        merged: dict[str, Any] = dict(self.group_vars.get("all", {}))
        for group in sorted(self.groups_of(host), key=lambda g: (self._depth(g), g)):
            if group != "all":
                merged.update(self.group_vars.get(group, {}))
        merged.update(self.host_vars.get(host, {}))
        return merged

    def _depth(self, group: str) -> int:
        for parent, children in self.parents.items():
            if group in children:
                return 1 + self._depth(parent)
        return 0

    def topology(self) -> dict[str, list[dict[str, Any]]]:
        return topology(self.groups, {h: self.variables(h) for h in self.hosts})


def _load_vars_dir(directory: Path, decrypter: Decrypter) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        if path.is_dir():
            merged: dict[str, Any] = {}
            for part in sorted(path.glob("*.y*ml")):
                merged.update(load_vars_file(part, decrypter))
            found[path.name] = merged
        elif path.suffix in (".yml", ".yaml"):
            found[path.stem] = load_vars_file(path, decrypter)
    return found


def _checkout_or_none() -> Path | None:
    try:
        return find_checkout()
    except CheckoutNotFound:
        return None


def load_inventory(path: Path) -> Inventory:
    """Read `hosts.yml` (or the given file) and the group_vars/host_vars beside it, vault-
    encrypted files and values included (hops_deploy.vault)."""
    file = path / "hosts.yml" if path.is_dir() else path
    decrypter = Decrypter(lambda: password_file(_checkout_or_none()))
    data = load_vars_file(file, decrypter)
    inventory = Inventory()

    def walk(name: str, node: Mapping[str, Any] | None) -> list[str]:
        node = node or {}
        hosts = list((node.get("hosts") or {}).keys())
        for host, host_vars in (node.get("hosts") or {}).items():
            if host_vars:
                inventory.host_vars.setdefault(host, {}).update(host_vars)
        if node.get("vars"):
            inventory.group_vars.setdefault(name, {}).update(node["vars"])
        children = node.get("children") or {}
        inventory.parents[name] = list(children)
        for child, child_node in children.items():
            for host in walk(child, child_node):
                if host not in hosts:
                    hosts.append(host)
        existing = inventory.groups.setdefault(name, [])
        existing.extend(h for h in hosts if h not in existing)
        return hosts

    for name, node in data.items():
        walk(name, node)
    all_hosts = inventory.hosts
    inventory.groups["all"] = all_hosts
    for name, values in _load_vars_dir(file.parent / "group_vars", decrypter).items():
        inventory.group_vars.setdefault(name, {}).update(values)
    for name, values in _load_vars_dir(file.parent / "host_vars", decrypter).items():
        inventory.host_vars.setdefault(name, {}).update(values)
    return inventory
