"""The spark and hive roles, rendered for the example inventory (and a one-host layout).

Every template is rendered with plain Jinja2 from the role defaults resolved for a host
(`hops_deploy.variables.host_variables`, the values Ansible computes) and parsed as what it
claims to be; the addresses, URLs and command lines the lab relies on are asserted. The
commands themselves (SchemaTool, the metastore, the Thrift Server, the standalone daemons)
were run on this machine; roles/hive/README.md and roles/spark/README.md record how.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from hops_deploy.render import render
from hops_deploy.topology import Inventory, load_inventory
from hops_deploy.variables import host_variables
from tests.deploy.support.formats import xml_properties

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"

ROLE_NAMES = ("spark", "hive")
# The shared defaults every play loads first (hops_topology, paths, header, hops_db_*).
SHARED = "hops" if (ROLES / "hops").is_dir() else "platform"
EXAMPLE = load_inventory(REPO / "inventories" / "example")
HEADER = "Managed by hopsworks-iac; local changes are overwritten."
SPARK_HOME = "/opt/hops/spark-venv/lib/python3.11/site-packages/pyspark"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"

# Templates contain the database password: their tasks must hide it.
SECRET_TEMPLATES = {
    "hive-site.xml.j2",
    "thriftserver-hive-site.xml.j2",  # HiveServer2's keystore password
    "schematool.properties.j2",
    "metastore-db.cnf.j2",
    "daemons.conf.j2",  # the keystore password
}
KEYSTORE_PASSWORD = {"hops_keystore_password": "test-keystore-pw"}

ONE_HOST = Inventory(
    groups={
        "all": ["solo"],
        "metadata_db": ["solo"],
        "hive": ["solo"],
        "spark": ["solo"],
    },
    host_vars={"solo": {"ansible_host": "10.213.7.11"}},
)


def variables(
    role: str,
    host: str,
    inventory: Inventory = EXAMPLE,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return host_variables(inventory, host, [SHARED, role], extra=extra)


def templates(role: str) -> list[str]:
    return sorted(p.name for p in (ROLES / role / "templates").glob("*.j2"))


def rendered(
    role: str,
    host: str,
    inventory: Inventory = EXAMPLE,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Every template of `role` for `host`, by file name without `.j2`."""
    values = variables(role, host, inventory, extra)
    return {name.removesuffix(".j2"): render(role, name, values) for name in templates(role)}


def role_hosts(role: str, inventory: Inventory = EXAMPLE) -> list[str]:
    topology = inventory.topology()
    if role == "hive":
        return [topology["hive"][0]["name"]]
    return [host["name"] for host in topology["spark"]]


def java_properties(text: str) -> dict[str, str]:
    """`key=value` lines (no continuation lines in these files), backslash escapes undone."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        assert match, f"not a property: {raw!r}"
        key, value = match.groups()
        assert key not in found, f"{key} set twice"
        found[key] = re.sub(r"\\(.)", r"\1", value)
    return found


def spark_conf(text: str) -> dict[str, str]:
    """spark-defaults.conf: `key<whitespace>value` lines."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        assert key not in found, f"{key} set twice"
        found[key] = value.strip()
    return found


def unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit: section -> key -> values (keys such as Environment repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a line outside a section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a unit setting: {raw!r}"
        current.setdefault(key, []).append(value)
    return sections


def exec_start(text: str) -> list[str]:
    (line,) = unit(text)["Service"]["ExecStart"]
    return shlex.split(line)


def environment(text: str) -> dict[str, str]:
    return dict(value.strip('"').split("=", 1) for value in unit(text)["Service"]["Environment"])


# --- both roles: files, layout, documentation ---------------------------------------------


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_rendered_file_starts_with_the_managed_header(role: str) -> None:
    for host in role_hosts(role):
        for name, text in rendered(role, host).items():
            first = text.splitlines()[1 if text.startswith("<?xml") else 0]
            assert HEADER in first, f"{role}/{name} for {host}"
            assert first.lstrip().startswith(("#", "<!--")), f"{role}/{name}: not a comment"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_rendered_files_parse(role: str) -> None:
    for host in role_hosts(role):
        for name, text in rendered(role, host).items():
            where = f"{role}/{name} for {host}"
            assert "{{" not in text and "{%" not in text, where
            if name.endswith(".xml"):
                xml_properties(text)
            elif name.endswith(".properties"):
                java_properties(text)
            elif name.endswith(".cnf"):
                configparser.ConfigParser(allow_no_value=True).read_string(text)
            elif name.endswith(".service"):
                sections = unit(text)
                assert {"Unit", "Service", "Install"} <= set(sections), where
                assert sections["Service"]["Type"] == ["simple"], where
            elif name.endswith(".conf"):
                spark_conf(text)


PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "path": str,
    "int": int,
    "bool": bool,
    "list": list,
    "dict": dict,
}


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("host", EXAMPLE.hosts)
def test_defaults_resolve_to_their_documented_types_on_every_host(role: str, host: str) -> None:
    """Plain Jinja2 resolves every default (also on hosts outside the role's groups) to the
    type argument_specs declares, so Ansible's argument validation agrees."""
    options = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"
    ]["main"]["options"]
    values = variables(role, host)
    for name, option in options.items():
        value = values[name]
        if isinstance(value, str):
            assert "{{" not in value and "{%" not in value, name
        expected = PYTHON_TYPES[option["type"]]
        assert isinstance(value, expected), f"{name}={value!r} is not {option['type']}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_layout(role: str) -> None:
    base = ROLES / role
    meta = yaml.safe_load((base / "meta" / "main.yml").read_text())
    assert meta["dependencies"] == []
    assert meta["galaxy_info"]["role_name"] == role
    assert {"name": "Debian", "versions": ["bookworm"]} in meta["galaxy_info"]["platforms"]
    main = yaml.safe_load((base / "tasks" / "main.yml").read_text())
    assert all(set(task) & {"ansible.builtin.import_tasks"} for task in main)
    for task in main:
        assert (base / "tasks" / task["ansible.builtin.import_tasks"]).is_file()
    assert (base / "README.md").is_file()


def _tasks(role: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((ROLES / role / "tasks").glob("*.yml")):
        found.extend(yaml.safe_load(path.read_text()) or [])
    return found


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_notification_has_a_handler_and_secrets_are_hidden(role: str) -> None:
    handlers = yaml.safe_load((ROLES / role / "handlers" / "main.yml").read_text())
    listening = {handler["listen"] for handler in handlers}
    assert all(re.fullmatch(rf"restart {role} [a-z0-9]+", name) for name in listening)
    used_templates = set()
    for task in _tasks(role):
        assert task["name"][0].isupper(), task["name"]
        assert all(key.startswith("ansible.builtin.") for key in task if "." in key), task
        notify = task.get("notify", [])
        for name in [notify] if isinstance(notify, str) else notify:
            assert name in listening, f"{task['name']} notifies {name!r}, which nobody hears"
        template = task.get("ansible.builtin.template")
        if template:
            used_templates.add(template["src"])
            assert {"owner", "group", "mode"} <= set(template), task["name"]
            if template["src"] in SECRET_TEMPLATES:
                assert task.get("no_log") is True, task["name"]
    assert used_templates == set(templates(role)), "a template is unused or missing"


# --- spark ---------------------------------------------------------------------------------


def test_spark_roles_in_the_example_layout() -> None:
    roles = {
        host: tuple(
            name
            for name in ("master", "worker", "history_server")
            if variables("spark", host)[f"spark_is_{name}"]
        )
        for host in EXAMPLE.hosts
    }
    assert roles == {
        "head1": ("master", "history_server"),
        "worker1": ("worker",),
        "worker2": ("worker",),
        "gpu1": (),
    }


def test_a_single_spark_host_is_master_and_worker() -> None:
    values = variables("spark", "solo", ONE_HOST)
    assert values["spark_is_master"] and values["spark_is_worker"]
    assert values["spark_is_history_server"]
    files = rendered("spark", "solo", ONE_HOST)
    assert exec_start(files["spark-worker.service"])[-1] == "spark://10.213.7.11:7077"
    assert "spark-master.service" in unit(files["spark-worker.service"])["Unit"]["After"][0]


@pytest.mark.parametrize("host", ["head1", "worker1", "worker2"])
def test_spark_defaults_point_every_host_at_the_master_and_the_metastore(host: str) -> None:
    conf = spark_conf(rendered("spark", host)["spark-defaults.conf"])
    assert conf["spark.master"] == "spark://10.0.0.10:7077"
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://10.0.0.10:9083"
    assert conf["spark.eventLog.enabled"] == "true"
    assert conf["spark.eventLog.dir"] == "file:/srv/hops/spark/events"
    assert conf["spark.history.fs.logDirectory"] == conf["spark.eventLog.dir"]
    # No random ports: firewalls between hosts open these (and the ranges after them).
    assert conf["spark.driver.port"] == "7079"
    assert conf["spark.blockManager.port"] == "7089"
    assert conf["spark.port.maxRetries"] == "8"


def test_spark_without_a_hive_group_keeps_its_own_catalog() -> None:
    inventory = Inventory(groups={"all": ["s1"], "spark": ["s1"]})
    conf = spark_conf(rendered("spark", "s1", inventory)["spark-defaults.conf"])
    assert "spark.sql.catalogImplementation" not in conf
    assert "spark.hadoop.hive.metastore.uris" not in conf


def test_spark_env_binds_each_host_to_its_own_address() -> None:
    for host, address in (("head1", "10.0.0.10"), ("worker2", "10.0.0.12")):
        env = rendered("spark", host)["spark-env.sh"]
        assert f"\nSPARK_LOCAL_IP={address}\n" in env
        assert f"\nJAVA_HOME={JAVA_HOME}\n" in env
        assert "\nSPARK_DAEMON_MEMORY=512m\n" in env
        assert "\nSPARK_WORKER_PORT=7078\n" in env


DAEMON_CONF = "/etc/hops/spark/daemons.conf"


def test_spark_daemons_serve_their_uis_over_https_from_a_file_users_cannot_read() -> None:
    """The daemons' properties: the defaults every user reads, then the UIs' TLS with the
    keystore password; spark-defaults.conf itself carries no password, and the metastore
    is reached over TLS with the truststore."""
    head = rendered("spark", "head1", extra=KEYSTORE_PASSWORD)
    defaults = spark_conf(head["spark-defaults.conf"])
    daemons = spark_conf(head["daemons.conf"])
    assert {key: daemons[key] for key in defaults} == defaults
    assert daemons["spark.master.rest.enabled"] == "false"  # plain, unauthenticated
    for namespace in ("standalone", "historyServer"):
        assert daemons[f"spark.ssl.{namespace}.enabled"] == "true"
        assert daemons[f"spark.ssl.{namespace}.keyStore"] == "/etc/hops/spark/keystore.p12"
        assert daemons[f"spark.ssl.{namespace}.keyStorePassword"] == "test-keystore-pw"
    assert "test-keystore-pw" not in head["spark-defaults.conf"]
    assert defaults["spark.hadoop.hive.metastore.use.SSL"] == "true"
    truststore = defaults["spark.hadoop.hive.metastore.truststore.path"]
    assert truststore == "/etc/hops/spark/truststore.p12"
    # RPC over TLS with the host's PEM identity (no password) and the same truststore
    assert defaults["spark.ssl.rpc.enabled"] == "true"
    assert defaults["spark.ssl.rpc.privateKey"] == "/etc/hops/pki/host-keystore.pem"
    assert defaults["spark.ssl.rpc.certChain"] == defaults["spark.ssl.rpc.privateKey"]
    assert defaults["spark.ssl.rpc.trustStore"] == truststore
    configure = (ROLES / "spark" / "tasks" / "configure.yml").read_text()
    assert 'dest: "{{ spark_daemon_conf }}"' in configure and 'mode: "0640"' in configure


def test_spark_units_exec_start() -> None:
    head = rendered("spark", "head1")
    assert exec_start(head["spark-master.service"]) == [
        f"{SPARK_HOME}/bin/spark-class",
        "org.apache.spark.deploy.master.Master",
        "--host",
        "10.0.0.10",
        "--port",
        "7077",
        "--webui-port",
        "8080",
        "--properties-file",
        DAEMON_CONF,
    ]
    assert exec_start(head["spark-history.service"]) == [
        f"{SPARK_HOME}/bin/spark-class",
        "org.apache.spark.deploy.history.HistoryServer",
        "--properties-file",
        DAEMON_CONF,
    ]
    worker = rendered("spark", "worker1")
    assert exec_start(worker["spark-worker.service"]) == [
        f"{SPARK_HOME}/bin/spark-class",
        "org.apache.spark.deploy.worker.Worker",
        "--host",
        "10.0.0.11",
        "--cores",
        "1",
        "--memory",
        "1g",
        "--webui-port",
        "8081",
        "--work-dir",
        "/srv/hops/spark/work",
        "--properties-file",
        DAEMON_CONF,
        "spark://10.0.0.10:7077",
    ]
    for name in ("spark-master.service", "spark-worker.service", "spark-history.service"):
        service = unit(worker[name])["Service"]
        assert service["User"] == ["hops"] and service["Group"] == ["hops"]
        env = environment(worker[name])
        assert env == {
            "SPARK_HOME": SPARK_HOME,
            "SPARK_CONF_DIR": "/etc/hops/spark",
            "JAVA_HOME": JAVA_HOME,
        }


# --- hive ----------------------------------------------------------------------------------


def test_hive_site_connects_the_metastore_to_mariadb_over_tls() -> None:
    site = xml_properties(rendered("hive", "head1")["hive-site.xml"])
    db_host = EXAMPLE.topology()["metadata_db"][0]["address"]
    assert db_host == "10.0.0.10"
    assert site["javax.jdo.option.ConnectionURL"] == (
        f"jdbc:mysql://{db_host}:3306/metastore?useMysqlMetadata=true"
        "&useSsl=true&serverSslCert=/etc/hops/pki/ca-chain.pem"
    )
    assert site["javax.jdo.option.ConnectionDriverName"] == "org.mariadb.jdbc.Driver"
    assert site["javax.jdo.option.ConnectionUserName"] == "hive"
    assert site["hive.metastore.schema.verification"] == "false"
    assert site["datanucleus.schema.autoCreateAll"] == "false"
    assert site["datanucleus.rdbms.mysql.characterSet"] == "latin1"
    assert site["hive.metastore.warehouse.dir"] == "file:/srv/hops/warehouse"
    assert site["hive.metastore.uris"] == "thrift://10.0.0.10:9083"
    assert site["hive.async.log.enabled"] == "false"


def test_the_metastore_serves_tls_and_the_thrift_server_trusts_the_platform_ca() -> None:
    files = rendered("hive", "head1", extra=KEYSTORE_PASSWORD)
    site = xml_properties(files["hive-site.xml"])
    assert site["hive.metastore.use.SSL"] == "true"
    assert site["hive.metastore.keystore.path"] == "/etc/hops/hive/keystore.p12"
    assert site["hive.metastore.keystore.password"] == "test-keystore-pw"
    client = xml_properties(files["thriftserver-hive-site.xml"])
    assert client["hive.metastore.use.SSL"] == "true"
    assert client["hive.metastore.truststore.path"] == "/etc/hops/hive/truststore.p12"
    # HiveServer2 serves TLS with the same keystore (so its file is the service user's only)
    assert client["hive.server2.use.SSL"] == "true"
    assert client["hive.server2.keystore.path"] == "/etc/hops/hive/keystore.p12"
    assert client["hive.server2.keystore.password"] == "test-keystore-pw"
    configure = (ROLES / "hive" / "tasks" / "configure.yml").read_text()
    block = configure[configure.index("src: thriftserver-hive-site.xml.j2") :].split("- name:")[0]
    assert 'mode: "0640"' in block and "no_log: true" in block
    # its local driver's RPC is TLS; clients' JDBC URL adds ssl and the truststore
    driver = spark_conf(files["thriftserver-defaults.conf"])
    assert driver["spark.ssl.rpc.enabled"] == "true"
    url = variables("hive", "head1")["hive_server2_jdbc_url"]
    assert url.endswith("/default;ssl=true;sslTrustStore=/etc/hops/hive/truststore.p12")


def test_hive_password_follows_the_metadata_db_role() -> None:
    shared = variables("hive", "head1")
    assert shared["hive_metastore_db_password"] == shared["hops_db_hive_password"]
    secret = "s3cr<et>&'\"\\x"
    files = rendered("hive", "head1", extra={"metadata_db_hive_password": secret})
    assert xml_properties(files["hive-site.xml"])["javax.jdo.option.ConnectionPassword"] == secret
    schematool = java_properties(files["schematool.properties"])
    assert schematool["javax.jdo.option.ConnectionPassword"] == secret
    thrift = xml_properties(files["thriftserver-hive-site.xml"])
    assert not any(name.startswith("javax.jdo") for name in thrift), "no secret for HiveServer2"


def test_hive_without_tls_to_the_database() -> None:
    files = rendered("hive", "head1", extra={"hive_metastore_db_tls": False})
    url = xml_properties(files["hive-site.xml"])["javax.jdo.option.ConnectionURL"]
    assert url == "jdbc:mysql://10.0.0.10:3306/metastore?useMysqlMetadata=true"
    client = configparser.ConfigParser(allow_no_value=True)
    client.read_string(files["metastore-db.cnf"])
    assert "ssl-ca" not in client["client"]


def test_schematool_settings_match_the_metastore() -> None:
    files = rendered("hive", "head1")
    site = xml_properties(files["hive-site.xml"])
    tool = java_properties(files["schematool.properties"])
    for name in ("ConnectionURL", "ConnectionDriverName", "ConnectionUserName"):
        assert tool[f"javax.jdo.option.{name}"] == site[f"javax.jdo.option.{name}"], name
    assert tool["datanucleus.identifierFactory"] == "datanucleus1"  # HiveConf's default
    assert tool["datanucleus.rdbms.useLegacyNativeValueStrategy"] == "true"
    assert tool["datanucleus.rdbms.mysql.characterSet"] == "latin1"


def test_schema_check_client_settings() -> None:
    client = configparser.ConfigParser(allow_no_value=True)
    client.read_string(rendered("hive", "head1")["metastore-db.cnf"])
    section = client["client"]
    assert (section["host"], section["port"], section["database"]) == (
        "10.0.0.10",
        "3306",
        "metastore",
    )
    assert section["user"] == "hive"
    assert section["ssl-ca"] == "/etc/hops/pki/ca-chain.pem"
    assert "ssl-verify-server-cert" in section


def test_thrift_server_configuration() -> None:
    files = rendered("hive", "head1")
    conf = spark_conf(files["thriftserver-defaults.conf"])
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert conf["spark.sql.warehouse.dir"] == "file:/srv/hops/warehouse"
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://10.0.0.10:9083"
    site = xml_properties(files["thriftserver-hive-site.xml"])
    assert site["hive.metastore.uris"] == "thrift://10.0.0.10:9083"
    assert site["hive.server2.thrift.bind.host"] == "10.0.0.10"
    assert site["hive.server2.thrift.port"] == "10000"
    assert int(site["hive.metastore.connect.retries"]) >= 12


def test_hive_units_exec_start() -> None:
    files = rendered("hive", "head1")
    assert exec_start(files["hive-metastore.service"]) == [
        f"{JAVA_HOME}/bin/java",
        "-Xmx512m",
        "-Dhive.log.dir=/var/log/hops/hive",
        "-Dhive.log.file=hive-metastore.log",
        "-cp",
        f"/etc/hops/hive:{SPARK_HOME}/jars/*:/usr/share/java/mariadb-java-client.jar",
        "org.apache.hadoop.hive.metastore.HiveMetaStore",
        "-p",
        "9083",
    ]
    assert environment(files["hive-metastore.service"])["HIVE_CONF_DIR"] == "/etc/hops/hive"
    assert exec_start(files["hive-server2.service"]) == [
        f"{SPARK_HOME}/bin/spark-submit",
        "--class",
        "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--name",
        "HiveServer2",
        "spark-internal",
        "--hiveconf",
        "hive.server2.thrift.bind.host=10.0.0.10",
        "--hiveconf",
        "hive.server2.thrift.port=10000",
    ]
    env = environment(files["hive-server2.service"])
    assert env["SPARK_CONF_DIR"] == "/etc/hops/hive/thriftserver"
    assert env["SPARK_HOME"] == SPARK_HOME
    server2 = unit(files["hive-server2.service"])
    assert "hive-metastore.service" in server2["Unit"]["After"][0]
    for name in ("hive-metastore.service", "hive-server2.service"):
        assert unit(files[name])["Service"]["User"] == ["hops"]


def test_only_the_first_hive_host_runs_the_services() -> None:
    assert variables("hive", "head1")["hive_is_server"] is True
    assert variables("hive", "worker1")["hive_is_server"] is False


@pytest.mark.parametrize(
    ("find_links", "expected"),
    [
        ("", ""),
        (
            "http://10.213.7.1:3180/",
            "--no-index --find-links http://10.213.7.1:3180/ --trusted-host 10.213.7.1",
        ),
        ("https://wheels.example.org/", "--no-index --find-links https://wheels.example.org/"),
    ],
)
def test_pip_installs_from_the_wheelhouse_when_one_is_set(find_links: str, expected: str) -> None:
    for role in ROLE_NAMES:
        values = variables(role, "head1", extra={"hops_pip_find_links": find_links})
        assert values[f"{role}_pip_extra_args"] == expected, role


def test_both_roles_install_the_same_pyspark_into_the_same_venv() -> None:
    spark = variables("spark", "head1")
    hive = variables("hive", "head1")
    assert spark["spark_pyspark_version"] == hive["hive_pyspark_version"]
    assert spark["spark_venv"] == hive["hive_spark_venv"]
    assert spark["spark_home"] == hive["hive_spark_home"] == SPARK_HOME


def test_readmes_record_the_proven_commands() -> None:
    hive = (ROLES / "hive" / "README.md").read_text()
    for needle in ("org.datanucleus.store.schema.SchemaTool", "HiveThriftServer2", "DBS"):
        assert needle in hive, needle
    assert "spark-class" in (ROLES / "spark" / "README.md").read_text()


def test_the_example_inventory_is_what_these_assertions_assume() -> None:
    topology = EXAMPLE.topology()
    assert [h["address"] for h in topology["spark"]] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert topology["hive"][0]["address"] == "10.0.0.10"
    assert Path(REPO / "inventories" / "example" / "hosts.yml").is_file()
