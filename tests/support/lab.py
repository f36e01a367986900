"""A lab for one test module: its hosts, the lab inventory's group_vars beside the hosts.yml
`hops-lab up` writes, and `down` at the end (unless HOPS_LAB_KEEP=1, to look around)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hops_deploy.lab import lifecycle

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def lab_up(name: str, hosts: int, cache_dir: Path, base: Path) -> Iterator[Path]:
    """Up (after taking down what a dead run left); yields the inventory's path."""
    lifecycle.down(name, cache_dir)
    inventory_dir = base / "inventory"
    shutil.copytree(REPO / "inventories" / "lab" / "group_vars", inventory_dir / "group_vars")
    config = lifecycle.LabConfig(
        name=name, hosts=hosts, cache_dir=cache_dir, inventory_dir=inventory_dir
    )
    lab = lifecycle.up(config)
    try:
        yield Path(lab.inventory or "")
    finally:
        if os.environ.get("HOPS_LAB_KEEP") != "1":
            lifecycle.down(name, cache_dir)
