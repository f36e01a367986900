"""roles/spark: Spark standalone from pyspark in a virtualenv; master and history server on
the group's first host, workers on the others (a single host runs both)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, pip

from hops_pyinfra.context import RoleContext
from hops_pyinfra.java_stores import java_stores
from hops_pyinfra.services import converge, wait_for_port


def install_pyspark(role: RoleContext, prefix: str) -> None:
    """The shared Spark virtualenv (spark and hive roles): pip compares the pin."""
    v = role.vars
    pip.packages(
        name="Pyspark is installed in its virtualenv",
        packages=[f"pyspark=={v[prefix + '_pyspark_version']}"],
        virtualenv=v[prefix + ("_spark_venv" if prefix == "hive" else "_venv")],
        virtualenv_kwargs={"venv": True, "python": "python3"},
        extra_install_args=str(v[prefix + "_pip_extra_args"]).strip() or None,
        _env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


@deploy("Spark")
def spark(role: RoleContext) -> None:
    v = role.vars
    if not role.flag("spark_is_member"):
        raise ValueError("the spark role runs only on hosts of the spark group")
    user, group = v["spark_user"], v["spark_group"]
    apt.packages(
        name="Java and the virtualenv tooling are installed",
        packages=v["spark_packages"],
        update=True,
        cache_time=3600,
    )
    install_pyspark(role, "spark")
    files.directory(
        name="The configuration directory exists",
        path=v["spark_conf_dir"],
        user="root",
        group=group,
        mode="0755",
    )
    for path, mode in (
        (v["spark_log_dir"], "0750"),
        (v["spark_data_dir"], "0755"),
        (v["spark_worker_dir"], "0750"),
        (v["spark_local_dir"], "1777"),
        (v["spark_event_log_dir"], "1777"),
    ):
        files.directory(name=f"{path} exists", path=path, user=user, group=group, mode=mode)

    shared = []
    if any(role.flag(f"spark_{what}_tls") for what in ("ui", "hive_metastore", "rpc")):
        shared.append(java_stores(role, "spark"))
    shared += [
        role.template(
            "daemons.conf.j2",
            v["spark_daemon_conf"],
            "root",
            group,
            "0640",
            name="The daemons' configuration is written",
        ),
        role.template(
            "spark-defaults.conf.j2",
            f"{v['spark_conf_dir']}/spark-defaults.conf",
            "root",
            group,
            "0644",
            name="The Spark defaults are written",
        ),
        role.template(
            "spark-env.sh.j2",
            f"{v['spark_conf_dir']}/spark-env.sh",
            "root",
            group,
            "0644",
            name="The Spark environment is written",
        ),
    ]
    role.template(
        "spark-profile.sh.j2",
        "/etc/profile.d/hops-spark.sh",
        "root",
        "root",
        "0644",
        name="Login shells find Spark and its configuration",
    )
    daemons = [
        ("spark_is_master", "spark-master", "The Spark master"),
        ("spark_is_history_server", "spark-history", "The history server"),
        ("spark_is_worker", "spark-worker", "The Spark worker"),
    ]
    units = {}
    for flag, unit, _what in daemons:
        if role.flag(flag):
            units[unit] = role.template(
                f"{unit}.service.j2",
                f"/etc/systemd/system/{unit}.service",
                "root",
                "root",
                "0644",
                name=f"The {unit} unit is installed",
            )
    for flag, unit, what in daemons:
        if role.flag(flag):
            started = converge(f"{unit}.service", [*shared, units[unit]], what)
            if unit == "spark-master":
                wait_for_port(
                    v["spark_master_address"],
                    v["spark_master_port"],
                    v["spark_start_timeout"],
                    started,
                    "The master",
                )
