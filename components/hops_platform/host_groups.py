"""The platform's host groups: the inventory group names the roles look hosts up by.

The playbook's templates, the pyinfra deploy, the cloud stack's generated inventory and the
lab all use these names; docs/architecture.md says what runs in each.
"""

from __future__ import annotations

GROUPS: tuple[str, ...] = (
    "metadata_db",
    "namenodes",
    "datanodes",
    "resourcemanagers",
    "nodemanagers",
    "zookeeper",
    "kafka",
    "hive",
    "spark",
    "kubernetes_control",
    "kubernetes_workers",
    "hopsworks_api",
)
"""Every group, in the order the example inventory lists them; a group a deployment does not
use is empty, never absent."""
