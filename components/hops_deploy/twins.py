"""Two identical one-host platforms on two different machines, one per deploy tool.

To prove that Ansible and pyinfra write the same bytes, both deploys must see the same
variables; but two machines have two SSH addresses. So each twin inventory names its host
alike (`hops`) and gives it the same platform address (`hops_address`, loopback on a single
host), and only the connection variables (`ansible_host`) differ: no config file mentions
those.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hops_platform.host_groups import GROUPS

TWIN_NAME = "hops"
TWIN_ADDRESS = "127.0.0.1"


def twin_inventory(
    lab_document: Mapping[str, Any],
    lab_host: str,
    name: str = TWIN_NAME,
    platform_address: str = TWIN_ADDRESS,
) -> dict[str, Any]:
    """A one-host inventory (every group on it) for `lab_host` of a lab inventory: the lab's
    shared variables, the host's SSH address, and the twin's name and platform address."""
    lab = lab_document["all"]
    ssh_address = lab["hosts"][lab_host]["ansible_host"]
    return {
        "all": {
            "vars": dict(lab.get("vars", {})),
            "hosts": {name: {"ansible_host": ssh_address, "hops_address": platform_address}},
            "children": {group: {"hosts": {name: None}} for group in GROUPS},
        }
    }


def write_twin(
    lab_inventory: Path, lab_host: str, directory: Path, group_vars: Path | None = None
) -> Path:
    """Write the twin of `lab_host` as `directory/hosts.yml` (with a copy of `group_vars`)."""
    import shutil

    document = yaml.safe_load(lab_inventory.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    if group_vars is not None:
        shutil.copytree(group_vars, directory / "group_vars", dirs_exist_ok=True)
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(twin_inventory(document, lab_host), sort_keys=False))
    return path
