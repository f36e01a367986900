"""Ansible filters shared with the pyinfra deploy: the same Python computes the topology
that every template receives (hops_deploy.topology), so both tools write the same files."""

from __future__ import annotations

from typing import Any

from hops_deploy.ports import port_clashes
from hops_deploy.preflight import problems
from hops_deploy.topology import topology


def hops_topology(groups: Any, hostvars: Any) -> dict[str, list[dict[str, Any]]]:
    return topology(groups, {host: hostvars[host] for host in hostvars})


def hops_preflight_problems(groups: Any, hostvars: Any, rules: Any) -> list[str]:
    return problems(groups, {host: hostvars[host] for host in hostvars}, rules)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hops_topology": hops_topology,
            "hops_port_clashes": port_clashes,
            "hops_preflight_problems": hops_preflight_problems,
        }
