"""What is wrong with an inventory, before anything changes on any host.

One implementation for both tools: Ansible's preflight role calls it through the
`hops_preflight_problems` filter, the pyinfra deploy before it connects. The rules and port
lists are the preflight role's defaults (`roles/preflight/defaults/main.yml`); every message
names the host and the variable or group to fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hops_deploy.ports import port_clashes
from hops_deploy.variables import as_bool


def problems(
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
    rules: Mapping[str, Any],
) -> list[str]:
    """Every problem, in the order Ansible's preflight used to report them. `rules` holds
    `preflight_required_groups`, `preflight_group_dependencies`, `preflight_group_ports`
    and the `preflight_secret*` rules."""
    found: list[str] = []

    def members(group: str) -> list[str]:
        return list(groups.get(group) or [])

    for group in rules["preflight_required_groups"]:
        if not members(group):
            found.append(f"inventory: group '{group}' has no host; the platform needs one")
    for group, needed in rules["preflight_group_dependencies"].items():
        if members(group):
            found += [
                f"inventory: group '{group}' has hosts but group '{need}' it needs has none"
                for need in needed
                if not members(need)
            ]
    ensemble = members("zookeeper")
    if ensemble and len(ensemble) % 2 == 0:
        found.append(
            f"inventory: group 'zookeeper' has {len(ensemble)} hosts; a quorum needs an odd number"
        )
    databases = members("metadata_db")
    first = hostvars.get(databases[0], {}) if databases else {}
    if as_bool(first.get("metadata_db_galera_enabled", False)) and (
        len(databases) < 3 or len(databases) % 2 == 0
    ):
        found.append(
            "metadata_db_galera_enabled needs 3, 5 ... hosts in group 'metadata_db', "
            f"found {len(databases)}"
        )
    found += secret_problems(groups, hostvars, rules)
    hosts = list(dict.fromkeys(h for group in groups.values() for h in group or []))
    for host in hosts:
        variables = hostvars.get(host, {})
        if "gpu" in variables and not isinstance(variables["gpu"], bool):
            found.append(
                f"host {host}: variable 'gpu' must be true or false, not '{variables['gpu']}'"
            )
        elif variables.get("gpu") is True and not str(variables.get("nvidia_driver_version") or ""):
            found.append(f"host {host}: gpu: true but variable 'nvidia_driver_version' is not set")
        host_groups = [g for g, group_hosts in groups.items() if host in (group_hosts or [])]
        clashes = port_clashes(rules["preflight_group_ports"], host_groups, variables)
        if clashes:
            found.append(f"host {host}: conflicting ports: {'; '.join(clashes)}")
    return found


def secret_problems(
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Mapping[str, Any]],
    rules: Mapping[str, Any],
) -> list[str]:
    """One message per secret that a host using it has unset, empty, too short or still an
    example value; the message names the variable and the host, never the value."""
    minimum = int(rules["preflight_secret_min_length"])
    placeholders = [p.lower() for p in rules["preflight_secret_placeholders"]]
    found = []
    for name, users in rules["preflight_secrets"].items():
        hosts = list(dict.fromkeys(h for group in users for h in groups.get(group) or []))
        for host in hosts:
            value = hostvars.get(host, {}).get(name)
            text = "" if value is None else str(value)
            if not text:
                why = "is not set"
            elif any(p in text.lower() for p in placeholders):
                why = "is still an example value"
            elif len(text) < minimum:
                why = f"is shorter than {minimum} characters"
            else:
                continue
            found.append(
                f"secret '{name}' {why} (host {host}): set it in the inventory, in a vault"
            )
            break  # one message per secret: the inventory sets it in one place
    return found
