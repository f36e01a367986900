"""roles/zookeeper: the ensemble from Debian's package, run by a platform unit."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files

from hops_pyinfra.context import RoleContext
from hops_pyinfra.services import converge


@deploy("ZooKeeper")
def zookeeper(role: RoleContext) -> None:
    v = role.vars
    apt.packages(
        name="ZooKeeper is installed",
        packages=v["zookeeper_packages"],
        no_recommends=True,
        update=True,
        cache_time=3600,
    )
    for path in (v["zookeeper_data_dir"], v["zookeeper_log_dir"]):
        files.directory(
            name=f"{path} exists",
            path=path,
            user=v["hops_user"],
            group=v["hops_group"],
            mode="0750",
        )
    changes = [
        role.template(src, dest, "root", v["hops_group"], "0644", name=f"{dest} is written")
        for src, dest in (
            ("zoo.cfg.j2", f"{v['zookeeper_conf_dir']}/zoo.cfg"),
            ("myid.j2", f"{v['zookeeper_data_dir']}/myid"),
            ("zookeeper.service.j2", "/etc/systemd/system/hops-zookeeper.service"),
        )
    ]
    converge("hops-zookeeper", changes, "ZooKeeper")
