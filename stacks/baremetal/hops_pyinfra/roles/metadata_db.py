"""roles/metadata_db: MariaDB with the platform's TLS settings, its schemas and accounts."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, deploy
from pyinfra.facts.files import Sha1File
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of

EXISTING = (
    "mariadb --batch --skip-column-names -e \"SELECT CONCAT('db:', SCHEMA_NAME) FROM "
    'information_schema.SCHEMATA"'
)


def _accounts_command(v: dict, apply: int) -> str:  # type: ignore[type-arg]
    """templates/accounts.sql.j2 run as the Ansible tasks run it: 0 counts, 1 converges."""
    sql = f"SET @hops_apply = {apply}; SOURCE {v['metadata_db_accounts_file']};"
    return shlex.join([*v["metadata_db_accounts_command"], sql])


def _tls_copies(v: dict) -> list:  # type: ignore[type-arg]
    """MariaDB's own copy of the host certificate, key and chain (it runs as mysql)."""
    ssl_dir = v["metadata_db_ssl_dir"]
    files.directory(
        name="MariaDB's TLS directory exists",
        path=ssl_dir,
        user="mysql",
        group="mysql",
        mode="0750",
    )
    changes = []
    for source, dest, mode in (
        (v["hops_host_cert"], "server-cert.pem", "0644"),
        (v["hops_host_key"], "server-key.pem", "0600"),
        (v["hops_ca_chain"], "ca.pem", "0644"),
    ):
        target = f"{ssl_dir}/{dest}"
        source_sum = host.get_fact(Sha1File, path=source)
        if source_sum is None or source_sum != host.get_fact(Sha1File, path=target):
            changes.append(
                server.shell(
                    name=f"{target} is a copy of {source}",
                    commands=[StringCommand("cp", source, target)],
                )
            )
        files.file(
            name=f"{target} belongs to mysql", path=target, user="mysql", group="mysql", mode=mode
        )
    return changes


@deploy("Metadata DB")
def metadata_db(role: RoleContext) -> None:
    v = role.vars
    if role.flag("metadata_db_galera_enabled"):
        raise ValueError(
            f"{role.host.name}: the pyinfra deploy does not form Galera clusters (it deploys "
            "one host at a time, and a cluster is bootstrapped across hosts); deploy the "
            "metadata_db group with ansible-playbook site.yml --tags metadata_db"
        )
    installed = apt.packages(
        name="MariaDB is installed",
        packages=v["metadata_db_packages"],
        update=True,
        cache_time=3600,
    )
    # roles/metadata_db/tasks/startup_check.yml: the package started the server, whose
    # start-up check must end before a restart (a container cannot empty its cgroup).
    server.shell(
        name="MariaDB's start-up check of its system tables has finished",
        commands=[
            # [/]: the pattern must not match the shell running this loop
            "for _ in $(seq 90); do pgrep -f '[/]etc/mysql/debian-start' >/dev/null || exit 0;"
            " sleep 2; done; exit 1"
        ],
        _if=installed.did_change,
    )
    changes = _tls_copies(v) if role.flag("metadata_db_tls_enabled") else []
    changes.append(
        role.template(
            "90-hops.cnf.j2",
            "/etc/mysql/mariadb.conf.d/90-hops.cnf",
            "root",
            "root",
            "0644",
            name="The platform's server settings are in place",
        )
    )
    systemd.service(
        name="Settings changed in this run are applied",
        service="mariadb",
        running=True,
        restarted=True,
        enabled=True,
        _if=any_changed(*changes),
    )
    systemd.service(
        name="MariaDB is enabled and running", service="mariadb", running=True, enabled=True
    )

    schemas = (v["metadata_db_service_database"], v["metadata_db_hive_database"])
    server.shell(
        name="Missing schemas are created",
        commands=[
            shlex.join(
                [
                    "mariadb",
                    "-e",
                    f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_bin",
                ]
            )
            for name in schemas
        ],
        _if=lambda: not {f"db:{name}" for name in schemas} <= set(lines_of(EXISTING)),
    )
    role.template(
        "accounts.sql.j2",
        v["metadata_db_accounts_file"],
        "root",
        "root",
        "0600",
        name="The accounts' wanted state is staged (root only; it holds their passwords)",
    )
    server.shell(
        name="Every account's password, TLS requirement and grant converge",
        commands=[_accounts_command(v, 1)],
        _if=lambda: int((lines_of(_accounts_command(v, 0)) or ["1"])[0]) > 0,
    )
