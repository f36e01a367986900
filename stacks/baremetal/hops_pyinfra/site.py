"""site.yml for pyinfra: the same plays, in the same order, on the same groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hops_deploy.variables import as_bool
from hops_pyinfra.context import HostContext, RoleContext
from hops_pyinfra.hosts import extra_vars, load
from hops_pyinfra.roles.ca import ca
from hops_pyinfra.roles.common import common
from hops_pyinfra.roles.hive import hive
from hops_pyinfra.roles.hopsworks_api import hopsworks_api
from hops_pyinfra.roles.metadata_db import metadata_db
from hops_pyinfra.roles.spark import spark
from hops_pyinfra.roles.zookeeper import zookeeper

ALL = ()
# (role, groups it runs on (ALL: every host), its deploy), in site.yml's order.
PLAYS: tuple[tuple[str, tuple[str, ...], Callable[[RoleContext], Any]], ...] = (
    ("common", ALL, common),
    ("ca", ALL, ca),
    ("metadata_db", ("metadata_db",), metadata_db),
    ("zookeeper", ("zookeeper",), zookeeper),
    ("spark", ("spark",), spark),
    ("hive", ("hive",), hive),
    ("hopsworks_api", ("hopsworks_api",), hopsworks_api),
)
# Plays of site.yml tagged `needs_downloads` that this deploy does not carry yet (their
# software comes from Apache, NVIDIA and Kubernetes mirrors): use ansible-playbook for them.
DOWNLOAD_GROUPS = (
    "namenodes",
    "datanodes",
    "resourcemanagers",
    "nodemanagers",
    "kafka",
    "kubernetes_control",
    "kubernetes_workers",
)


def plays_for(context: HostContext, skip_downloads: bool) -> list[str]:
    """The roles this host gets. A host in a group of a download play stops the deploy
    unless those plays are skipped (as `--skip-tags needs_downloads` does for Ansible)."""
    unported = [group for group in DOWNLOAD_GROUPS if context.in_group(group)]
    if unported and not skip_downloads:
        raise ValueError(
            f"{context.name} is in {', '.join(unported)}: the pyinfra deploy does not install "
            "HDFS, YARN, Kafka, NVIDIA or Kubernetes; deploy them with ansible-playbook "
            "site.yml, or pass --data hops_skip_downloads=true to leave them out"
        )
    return [role for role, groups, _ in PLAYS if not groups or context.in_group(*groups)]


def deploy_host(name: str, data: Any) -> None:
    """Every play this host belongs to, with its variables resolved from the inventory."""
    context = HostContext(load(), name, extra_vars())
    selected = plays_for(context, as_bool(data.get("hops_skip_downloads", False)))
    for role, _, run in PLAYS:
        if role in selected:
            run(context.role(role))
