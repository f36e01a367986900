"""roles/hive: the Hive metastore on MariaDB and HiveServer2 (Spark's Thrift Server), both
on the first host of the hive group."""

from __future__ import annotations

import shlex

from pyinfra.api import StringCommand, deploy
from pyinfra.operations import apt, files, server
from pyinfra.operations.util import any_changed

from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of
from hops_pyinfra.java_stores import java_stores
from hops_pyinfra.roles.spark import install_pyspark
from hops_pyinfra.services import converge, wait_for_port


def _schema(role: RoleContext) -> None:
    """DataNucleus SchemaTool creates the tables when DBS is missing (the metastore must not
    create them itself: autoCreateAll deadlocks on MariaDB)."""
    v = role.vars
    tables = (
        f"mariadb --defaults-extra-file={v['hive_conf_dir']}/metastore-db.cnf --batch "
        "--skip-column-names -e \"SHOW TABLES LIKE 'DBS'\""
    )
    server.shell(
        name="The metastore schema is created with DataNucleus SchemaTool",
        commands=[
            StringCommand("cd", v["hive_data_dir"]),
            StringCommand(
                f"{v['hive_java_home']}/bin/java",
                "-cp",
                f"{v['hive_spark_home']}/jars/*:{v['hive_jdbc_driver_jar']}",
                "org.datanucleus.store.schema.SchemaTool",
                "-create",
                "-api",
                "JDO",
                "-props",
                f"{v['hive_conf_dir']}/schematool.properties",
                "package.jdo",
            ),
        ],
        _if=lambda: "DBS" not in lines_of(tables),
    )


@deploy("Hive metastore and HiveServer2")
def hive(role: RoleContext) -> None:
    v = role.vars
    if not role.flag("hive_is_server"):
        return
    if not v["hive_metastore_db_host"]:
        raise ValueError("the hive role needs a host in the metadata_db group")
    user, group, conf = v["hive_user"], v["hive_group"], v["hive_conf_dir"]
    apt.packages(
        name="Java, the MariaDB JDBC driver and client, and the virtualenv tooling are installed",
        packages=v["hive_packages"],
        update=True,
        cache_time=3600,
    )
    install_pyspark(role, "hive")
    for path in (conf, v["hive_server2_conf_dir"]):
        files.directory(name=f"{path} exists", path=path, user="root", group=group, mode="0750")
    data = v["hive_data_dir"]
    for path in (v["hive_log_dir"], data, f"{data}/tmp", f"{data}/scratch"):  # noqa: S108
        files.directory(name=f"{path} exists", path=path, user=user, group=group, mode="0750")
    files.directory(
        name="The warehouse directory exists",
        path=v["hive_warehouse_dir"],
        user=user,
        group=group,
        mode="0755",
    )

    t = role.template
    tls = role.flag("hive_metastore_tls") or role.flag("hive_server2_tls")
    stores = [java_stores(role, "hive")] if tls else []
    metastore = [
        *stores,
        t(
            "hive-site.xml.j2",
            f"{conf}/hive-site.xml",
            "root",
            group,
            "0640",
            name="The metastore configuration is written",
        ),
        t(
            "hive-metastore.service.j2",
            "/etc/systemd/system/hive-metastore.service",
            "root",
            "root",
            "0644",
            name="The metastore unit is installed",
        ),
    ]
    t(
        "schematool.properties.j2",
        f"{conf}/schematool.properties",
        "root",
        "root",
        "0600",
        name="The SchemaTool settings are written",
    )
    t(
        "metastore-db.cnf.j2",
        f"{conf}/metastore-db.cnf",
        "root",
        "root",
        "0600",
        name="The MariaDB client settings for the metastore account are written",
    )
    server2_conf = v["hive_server2_conf_dir"]
    server2 = [
        *stores,
        t(
            "thriftserver-defaults.conf.j2",
            f"{server2_conf}/spark-defaults.conf",
            "root",
            group,
            "0644",
            name="The Thrift Server's Spark defaults are written",
        ),
        t(
            "thriftserver-hive-site.xml.j2",
            f"{server2_conf}/hive-site.xml",
            "root",
            group,
            "0640",
            name="The Thrift Server's Hive settings are written",
        ),
        t(
            "hive-server2.service.j2",
            "/etc/systemd/system/hive-server2.service",
            "root",
            "root",
            "0644",
            name="The HiveServer2 unit is installed",
        ),
    ]
    _schema(role)

    timeout = v["hive_start_timeout"]
    started = converge("hive-metastore.service", metastore, "The metastore")
    wait_for_port(v["hive_address"], v["hive_metastore_port"], timeout, started, "The metastore")
    started2 = converge("hive-server2.service", server2, "HiveServer2")
    wait_for_port(
        v["hive_server2_bind_host"], v["hive_server2_port"], timeout, started2, "HiveServer2"
    )
    # The first session after a start is slow (the JVM warms up): one query proves HiveServer2
    # reaches the metastore and leaves it ready for clients with short timeouts.
    beeline = shlex.join(
        [
            f"{v['hive_spark_home']}/bin/beeline",
            "-u",
            str(v["hive_server2_jdbc_url"]),  # `;` separates its parameters: quoted
            "-n",
            user,
            "--silent=true",
            "--outputformat=csv2",
            "-e",
            "SHOW DATABASES",
        ]
    )
    server.shell(
        name="HiveServer2 answers a query through the metastore",
        commands=[
            f"cd {v['hive_data_dir']} && for i in $(seq 12); do "
            f"{beeline} | grep -qx default && exit 0; sleep 5; done; exit 1"
        ],
        _env={"SPARK_HOME": v["hive_spark_home"], "JAVA_HOME": v["hive_java_home"]},
        _if=any_changed(*started, *started2),
    )
