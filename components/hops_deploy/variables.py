"""Role variables for one host, resolved with plain Jinja2, as Ansible would resolve them.

Role defaults may refer to other variables (``"{{ hops_topology.zookeeper }}"``) but only
with Jinja2's own filters and tests, never Ansible's: then this module and Ansible agree on
every value, and the pyinfra deploy can render the very same templates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined

from hops_deploy.checkout import roles_dir as checkout_roles
from hops_deploy.topology import Inventory

MAX_DEPTH = 20


def as_bool(value: Any) -> bool:
    """A variable as Ansible's `| bool` reads it: True, or "1", "true", "yes", "on" in any
    case (a default that is not one lone expression renders `True` as text)."""
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def role_defaults(role: str, roles_dir: Path | None = None) -> dict[str, Any]:
    path = (roles_dir or checkout_roles()) / role / "defaults" / "main.yml"
    return yaml.safe_load(path.read_text()) or {} if path.exists() else {}


SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.S)


def _resolve(value: Any, env: Environment, context: Mapping[str, Any], depth: int) -> Any:
    """As Ansible does: a value that is one `{{ expression }}` keeps the expression's type
    (a list stays a list, a string that looks like a number stays a string); anything else
    renders to a string."""
    if depth > MAX_DEPTH:
        raise ValueError("variables refer to each other in a loop")
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        single = SINGLE_EXPRESSION.match(value)
        if single:
            result = env.compile_expression(single.group("expr"), undefined_to_none=False)(
                **context
            )
        else:
            result = env.from_string(value).render(context)
        return _resolve(result, env, context, depth + 1) if result != value else result
    if isinstance(value, list):
        return [_resolve(v, env, context, depth) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, env, context, depth) for k, v in value.items()}
    return value


class _Lazy(dict):  # type: ignore[type-arg]
    """A context whose values are resolved when a template first reads them."""

    def __init__(self, raw: Mapping[str, Any], env: Environment) -> None:
        super().__init__(raw)
        self._env = env
        self._done: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if key not in self._done:
            self._done.add(key)
            value = _resolve(value, self._env, self, 0)
            super().__setitem__(key, value)
        return value

    def resolved(self) -> dict[str, Any]:
        return {key: self[key] for key in list(self.keys())}


def host_variables(
    inventory: Inventory,
    host: str,
    roles: Iterable[str],
    extra: Mapping[str, Any] | None = None,
    roles_dir: Path | None = None,
) -> dict[str, Any]:
    """Defaults of `roles` (in order), then inventory variables, then `extra` (Ansible's
    `-e`), with the facts the templates use: `inventory_hostname`, `hops_topology`, and
    `playbook_dir` (the checkout, where site.yml is)."""
    raw: dict[str, Any] = {}
    roles_dir = roles_dir or checkout_roles()
    for role in roles:
        raw.update(role_defaults(role, roles_dir))
    raw.update(inventory.variables(host))
    raw.update(extra or {})
    raw["inventory_hostname"] = host
    raw["hops_topology"] = inventory.topology()
    raw["playbook_dir"] = str(roles_dir.parent)
    env = Environment(undefined=StrictUndefined)  # noqa: S701 - values, not HTML
    return _Lazy(raw, env).resolved()
