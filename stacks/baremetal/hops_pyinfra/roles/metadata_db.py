"""roles/metadata_db: MariaDB with the platform's TLS settings, its schemas and accounts."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import StringCommand, deploy
from pyinfra.facts.files import Sha1File
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of, once

EXISTING = (
    "mariadb --batch --skip-column-names -e \"SELECT CONCAT('db:', SCHEMA_NAME) FROM "
    "information_schema.SCHEMATA UNION ALL SELECT CONCAT('user:', User) FROM mysql.user\""
)


def accounts_sql(v: dict) -> str:  # type: ignore[type-arg]
    """The statements the Ansible tasks run: schemas, then accounts with their grants."""
    require = " REQUIRE SSL" if v["metadata_db_require_secure_transport"] else ""
    client = v["metadata_db_client_host"]
    statements = [
        f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
        for name in (v["metadata_db_service_database"], v["metadata_db_hive_database"])
    ]
    for user, password, database in (
        (
            v["metadata_db_service_user"],
            v["metadata_db_service_password"],
            v["metadata_db_service_database"],
        ),
        (
            v["metadata_db_hive_user"],
            v["metadata_db_hive_password"],
            v["metadata_db_hive_database"],
        ),
    ):
        statements.append(
            f"CREATE USER IF NOT EXISTS '{user}'@'{client}' IDENTIFIED BY '{password}'{require};"
        )
        statements.append(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{client}';")
    return "\n".join(statements) + "\n"


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
    apt.packages(
        name="MariaDB is installed",
        packages=["mariadb-server", "mariadb-client"],
        update=True,
        cache_time=3600,
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

    wanted = {
        f"db:{v['metadata_db_service_database']}",
        f"db:{v['metadata_db_hive_database']}",
        f"user:{v['metadata_db_service_user']}",
        f"user:{v['metadata_db_hive_user']}",
    }
    missing = once(lambda: not wanted <= set(lines_of(EXISTING)))
    statements = "/root/.hops-metadata-db-accounts.sql"
    # The passwords go through a root-only file, never on a command line or in a log.
    files.put(
        name="The account statements are staged",
        src=StringIO(accounts_sql(v)),
        dest=statements,
        user="root",
        group="root",
        mode="0600",
        _if=missing,
    )
    server.shell(
        name="Missing schemas and accounts are created with their grants",
        commands=[f"mariadb < {statements}"],
        _if=missing,
    )
    files.file(name="The staged statements are removed", path=statements, present=False)
