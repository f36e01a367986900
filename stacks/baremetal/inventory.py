"""pyinfra inventory: the hosts and groups of an Ansible YAML inventory.

    HOPS_INVENTORY=inventories/example/hosts.yml pyinfra stacks/baremetal/inventory.py \
        stacks/baremetal/deploy.py

Each platform group becomes a module-level list, as pyinfra expects. The preflight checks
(the same as Ansible's first play) run first.
"""

import sys
from pathlib import Path

# pyinfra runs this file by path; its package sits beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyinfra.api.exceptions import InventoryError

from hops_pyinfra.hosts import extra_vars, load, preflight_problems, pyinfra_groups

_inventory = load()
_problems = preflight_problems(_inventory, extra_vars())
if _problems:  # nothing is connected to yet, let alone changed
    raise InventoryError("preflight: " + "; ".join(_problems))
globals().update(pyinfra_groups(_inventory))
