"""The Hive backend: the naming and grant rules, both implementations, and failure bounds.

What is real here and what is not:

- `HiveServer2Hive` databases (create, exists, describe, drop, idempotency, location,
  size of a table written by SQL, reconciliation listing) run against a REAL Spark Thrift
  Server started from the pip pyspark jars (`tests.support.spark_thrift`, one per session,
  Derby metastore in a temporary directory). Those tests are skipped only when pyspark is
  not importable.
- Spark Thrift Server's parser rejects GRANT/REVOKE/SHOW GRANT, so against it the tests
  assert the honest outcome: the statements are generated, ``applied`` is False,
  ``grants_supported`` becomes False and ``grants="require"`` refuses to go on. The path
  where a server accepts grants (repeats tolerated, role changes, SHOW GRANT parsing) runs
  against `GrantingHive`, a small fake DB-API connection defined below that answers with
  Hive's own error wordings. Grant enforcement itself is exercised nowhere here.
- "Server down" is real: a closed port and a socket that accepts but never answers.
- `EmbeddedHive` is tested completely: it is the embedded default and has no outside system.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.hive import HiveBackend
from hopsworks_api.backends.hive.base import (
    default_location,
    member_plan,
    normalize_location,
    plan_privileges,
    principal,
    quote_identifier,
    revoke_plan,
    same_location,
    share_plans,
    sql_create_database,
    sql_drop_database,
    sql_grant,
    sql_revoke,
    validate_location,
    validate_project,
)
from hopsworks_api.backends.hive.embedded import EmbeddedHive
from hopsworks_api.backends.hive.hiveserver2 import HiveServer2Hive, local_file_size
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from tests.support.spark_thrift import SparkThriftServer, pyspark_available

BOUND_S = 15.0  # "a dead server must fail in a few seconds": asserted well below a hang


def new_project() -> str:
    return f"p{uuid.uuid4().hex[:12]}"


# --- names and SQL strings --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["default", "sys", "information_schema", "ab", "Abc", "1abc", "a-bc", "a;drop", "x`y", "a__b"],
)
def test_invalid_or_reserved_project_names_are_refused(name: str) -> None:
    with pytest.raises(BadRequest):
        validate_project(name)


@pytest.mark.parametrize(
    "location",
    [
        "/w/p1x.db'; DROP DATABASE x; --",
        "/w/p1x .db",
        "relative/p1x.db",
        "/w/../p1x.db",
        "/w/other.db",
        "file:/w/p1x.db\\",
        "/w/p1x.db`",
    ],
)
def test_unsafe_or_misnamed_locations_are_refused(location: str) -> None:
    with pytest.raises(BadRequest):
        validate_location("p1x", location)


def test_locations_are_normalized_and_compared_by_place() -> None:
    assert normalize_location("file:///tmp/w/p1x.db/") == "file:/tmp/w/p1x.db"
    assert normalize_location("/tmp/w/p1x.db") == "file:/tmp/w/p1x.db"
    assert default_location("hdfs://nn:8020/apps/hive/warehouse/", "p1x") == (
        "hdfs://nn:8020/apps/hive/warehouse/p1x.db"
    )
    assert same_location("hdfs://nn:8020/w/p1x.db", "/w/p1x.db")
    assert not same_location("hdfs://nn:8020/w/p1x.db", "hdfs://other:8020/w/p1x.db")
    assert not same_location("/w/a/p1x.db", "/w/b/p1x.db")


def test_ddl_statements_quote_validated_names() -> None:
    assert sql_create_database("proj_a", "hdfs://nn:8020/w/proj_a.db") == (
        "CREATE DATABASE IF NOT EXISTS `proj_a` LOCATION 'hdfs://nn:8020/w/proj_a.db'"
    )
    assert sql_drop_database("proj_a") == "DROP DATABASE IF EXISTS `proj_a` CASCADE"
    with pytest.raises(BadRequest):
        quote_identifier("a`b")
    with pytest.raises(BadRequest):
        sql_drop_database("proj_a`; DROP DATABASE `x")


def test_grant_statements_follow_the_sql_standard_model() -> None:
    assert sql_grant("proj_a", "SELECT", "proj_a__alice") == (
        "GRANT SELECT ON DATABASE `proj_a` TO USER `proj_a__alice`"
    )
    assert sql_revoke("proj_a", "DELETE", "proj_a__alice") == (
        "REVOKE DELETE ON DATABASE `proj_a` FROM USER `proj_a__alice`"
    )
    with pytest.raises(BadRequest):
        sql_grant("proj_a", "ALL; DROP", "proj_a__alice")


def test_member_plans_per_role() -> None:
    owner = member_plan("proj_a", "alice", "data_owner")
    assert owner.principal == "proj_a__alice"
    assert owner.statements == (
        "GRANT SELECT ON DATABASE `proj_a` TO USER `proj_a__alice`",
        "GRANT INSERT ON DATABASE `proj_a` TO USER `proj_a__alice`",
        "GRANT UPDATE ON DATABASE `proj_a` TO USER `proj_a__alice`",
        "GRANT DELETE ON DATABASE `proj_a` TO USER `proj_a__alice`",
    )
    scientist = member_plan("proj_a", "bob.s", "data_scientist")
    assert scientist.statements == (
        # revokes first: a downgrade from data owner removes rights before anything else
        "REVOKE UPDATE ON DATABASE `proj_a` FROM USER `proj_a__bob.s`",
        "REVOKE DELETE ON DATABASE `proj_a` FROM USER `proj_a__bob.s`",
        "GRANT SELECT ON DATABASE `proj_a` TO USER `proj_a__bob.s`",
        "GRANT INSERT ON DATABASE `proj_a` TO USER `proj_a__bob.s`",
    )
    assert revoke_plan("proj_a", "proj_a__bob.s").grants == ()
    assert len(revoke_plan("proj_a", "proj_a__bob.s").revokes) == 4
    with pytest.raises(BadRequest):
        member_plan("proj_a", "alice", "admin")
    for bad in ("a__b", "_x", "x y", "x`y", ""):
        with pytest.raises(BadRequest):
            principal("proj_a", bad)


def test_share_plans() -> None:
    read = share_plans("proj_a", "proj_b", ["carol"], False)
    assert [p.principal for p in read] == ["proj_b__carol"]
    assert read[0].grants == ("GRANT SELECT ON DATABASE `proj_a` TO USER `proj_b__carol`",)
    assert "REVOKE INSERT ON DATABASE `proj_a` FROM USER `proj_b__carol`" in read[0].revokes
    write = share_plans("proj_a", "proj_b", ["carol", "dave"], True)
    assert write[1].keep == ("SELECT", "INSERT")
    unshare = share_plans("proj_a", "proj_b", ["carol"], None)
    assert unshare[0].keep == () and unshare[0].grants == ()
    with pytest.raises(BadRequest):
        share_plans("proj_a", "proj_a", ["carol"], False)
    with pytest.raises(BadRequest):
        share_plans("proj_a", "proj_b", "carol", False)  # type: ignore[arg-type]
    assert plan_privileges("proj_a", "x", ["INSERT", "SELECT"]).keep == ("SELECT", "INSERT")


# --- EmbeddedHive -------------------------------------------------------------------------


@pytest.fixture()
def local(tmp_path: Path) -> EmbeddedHive:
    return EmbeddedHive(tmp_path / "warehouse")


def test_embedded_is_a_hive_backend(local: EmbeddedHive) -> None:
    backend: HiveBackend = local
    assert backend.list_project_databases() == []


def test_embedded_create_exists_describe_drop_are_idempotent(local: EmbeddedHive) -> None:
    db = local.create_database("proj_a")
    directory = local.warehouse / "proj_a.db"
    assert directory.is_dir()
    assert db.name == "proj_a"
    assert db.location == f"file:{directory}"
    assert (db.size_bytes, db.tables, db.size_source) == (0, (), "filesystem")
    assert local.create_database("proj_a") == db
    assert local.create_database("proj_a", f"file://{directory}/") == db
    assert local.database_exists("proj_a")
    assert local.list_project_databases() == ["proj_a"]
    assert local.drop_database("proj_a") is True
    assert not directory.exists()
    assert local.drop_database("proj_a") is False
    assert not local.database_exists("proj_a")
    with pytest.raises(NotFound):
        local.describe("proj_a")


def test_embedded_location_is_honoured_and_kept_in_the_warehouse(local: EmbeddedHive) -> None:
    custom = local.warehouse / "tenants" / "proj_a.db"
    db = local.create_database("proj_a", str(custom))
    assert custom.is_dir() and db.location == f"file:{custom}"
    with pytest.raises(Conflict):
        local.create_database("proj_a")  # exists elsewhere
    with pytest.raises(BadRequest):
        local.create_database("proj_b", "/tmp/elsewhere/proj_b.db")
    with pytest.raises(BadRequest):
        local.create_database("proj_b", str(local.warehouse / "proj_c.db"))
    assert local.drop_database("proj_a")
    assert not custom.exists()


def test_embedded_size_counts_table_files_and_not_symlinks(
    local: EmbeddedHive, tmp_path: Path
) -> None:
    local.create_database("proj_a")
    table = local.warehouse / "proj_a.db" / "sales"
    (table / "part=1").mkdir(parents=True)
    (table / "part=1" / "f0.parquet").write_bytes(b"x" * 1000)
    (table / "f1.parquet").write_bytes(b"y" * 234)
    (local.warehouse / "proj_a.db" / "_tmp").mkdir()
    outside = tmp_path / "big"
    outside.write_bytes(b"z" * 10_000)
    (table / "link").symlink_to(outside)
    db = local.describe("proj_a")
    assert db.size_bytes == 1234
    assert db.tables == ("sales",)


def test_embedded_catalog_is_json_persisted_and_shared(local: EmbeddedHive) -> None:
    local.create_database("proj_a")
    local.grant_member("proj_a", "alice", "data_owner")
    catalog = json.loads((local.warehouse / ".hive-catalog" / "proj_a.json").read_text())
    assert catalog["grants"] == {"proj_a__alice": ["SELECT", "INSERT", "UPDATE", "DELETE"]}
    again = EmbeddedHive(local.warehouse)
    assert again.database_exists("proj_a")
    assert again.list_grants("proj_a") == {
        "proj_a__alice": ("SELECT", "INSERT", "UPDATE", "DELETE")
    }
    leftovers = {p.name for p in local.warehouse.iterdir()} - {
        ".hive-catalog",
        ".hive-catalog.lock",
        "proj_a.db",
    }
    leftovers |= {p.name for p in (local.warehouse / ".hive-catalog").iterdir()} - {"proj_a.json"}
    assert not leftovers, "no temporary catalog file may be left behind"


def test_embedded_concurrent_creates_lose_nothing(local: EmbeddedHive) -> None:
    names = [f"proj_{i:02d}" for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(local.create_database, names + names))
    assert EmbeddedHive(local.warehouse).list_project_databases() == names


def test_embedded_adopts_a_directory_left_by_an_interrupted_create(local: EmbeddedHive) -> None:
    (local.warehouse / "proj_a.db" / "t").mkdir(parents=True)
    (local.warehouse / "proj_a.db" / "t" / "f").write_bytes(b"abc")
    assert not local.database_exists("proj_a")
    assert local.create_database("proj_a").size_bytes == 3


def test_embedded_unreadable_catalog_is_unavailable_not_empty(local: EmbeddedHive) -> None:
    local.create_database("proj_a")
    (local.warehouse / ".hive-catalog" / "proj_a.json").write_text("{not json")
    with pytest.raises(BackendUnavailable) as info:
        local.list_project_databases()
    assert info.value.system == "hive"


def test_embedded_grants_record_roles_and_shares(local: EmbeddedHive) -> None:
    with pytest.raises(NotFound):
        local.grant_member("proj_a", "alice", "data_owner")
    assert local.revoke_member("proj_a", "alice").statements  # missing DB: a no-op undo
    local.create_database("proj_a")
    local.create_database("proj_b")
    result = local.grant_member("proj_a", "alice", "data_owner")
    assert result.applied is False  # recorded, not enforced: nothing here runs queries
    assert result.statements == member_plan("proj_a", "alice", "data_owner").statements
    local.grant_member("proj_a", "alice", "data_scientist")  # role change
    local.grant_member("proj_a", "alice", "data_scientist")  # idempotent
    local.grant_share("proj_a", "proj_b", ["carol", "dave"], writable=False)
    local.grant_share("proj_a", "proj_b", ["dave"], writable=True)
    local.grant_share("proj_b", "proj_a", ["alice"], writable=False)
    assert local.list_grants("proj_a") == {
        "proj_a__alice": ("SELECT", "INSERT"),
        "proj_b__carol": ("SELECT",),
        "proj_b__dave": ("SELECT", "INSERT"),
    }
    local.revoke_share("proj_a", "proj_b", ["carol"])
    local.revoke_share("proj_a", "proj_b", ["carol"])
    local.revoke_member("proj_a", "alice")
    assert local.list_grants("proj_a") == {"proj_b__dave": ("SELECT", "INSERT")}
    # dropping proj_b removes what its members held elsewhere
    local.drop_database("proj_b")
    assert local.list_grants("proj_a") == {}
    assert local.list_grants("proj_b") == {}
    with pytest.raises(BadRequest):
        local.grant_share("proj_a", "proj_a", ["x"], writable=False)


def test_embedded_refuses_bad_names_before_touching_disk(local: EmbeddedHive) -> None:
    for bad in ("default", "../etc", "a;b", "proj_a`"):
        with pytest.raises(BadRequest):
            local.create_database(bad)
    assert not [p for p in local.warehouse.iterdir() if p.is_dir()]
    assert local.list_project_databases() == []


def test_embedded_file_size_probe_only_measures_file_locations(tmp_path: Path) -> None:
    (tmp_path / "p1x.db").mkdir()
    (tmp_path / "p1x.db" / "f").write_bytes(b"1234")
    assert local_file_size(f"file://{tmp_path}/p1x.db") == 4
    assert local_file_size("hdfs://nn:8020/w/p1x.db") is None


# --- HiveServer2Hive against a server that accepts grants (fake) -----------------------


class _Status(SimpleNamespace):
    pass


def _refuse(message: str) -> Exception:
    from pyhive.exc import OperationalError

    return OperationalError(SimpleNamespace(status=_Status(errorMessage=message)))


class GrantingHive:
    """A DB-API connection factory speaking like Hive with legacy/SQL-standard
    authorization: it keeps databases and grants, and refuses repeats with Hive's words."""

    def __init__(self) -> None:
        self.databases: dict[str, str] = {}
        self.grants: set[tuple[str, str, str]] = set()
        self.statements: list[str] = []

    def __call__(self) -> GrantingHive:
        return self

    def cursor(self) -> GrantingHive:
        return self

    def close(self) -> None:
        pass

    def execute(self, sql: str) -> None:
        import re

        self.statements.append(sql)
        self.description: list[tuple[str, ...]] | None = None
        self.rows: list[tuple[Any, ...]] = []
        if m := re.fullmatch(r"DESCRIBE DATABASE EXTENDED `(\w+)`", sql):
            if m[1] not in self.databases:
                raise _refuse(f"Database does not exist: {m[1]}")
            self.description = [("db_name",), ("comment",), ("location",), ("owner_name",)]
            self.rows = [(m[1], "", self.databases[m[1]], "hopsworks")]
        elif m := re.fullmatch(r"CREATE DATABASE IF NOT EXISTS `(\w+)` LOCATION '(.+)'", sql):
            self.databases.setdefault(m[1], m[2])
        elif m := re.fullmatch(r"SHOW TABLES IN `(\w+)`", sql):
            self.description = [("tab_name",)]
        elif m := re.fullmatch(r"GRANT (\w+) ON DATABASE `(\w+)` TO USER `([\w.-]+)`", sql):
            key = (m[2], m[3], m[1])
            if key in self.grants:
                raise _refuse(
                    f"Error while processing statement: FAILED: Execution Error, return code 1 "
                    f"from org.apache.hadoop.hive.ql.exec.DDLTask. InvalidObjectException("
                    f"message:{m[1]} is already granted on database:{m[2]} by hopsworks)"
                )
            self.grants.add(key)
        elif m := re.fullmatch(r"REVOKE (\w+) ON DATABASE `(\w+)` FROM USER `([\w.-]+)`", sql):
            key = (m[2], m[3], m[1])
            if key not in self.grants:
                raise _refuse(f"Cannot find privilege Privilege [name={m[1]}] for {m[3]}")
            self.grants.discard(key)
        elif m := re.fullmatch(r"SHOW GRANT ON DATABASE `(\w+)`", sql):
            self.description = [
                ("database",),
                ("principal_name",),
                ("principal_type",),
                ("privilege",),
            ]
            self.rows = [(db, who, "USER", p) for db, who, p in sorted(self.grants) if db == m[1]]
            self.rows.append((m[1], "admin", "ROLE", "SELECT"))
        else:
            raise AssertionError(f"unexpected statement {sql}")

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


def test_hiveserver2_with_grants_applies_and_tolerates_repeats() -> None:
    fake = GrantingHive()
    hive = HiveServer2Hive(warehouse="hdfs://nn:8020/w", connect=fake, grants="require")
    db = hive.create_database("proj_a")
    assert (db.location, db.size_source) == ("hdfs://nn:8020/w/proj_a.db", "table_stats")
    with pytest.raises(NotFound):
        hive.grant_member("proj_zz", "alice", "data_owner")
    assert hive.grant_member("proj_a", "alice", "data_owner").applied is True
    assert hive.grants_supported is True
    assert hive.grant_member("proj_a", "alice", "data_owner").applied is True  # repeat
    hive.grant_member("proj_a", "alice", "data_scientist")
    hive.grant_share("proj_a", "proj_b", ["carol"], writable=True)
    hive.grant_share("proj_a", "proj_b", ["carol"], writable=False)
    assert hive.list_grants("proj_a") == {
        "proj_a__alice": ("SELECT", "INSERT"),
        "proj_b__carol": ("SELECT",),
    }
    hive.revoke_member("proj_a", "alice")
    hive.revoke_member("proj_a", "alice")
    hive.revoke_share("proj_a", "proj_b", ["carol"])
    assert hive.list_grants("proj_a") == {}
    assert hive.revoke_member("proj_zz", "alice").applied is False


def test_hiveserver2_grants_off_sends_nothing() -> None:
    fake = GrantingHive()
    hive = HiveServer2Hive(warehouse="/w", connect=fake, grants="off")
    hive.create_database("proj_a")
    result = hive.grant_member("proj_a", "alice", "data_owner")
    assert result.applied is False and len(result.statements) == 4
    assert not [s for s in fake.statements if s.startswith(("GRANT", "REVOKE"))]
    assert hive.list_grants("proj_a") is None


# --- HiveServer2Hive when the server is down -------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_hiveserver2_refused_connection_is_unavailable_at_once() -> None:
    hive = HiveServer2Hive("127.0.0.1", _closed_port(), warehouse="/w", connect_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        hive.database_exists("proj_a")
    assert time.monotonic() - started < BOUND_S
    assert info.value.system == "hive"


@pytest.fixture()
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and then never says a word (a hung server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("auth", ["NONE", "NOSASL"])
def test_hiveserver2_silent_server_is_unavailable_within_the_timeout(
    black_hole: int, auth: str
) -> None:
    hive = HiveServer2Hive(
        "127.0.0.1",
        black_hole,
        warehouse="/w",
        auth=auth,
        connect_timeout_s=2,  # type: ignore[arg-type]
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        hive.create_database("proj_a")
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_S
    assert elapsed > 1.5, "the connect timeout, not an instant refusal, must have ended it"
    assert "did not answer in time" in str(info.value)


# --- HiveServer2Hive against a real Spark Thrift Server --------------------------------

real_server = pytest.mark.skipif(
    not pyspark_available(), reason="pyspark is not importable: no Spark Thrift Server to test"
)


@pytest.fixture(scope="session")
def spark_thrift() -> Iterator[SparkThriftServer]:
    """Over TLS, as the hive role deploys it: every real-server test goes through it."""
    server = SparkThriftServer(tls=True).start()
    print(f"Spark Thrift Server listening after {server.startup_seconds:.1f} s")
    yield server
    server.stop()


@pytest.fixture()
def hs2(spark_thrift: SparkThriftServer) -> HiveServer2Hive:
    return HiveServer2Hive(
        spark_thrift.host,
        spark_thrift.port,
        warehouse=spark_thrift.warehouse_uri,
        connect_timeout_s=60,  # the first session after start waits for the JVM to warm up
        query_timeout_s=120,
        tls_ca=spark_thrift.ca_path,
    )


@real_server
def test_real_tls_server_refuses_a_plain_client_and_an_unknown_ca(
    hs2: HiveServer2Hive, spark_thrift: SparkThriftServer, tmp_path: Path
) -> None:
    """The backend trusts only the CA it is given; without TLS it gets no answer."""
    from cryptography.hazmat.primitives import serialization

    from tests.support.certificates import issue_ca

    project = new_project()
    assert hs2.database_exists(project) is False
    plain = HiveServer2Hive(
        spark_thrift.host, spark_thrift.port, warehouse="/w", connect_timeout_s=5, query_timeout_s=5
    )
    with pytest.raises(BackendUnavailable):
        plain.database_exists(project)
    other = tmp_path / "other-ca.pem"
    other.write_bytes(issue_ca("another CA")[1].public_bytes(serialization.Encoding.PEM))
    stranger = HiveServer2Hive(
        spark_thrift.host, spark_thrift.port, warehouse="/w", connect_timeout_s=5, tls_ca=other
    )
    with pytest.raises(BackendUnavailable) as info:
        stranger.database_exists(project)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


def _sql(server: SparkThriftServer, *statements: str) -> None:
    """Statements as another client sends them (the backend's own transport, over TLS)."""
    client = HiveServer2Hive(
        server.host, server.port, warehouse="/w", username="tester", tls_ca=server.ca_path
    )
    conn = client._connect()
    try:
        cursor = conn.cursor()
        for statement in statements:
            cursor.execute(statement)
    finally:
        conn.close()


@real_server
def test_real_create_exists_describe_drop_are_idempotent(
    hs2: HiveServer2Hive, spark_thrift: SparkThriftServer
) -> None:
    project = new_project()
    directory = spark_thrift.warehouse / f"{project}.db"
    assert not hs2.database_exists(project)
    db = hs2.create_database(project)
    assert directory.is_dir(), "the location must appear under the warehouse"
    assert db.location == f"file:{directory}"
    assert (db.size_bytes, db.tables) == (0, ())
    assert hs2.create_database(project) == db
    assert hs2.database_exists(project)
    assert hs2.describe(project) == db
    assert project in hs2.list_project_databases()
    assert "default" not in hs2.list_project_databases()
    assert hs2.drop_database(project) is True
    assert not directory.exists()
    assert hs2.drop_database(project) is False
    assert not hs2.database_exists(project)
    with pytest.raises(NotFound):
        hs2.describe(project)


@real_server
def test_real_location_is_honoured(hs2: HiveServer2Hive, spark_thrift: SparkThriftServer) -> None:
    project = new_project()
    custom = spark_thrift.warehouse / "tenants" / f"{project}.db"
    db = hs2.create_database(project, f"file://{custom}")
    try:
        assert custom.is_dir()
        assert db.location == f"file:{custom}"
        with pytest.raises(Conflict):
            hs2.create_database(project)  # same name, default location: refused, not moved
    finally:
        hs2.drop_database(project)
    assert not custom.exists()


@real_server
def test_real_table_written_by_sql_counts_in_size(
    hs2: HiveServer2Hive, spark_thrift: SparkThriftServer
) -> None:
    project = new_project()
    hs2.create_database(project)
    try:
        _sql(
            spark_thrift,
            f"CREATE TABLE `{project}`.`sales` (id INT, item STRING) USING parquet",
            f"INSERT INTO `{project}`.`sales` VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        )
        db = hs2.describe(project)
        assert db.tables == ("sales",)
        on_disk = sum(
            f.stat().st_size
            for f in (spark_thrift.warehouse / f"{project}.db").rglob("*")
            if f.is_file()
        )
        assert db.size_bytes == on_disk > 0
        assert db.size_source == "filesystem"
        # without a file-system probe, the size comes from table statistics
        stats = HiveServer2Hive(
            spark_thrift.host,
            spark_thrift.port,
            warehouse=hs2.warehouse,
            size_probe=None,
            tls_ca=spark_thrift.ca_path,
        )
        _sql(spark_thrift, f"ANALYZE TABLE `{project}`.`sales` COMPUTE STATISTICS NOSCAN")
        estimate = stats.describe(project)
        assert estimate.size_source == "table_stats"
        assert 0 < estimate.size_bytes <= on_disk
    finally:
        assert hs2.drop_database(project)  # CASCADE: a database with tables goes too


@real_server
def test_real_server_rejects_grants_and_says_so(
    hs2: HiveServer2Hive, spark_thrift: SparkThriftServer
) -> None:
    project = new_project()
    hs2.create_database(project)
    try:
        result = hs2.grant_member(project, "alice", "data_scientist")
        assert result.applied is False
        assert result.statements == member_plan(project, "alice", "data_scientist").statements
        assert hs2.grants_supported is False
        assert hs2.list_grants(project) is None
        assert hs2.grant_share(project, "proj_other", ["bob"], writable=True).applied is False
        strict = HiveServer2Hive(
            spark_thrift.host,
            spark_thrift.port,
            warehouse=hs2.warehouse,
            grants="require",
            tls_ca=spark_thrift.ca_path,
        )
        with pytest.raises(BackendUnavailable, match="does not accept GRANT"):
            strict.grant_member(project, "alice", "data_owner")
    finally:
        hs2.drop_database(project)


@real_server
def test_real_concurrent_creates_of_one_database_agree(hs2: HiveServer2Hive) -> None:
    project = new_project()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: hs2.create_database(project), range(4)))
    try:
        assert len({r.location for r in results}) == 1
    finally:
        hs2.drop_database(project)


@real_server
def test_real_unavailable_when_the_server_stops(tmp_path: Path) -> None:
    """A second, short-lived server: stopped under the backend, which then fails fast."""
    if os.environ.get("HOPS_SKIP_SECOND_SPARK"):
        pytest.skip("HOPS_SKIP_SECOND_SPARK is set")
    server = SparkThriftServer(tmp_path / "second").start()
    hive = HiveServer2Hive(
        server.host,
        server.port,
        warehouse=server.warehouse_uri,
        connect_timeout_s=60,  # a loaded CI machine: the first session can be slow
        query_timeout_s=120,
    )
    try:
        assert hive.create_database("proj_a").name == "proj_a"
    finally:
        server.stop()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        hive.describe("proj_a")
    assert time.monotonic() - started < BOUND_S
