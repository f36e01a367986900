"""Render a role's template exactly as Ansible's `template` module does (same Jinja2
options: trim_blocks, no lstrip_blocks, newline `\\n`, the file's trailing newline kept),
from a dict of variables and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hops_deploy.checkout import roles_dir as checkout_roles


def environment(role: str, roles_dir: Path | None = None) -> Environment:
    return Environment(
        loader=FileSystemLoader(str((roles_dir or checkout_roles()) / role / "templates")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=False,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - config files, not HTML
    )


def render(
    role: str, template: str, variables: Mapping[str, Any], roles_dir: Path | None = None
) -> str:
    return environment(role, roles_dir).get_template(template).render(**variables)
