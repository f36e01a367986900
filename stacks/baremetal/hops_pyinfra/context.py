"""What every role's operations need about the host being deployed: its inventory name, its
groups and its variables (the role's `defaults/main.yml` resolved as Ansible resolves them),
and the rendered templates of the role."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from io import StringIO
from typing import Any

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from hops_deploy.render import render
from hops_deploy.topology import Inventory
from hops_deploy.variables import as_bool, host_variables


@dataclass
class HostContext:
    """One host of the inventory, with the variables a play of `site.yml` would give it."""

    inventory: Inventory
    name: str
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def groups(self) -> set[str]:
        return set(self.inventory.groups_of(self.name))

    @cached_property
    def topology(self) -> dict[str, list[dict[str, Any]]]:
        return self.inventory.topology()

    def in_group(self, *groups: str) -> bool:
        return bool(self.groups.intersection(groups))

    def role(self, role: str) -> RoleContext:
        """Variables as a play `roles: [hops, <role>]` resolves them."""
        variables = host_variables(self.inventory, self.name, ["hops", role], self.extra)
        return RoleContext(role, variables, self)


@dataclass
class RoleContext:
    role: str
    vars: dict[str, Any]
    host: HostContext

    def __getitem__(self, key: str) -> Any:
        return self.vars[key]

    def flag(self, key: str) -> bool:
        """A boolean default (`spark_is_master`), read as Ansible's `| bool` reads it."""
        return as_bool(self.vars[key])

    def render(self, template: str) -> str:
        return render(self.role, template, self.vars)

    def template(
        self, template: str, dest: str, user: str, group: str, mode: str, name: str
    ) -> OperationMeta:
        """Ansible's `template` task: the role's template rendered with this host's variables,
        uploaded only when its bytes, owner or mode differ."""
        return files.put(
            name=name,
            src=StringIO(self.render(template)),
            dest=dest,
            user=user,
            group=group,
            mode=mode,
        )
