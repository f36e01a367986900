"""pyinfra inventory: the hosts and groups of an Ansible YAML inventory.

    HOPS_INVENTORY=inventories/example/hosts.yml pyinfra stacks/baremetal/inventory.py \
        stacks/baremetal/deploy.py

Each platform group becomes a module-level list, as pyinfra expects.
"""

import sys
from pathlib import Path

# pyinfra runs this file by path; its package sits beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hops_pyinfra.hosts import load, pyinfra_groups

globals().update(pyinfra_groups(load()))
