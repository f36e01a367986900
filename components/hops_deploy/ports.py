"""Which services on one host would bind the same port (the preflight check)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def port_clashes(
    group_ports: Mapping[str, Mapping[str, int]],
    host_groups: Iterable[str],
    host_vars: Mapping[str, Any],
) -> list[str]:
    """One message per port claimed twice, naming the variables: `group_ports` maps a group
    to its services' port variables and their defaults; a host's own value wins."""
    claimed: dict[int, list[str]] = {}
    groups = set(host_groups)
    for group, ports in group_ports.items():
        if group not in groups:
            continue
        for variable, default in ports.items():
            port = int(host_vars.get(variable, default))
            if variable not in claimed.get(port, []):
                claimed.setdefault(port, []).append(variable)
    return [
        f"{' and '.join(names)} are both {port}"
        for port, names in sorted(claimed.items())
        if len(names) > 1
    ]
