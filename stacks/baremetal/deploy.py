"""The platform on bare metal with pyinfra, from the same roles as site.yml.

    HOPS_INVENTORY=inventories/example/hosts.yml \
        pyinfra stacks/baremetal/inventory.py stacks/baremetal/deploy.py

See docs/stacks-baremetal.md.
"""

import sys
from pathlib import Path

# pyinfra runs this file by path; its package sits beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyinfra import host

from hops_pyinfra.site import deploy_host

deploy_host(host.data.get("hops_inventory_name") or host.name, host.data)
