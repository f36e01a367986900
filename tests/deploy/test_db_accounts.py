"""The metadata DB's accounts converge on every deploy (roles/metadata_db/templates/
accounts.sql.j2, run by the Ansible tasks and the pyinfra twin alike): run against the
suite's real MariaDB with the client command the roles use."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from hops_deploy.render import render
from hops_deploy.variables import role_defaults
from tests.support.mariadb import MariaDBServer

# A password only a careful quoting survives: quote, backslash, percent, semicolon.
TRICKY = "it's a \\long; 100% secret"


@pytest.fixture
def names(mariadb: MariaDBServer) -> Iterator[dict[str, str]]:
    """Two schemas and two accounts of their own on the shared server, dropped after."""
    tag = uuid.uuid4().hex[:8]
    names = {
        "service_user": f"svc_{tag}",
        "service_db": f"svcdb_{tag}",
        "hive_user": f"hive_{tag}",
        "hive_db": f"hivedb_{tag}",
    }
    with mariadb.admin_connection() as conn, conn.cursor() as cur:
        for db in (names["service_db"], names["hive_db"]):
            cur.execute(f"CREATE DATABASE `{db}`")
    yield names
    with mariadb.admin_connection() as conn, conn.cursor() as cur:
        for db in (names["service_db"], names["hive_db"]):
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
        for user in (names["service_user"], names["hive_user"]):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


class Accounts:
    """The template rendered for given passwords and run as the roles run it."""

    def __init__(self, server: MariaDBServer, names: dict[str, str], workdir: Path) -> None:
        self.server, self.names, self.file = server, names, workdir / "hops-accounts.sql"
        self.command = role_defaults("metadata_db")["metadata_db_accounts_command"]

    def stage(self, service_password: str, hive_password: str, *, tls: bool) -> None:
        self.file.write_text(
            render(
                "metadata_db",
                "accounts.sql.j2",
                {
                    "hops_managed_header": "test",
                    "metadata_db_require_secure_transport": tls,
                    "metadata_db_client_host": "%",
                    "metadata_db_service_user": self.names["service_user"],
                    "metadata_db_service_password": service_password,
                    "metadata_db_service_database": self.names["service_db"],
                    "metadata_db_hive_user": self.names["hive_user"],
                    "metadata_db_hive_password": hive_password,
                    "metadata_db_hive_database": self.names["hive_db"],
                },
            )
        )

    def run(self, apply: int) -> int:
        argv = [
            self.command[0],
            f"--socket={self.server.socket_path}",
            "--user=root",
            *self.command[1:],
            f"SET @hops_apply = {apply}; SOURCE {self.file};",
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip())

    def grants(self, user: str) -> list[str]:
        with self.server.admin_connection() as conn, conn.cursor() as cur:
            cur.execute(f"SHOW GRANTS FOR '{user}'@'%'")
            return [row[0] for row in cur.fetchall()]

    def logs_in(self, user: str, password: str, database: str) -> bool:
        try:
            pymysql.connect(
                host=self.server.HOST,
                port=self.server.port,
                user=user,
                password=password,
                database=database,
                connect_timeout=10,
            ).close()
        except pymysql.err.OperationalError:
            return False
        return True


@pytest.fixture
def accounts(mariadb: MariaDBServer, names: dict[str, str], tmp_path: Path) -> Accounts:
    return Accounts(mariadb, names, tmp_path)


def test_missing_accounts_are_counted_then_created_and_a_rerun_changes_nothing(
    accounts: Accounts, names: dict[str, str]
) -> None:
    accounts.stage(TRICKY, "hive-password-1234", tls=False)
    assert accounts.run(apply=0) == 2
    assert accounts.run(apply=0) == 2  # counting changes nothing
    assert accounts.run(apply=1) == 2
    assert accounts.run(apply=0) == 0 and accounts.run(apply=1) == 0
    assert accounts.logs_in(names["service_user"], TRICKY, names["service_db"])
    assert not accounts.logs_in(names["service_user"], TRICKY, names["hive_db"])
    assert accounts.grants(names["hive_user"])[1:] == [
        f"GRANT ALL PRIVILEGES ON `{names['hive_db']}`.* TO `{names['hive_user']}`@`%`"
    ]


def test_a_changed_password_reaches_the_server(accounts: Accounts, names: dict[str, str]):
    accounts.stage("first-password-123", "hive-password-1234", tls=False)
    accounts.run(apply=1)
    accounts.stage("second-password-456", "hive-password-1234", tls=False)
    assert accounts.run(apply=0) == 1
    assert accounts.run(apply=1) == 1
    assert accounts.logs_in(names["service_user"], "second-password-456", names["service_db"])
    assert not accounts.logs_in(names["service_user"], "first-password-123", names["service_db"])
    assert accounts.run(apply=0) == 0


def test_a_stray_grant_or_a_dropped_one_is_put_back(
    accounts: Accounts, names: dict[str, str], mariadb: MariaDBServer
) -> None:
    accounts.stage("service-password-1", "hive-password-1234", tls=False)
    accounts.run(apply=1)
    wanted = accounts.grants(names["hive_user"])
    with mariadb.admin_connection() as conn, conn.cursor() as cur:
        cur.execute(f"GRANT SELECT ON `{names['service_db']}`.* TO '{names['hive_user']}'@'%'")
        cur.execute(f"GRANT PROCESS ON *.* TO '{names['hive_user']}'@'%'")
        cur.execute(
            f"REVOKE DELETE ON `{names['service_db']}`.* FROM '{names['service_user']}'@'%'"
        )
    assert accounts.run(apply=0) == 2
    assert accounts.run(apply=1) == 2
    assert accounts.grants(names["hive_user"]) == wanted
    assert accounts.run(apply=0) == 0


def test_the_tls_requirement_converges_both_ways(accounts: Accounts, names: dict[str, str]):
    accounts.stage("service-password-1", "hive-password-1234", tls=True)
    accounts.run(apply=1)
    assert accounts.grants(names["service_user"])[0].endswith("REQUIRE SSL")
    assert not accounts.logs_in(names["service_user"], "service-password-1", names["service_db"])
    accounts.stage("service-password-1", "hive-password-1234", tls=False)
    assert accounts.run(apply=1) == 2
    assert "REQUIRE" not in accounts.grants(names["service_user"])[0]
    assert accounts.logs_in(names["service_user"], "service-password-1", names["service_db"])
