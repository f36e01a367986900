"""The hdfs, yarn, kafka, nvidia and kubernetes roles, rendered for the example inventory.

Their software cannot be downloaded on the test machine (environment.md), so these roles
are proven by what can be checked here: every template rendered with plain Jinja2 from
the role defaults resolved for each host (`hops_deploy.variables.host_variables`, the same
values Ansible computes) and parsed as what it claims to be (XML, Java properties, YAML,
TOML), with the properties the platform relies on; the role files themselves (no
Ansible-only construct in a template, every default documented). `ansible-lint` and check
mode cover the tasks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
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

ROLE_NAMES = ("hdfs", "yarn", "kafka", "nvidia", "kubernetes")
SHARED = "hops"  # the shared defaults every play loads first (hops_topology, paths, header)
EXAMPLE = load_inventory(REPO / "inventories" / "example")
SECRETS = {"hdfs_keystore_password": "test-password", "yarn_keystore_password": "test-password"}
HEADER = "Managed by hopsworks-iac; local changes are overwritten."

# The groups whose hosts run each role (nvidia: hosts with gpu: true).
ROLE_GROUPS = {
    "hdfs": ("namenodes", "datanodes"),
    "yarn": ("resourcemanagers", "nodemanagers"),
    "kafka": ("kafka",),
    "nvidia": ("nodemanagers", "kubernetes_workers", "kubernetes_control"),
    "kubernetes": ("kubernetes_control", "kubernetes_workers"),
}


def hosts_of(role: str, inventory: Inventory = EXAMPLE) -> list[str]:
    topology = inventory.topology()
    hosts: dict[str, None] = {}
    for group in ROLE_GROUPS[role]:
        for host in topology[group]:
            if role != "nvidia" or host["gpu"]:
                hosts.setdefault(host["name"], None)
    return list(hosts)


def variables(role: str, host: str, inventory: Inventory = EXAMPLE) -> dict[str, Any]:
    return host_variables(inventory, host, [SHARED, role], extra=SECRETS)


def templates(role: str) -> list[str]:
    return sorted(p.name for p in (ROLES / role / "templates").glob("*.j2"))


def rendered(role: str, host: str, inventory: Inventory = EXAMPLE) -> dict[str, str]:
    """Every template of `role` for `host`, by output file name (without `.j2`)."""
    values = variables(role, host, inventory)
    return {name.removesuffix(".j2"): render(role, name, values) for name in templates(role)}


def java_properties(text: str) -> dict[str, str]:
    """A small reader of the .properties format: comments, `key=value` / `key: value`,
    continuation lines; enough for the files these roles write."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        while line.endswith("\\"):
            line = line[:-1] + next(lines, "").strip()
        match = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        assert match, f"not a property: {raw!r}"
        key, value = match.groups()
        assert key not in found, f"{key} set twice"
        found[key] = value
    return found


def all_rendered(role: str) -> Iterator[tuple[str, str, str]]:
    for host in hosts_of(role):
        for name, text in rendered(role, host).items():
            yield host, name, text


# --- every role -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_rendered_file_starts_with_the_managed_header(role: str) -> None:
    assert hosts_of(role), "the example inventory has hosts for every role"
    for host, name, text in all_rendered(role):
        assert HEADER in text.splitlines()[0], f"{role}/{name} for {host}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_rendered_files_parse(role: str) -> None:
    for host, name, text in all_rendered(role):
        where = f"{role}/{name} for {host}"
        if name.endswith(".xml"):
            xml_properties(text)
        elif name.endswith(".properties"):
            java_properties(text)
        elif name.endswith(".toml"):
            tomllib.loads(text)
        elif name.endswith(".yaml"):
            assert all(doc for doc in yaml.safe_load_all(text)), where
        elif name.endswith(".service"):
            assert "\n[Service]\n" in text and "\nExecStart=" in text, where
        assert "{{" not in text and "{%" not in text, where


@pytest.mark.parametrize("host", EXAMPLE.hosts)
def test_defaults_resolve_with_plain_jinja_on_every_host(host: str) -> None:
    """The defaults of all five roles resolve for any host, member of their groups or not:
    they use only plain Jinja2 and tolerate groups the host is not in."""
    values = host_variables(EXAMPLE, host, [SHARED, *ROLE_NAMES], extra=SECRETS)
    for name, value in values.items():
        if isinstance(value, str):
            assert "{{" not in value and "{%" not in value, name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_layout(role: str) -> None:
    base = ROLES / role
    meta = yaml.safe_load((base / "meta" / "main.yml").read_text())
    assert meta["dependencies"] == []
    assert {"name": "Debian", "versions": ["bookworm"]} in meta["galaxy_info"]["platforms"]
    main = yaml.safe_load((base / "tasks" / "main.yml").read_text())
    assert all(set(task) & {"ansible.builtin.import_tasks"} for task in main)
    assert (base / "handlers" / "main.yml").exists()
    readme = (base / "README.md").read_text().lower()
    assert "rendered and check-mode only" in readme


# --- hdfs -----------------------------------------------------------------------------


def test_hdfs_points_every_host_at_the_first_namenode_over_https_with_acls() -> None:
    for host in hosts_of("hdfs"):
        files = rendered("hdfs", host)
        core = xml_properties(files["core-site.xml"])
        site = xml_properties(files["hdfs-site.xml"])
        assert core["fs.defaultFS"] == "hdfs://10.0.0.10:8020"
        assert site["dfs.namenode.rpc-address"] == "10.0.0.10:8020"
        assert site["dfs.namenode.https-address"] == "10.0.0.10:9871"
        assert site["dfs.http.policy"] == "HTTPS_ONLY"
        assert site["dfs.webhdfs.enabled"] == "true"
        assert site["dfs.namenode.acls.enabled"] == "true"
        assert site["dfs.permissions.enabled"] == "true"
        assert site["dfs.replication"] == "3"


def test_hdfs_datanodes_bind_to_their_own_address_and_are_the_workers() -> None:
    files = rendered("hdfs", "worker2")
    site = xml_properties(files["hdfs-site.xml"])
    assert site["dfs.datanode.address"] == "10.0.0.12:9866"
    assert site["dfs.datanode.https.address"] == "10.0.0.12:9865"
    workers = [line for line in files["workers"].splitlines() if not line.startswith("#")]
    assert workers == ["10.0.0.11", "10.0.0.12", "10.0.0.21"]


def test_hdfs_tls_uses_the_keystores_built_from_the_host_certificate() -> None:
    values = variables("hdfs", "head1")
    files = rendered("hdfs", "head1")
    server = xml_properties(files["ssl-server.xml"])
    client = xml_properties(files["ssl-client.xml"])
    assert server["ssl.server.keystore.type"] == "pkcs12"
    assert server["ssl.server.keystore.location"] == "/etc/hops/hdfs/keystore.p12"
    assert server["ssl.server.keystore.password"] == "test-password"
    assert server["ssl.server.truststore.location"] == client["ssl.client.truststore.location"]
    # the shared java_stores tasks build both from the platform's files (tested in
    # test_java_stores.py), with the role's paths and password
    keystore_tasks = (ROLES / "hdfs" / "tasks" / "keystore.yml").read_text()
    assert "tasks_from: java_stores" in keystore_tasks
    assert 'hops_java_stores_keystore: "{{ hdfs_keystore_path }}"' in keystore_tasks
    shared = (ROLES / "hops" / "tasks" / "java_stores.yml").read_text()
    for platform_path in ("hops_host_cert", "hops_host_key", "hops_ca_chain"):
        assert f"{{{{ {platform_path} | quote }}}}" in shared
    assert values["hops_host_cert"] == "/etc/hops/pki/host.pem"


def test_hdfs_replication_follows_the_number_of_datanodes(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {"a": {"ansible_host": "192.0.2.1"}, "b": None},
                    "children": {
                        "namenodes": {"hosts": {"a": None}},
                        "datanodes": {"hosts": {"a": None, "b": None}},
                    },
                }
            }
        )
    )
    small = load_inventory(tmp_path)
    site = xml_properties(rendered("hdfs", "b", small)["hdfs-site.xml"])
    assert site["dfs.replication"] == "2"
    core = xml_properties(rendered("hdfs", "b", small)["core-site.xml"])
    assert core["fs.defaultFS"] == "hdfs://192.0.2.1:8020"


def test_hdfs_units_run_the_namenode_and_datanode_in_the_foreground() -> None:
    files = rendered("hdfs", "head1")
    assert (
        "\nExecStart=/opt/hops/hadoop-3.4.1/bin/hdfs namenode\n" in files["hdfs-namenode.service"]
    )
    assert (
        "\nExecStart=/opt/hops/hadoop-3.4.1/bin/hdfs datanode\n" in files["hdfs-datanode.service"]
    )
    assert "\nUser=hops\n" in files["hdfs-namenode.service"]


# --- yarn -----------------------------------------------------------------------------


def test_yarn_every_host_uses_the_first_resourcemanager_over_https() -> None:
    for host in hosts_of("yarn"):
        site = xml_properties(rendered("yarn", host)["yarn-site.xml"])
        assert site["yarn.resourcemanager.hostname"] == "10.0.0.10"
        assert site["yarn.resourcemanager.address"] == "10.0.0.10:8032"
        assert site["yarn.resourcemanager.webapp.https.address"] == "10.0.0.10:8090"
        assert site["yarn.http.policy"] == "HTTPS_ONLY"
        assert site["yarn.acl.enable"] == "true"
        assert site["yarn.admin.acl"].split(" ")[0].split(",") == ["hops"]
        assert site["yarn.scheduler.configuration.store.class"] in ("zk", "fs", "leveldb")


def test_yarn_gpu_plugin_only_on_gpu_nodemanagers() -> None:
    gpu = xml_properties(rendered("yarn", "gpu1")["yarn-site.xml"])
    cpu = xml_properties(rendered("yarn", "worker1")["yarn-site.xml"])
    assert gpu["yarn.nodemanager.resource-plugins"] == "yarn.io/gpu"
    assert gpu["yarn.nodemanager.resource-plugins.gpu.allowed-gpu-devices"] == "auto"
    assert "yarn.nodemanager.resource-plugins" not in cpu
    assert not any(name.startswith("yarn.nodemanager.resource-plugins") for name in cpu)
    for site in (gpu, cpu):
        assert site["yarn.nodemanager.container-executor.class"].endswith("LinuxContainerExecutor")
    gpu_executor = rendered("yarn", "gpu1")["container-executor.cfg"]
    cpu_executor = rendered("yarn", "worker1")["container-executor.cfg"]
    assert "[gpu]\n  module.enabled=true" in gpu_executor
    assert "[gpu]" not in cpu_executor
    assert "yarn.nodemanager.linux-container-executor.group=hops" in cpu_executor


def test_yarn_declares_the_gpu_resource_type() -> None:
    types = xml_properties(rendered("yarn", "head1")["resource-types.xml"])
    assert types["yarn.resource-types"] == "yarn.io/gpu"


def test_yarn_capacity_scheduler_has_the_projects_layout_the_control_service_needs() -> None:
    conf = xml_properties(rendered("yarn", "head1")["capacity-scheduler.xml"])
    prefix = "yarn.scheduler.capacity.root"
    assert conf[f"{prefix}.queues"] == "default,projects"
    assert (
        float(conf[f"{prefix}.default.capacity"]) + float(conf[f"{prefix}.projects.capacity"])
        == 100
    )
    assert conf[f"{prefix}.projects.queues"] == "hops__unallocated"
    assert conf[f"{prefix}.projects.hops__unallocated.capacity"] == "100"
    assert conf[f"{prefix}.projects.hops__unallocated.acl_submit_applications"] == " "
    assert conf["yarn.scheduler.capacity.resource-calculator"].endswith(
        "DominantResourceCalculator"
    )


# --- kafka ----------------------------------------------------------------------------


def kafka_properties(host: str) -> dict[str, str]:
    return java_properties(rendered("kafka", host)["server.properties"])


def test_kafka_kraft_quorum_lists_every_broker_with_its_id() -> None:
    assert hosts_of("kafka") == ["worker1", "worker2"]
    for node_id, host, address in ((1, "worker1", "10.0.0.11"), (2, "worker2", "10.0.0.12")):
        props = kafka_properties(host)
        assert props["process.roles"] == "broker,controller"
        assert props["node.id"] == str(node_id)
        assert props["controller.quorum.voters"] == "1@10.0.0.11:9094,2@10.0.0.12:9094"
        assert props["listeners"] == f"SSL://{address}:9093,CONTROLLER://{address}:9094"
        assert props["advertised.listeners"] == f"SSL://{address}:9093"


def test_kafka_listeners_are_tls_with_client_certificates_and_pem_stores() -> None:
    values = variables("kafka", "worker1")
    props = kafka_properties("worker1")
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SSL"}
    assert props["inter.broker.listener.name"] == "SSL"
    assert props["ssl.client.auth"] == "required"
    assert props["ssl.keystore.type"] == "PEM"
    assert props["ssl.truststore.type"] == "PEM"
    assert (
        props["ssl.truststore.location"] == values["hops_ca_chain"] == "/etc/hops/pki/ca-chain.pem"
    )
    # Kafka's PEM keystore is one file (key, then chain): the ca role installs it.
    assert props["ssl.keystore.location"] == values["hops_host_keystore"]


def test_kafka_principals_are_the_certificate_cn_and_acls_decide() -> None:
    props = kafka_properties("worker2")
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["auto.create.topics.enable"] == "false"
    rules = props["ssl.principal.mapping.rules"]
    rule = re.fullmatch(r"RULE:(.+)/(\$1)/,DEFAULT", rules)
    assert rule, rules
    # Java renders a subject as RFC 2253, most specific RDN first.
    assert re.sub(rule.group(1), r"\1", "CN=demo__alice,O=demo") == "demo__alice"
    supers = props["super.users"].split(";")
    # The principals of certificates issued as the ca role issues them (`hops ca host-cert`
    # with the inventory name): the brokers and the control service's host are super users.
    principals = {
        "User:" + re.sub(rule.group(1), r"\1", subject)
        for subject in host_certificate_subjects(["head1", "worker1", "worker2"])
    }
    assert principals == {"User:head1", "User:worker1", "User:worker2"}
    assert principals <= set(supers)


def host_certificate_subjects(hosts: list[str]) -> list[str]:
    import tempfile

    from cryptography import x509
    from typer.testing import CliRunner

    from hopsworks_api.cli import app

    subjects = []
    with tempfile.TemporaryDirectory() as tmp:
        for host in hosts:
            out = Path(tmp) / host
            args = ["ca", "host-cert", host, "--out", str(out), "--data-dir", tmp]
            args += ["--dns", f"{host}.hops.example.org"]
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            cert = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
            subjects.append(cert.subject.rfc4514_string())  # most specific RDN first, as Java
    return subjects


# --- kubernetes and nvidia ------------------------------------------------------------


def test_kubeadm_config_uses_the_first_control_host_and_the_cidrs() -> None:
    values = variables("kubernetes", "head1")
    docs = list(yaml.safe_load_all(rendered("kubernetes", "head1")["kubeadm-config.yaml"]))
    kinds = {doc["kind"]: doc for doc in docs}
    assert set(kinds) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    cluster = kinds["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "10.0.0.10:6443"
    assert cluster["networking"]["podSubnet"] == values["kubernetes_pod_cidr"] == "10.244.0.0/16"
    assert cluster["networking"]["serviceSubnet"] == values["kubernetes_service_cidr"]
    assert cluster["kubernetesVersion"] == f"v{values['kubernetes_version']}"
    api_args = {arg["name"]: arg["value"] for arg in cluster["apiServer"]["extraArgs"]}
    assert api_args["client-ca-file"] == values["kubernetes_client_ca_bundle"]
    init = kinds["InitConfiguration"]
    assert init["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.10"
    # The only worker has GPUs (tainted), so the control plane must take ordinary pods.
    assert init["nodeRegistration"]["taints"] == []
    assert kinds["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_containerd_uses_the_nvidia_runtime_only_on_gpu_nodes() -> None:
    gpu = tomllib.loads(rendered("kubernetes", "gpu1")["containerd-config.toml"])
    cpu = tomllib.loads(rendered("kubernetes", "head1")["containerd-config.toml"])
    gpu_cri = gpu["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    cpu_cri = cpu["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert gpu_cri["default_runtime_name"] == "nvidia"
    assert gpu_cri["runtimes"]["nvidia"]["options"]["BinaryName"].endswith(
        "nvidia-container-runtime"
    )
    assert cpu_cri["default_runtime_name"] == "runc"
    assert "nvidia" not in cpu_cri["runtimes"]
    for cri in (gpu_cri, cpu_cri):
        assert cri["runtimes"]["runc"]["options"]["SystemdCgroup"] is True


def test_kubernetes_gpu_nodes_are_tainted_and_addons_are_checksummed() -> None:
    values = variables("kubernetes", "gpu1")
    assert values["kubernetes_is_gpu_node"] is True
    assert values["kubernetes_gpu_taint"] == "nvidia.com/gpu=present:NoSchedule"
    sources = rendered("kubernetes", "gpu1")["kubernetes.sources"]
    assert "\nURIs: https://pkgs.k8s.io/core:/stable:/v1.31/deb/\n" in sources
    assert values["kubernetes_kserve_manifest_url"].endswith(
        f"/v{values['kubernetes_kserve_version']}/kserve.yaml"
    )
    for name in values:
        if name.endswith("_manifest_url") or name.endswith("_resources_url"):
            checksum = name.removesuffix("_url") + "_checksum"
            assert values[checksum].startswith("sha256:"), checksum


def test_nvidia_runs_only_on_gpu_hosts_with_the_inventory_driver() -> None:
    assert hosts_of("nvidia") == ["gpu1"]
    gpu = variables("nvidia", "gpu1")
    assert gpu["nvidia_enabled"] is True
    assert gpu["nvidia_gpu_count"] == 4
    assert variables("nvidia", "worker1")["nvidia_enabled"] is False
    pins = rendered("nvidia", "gpu1")["nvidia-pins.pref"]
    assert "Pin: version 550.127.05-*" in pins
    runtime = tomllib.loads(rendered("nvidia", "gpu1")["config.toml"])
    assert runtime["nvidia-container-runtime"]["runtimes"] == ["runc"]
    sources = rendered("nvidia", "gpu1")["nvidia-cuda.sources"]
    assert "\nSigned-By: /etc/apt/keyrings/nvidia-cuda.asc\n" in sources


def test_control_service_reaches_the_tls_brokers_as_a_super_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = rendered("hopsworks_api", "head1")["hopsworks_api.env"]
    values = dict(
        line.split("=", 1) for line in env.splitlines() if line and not line.startswith("#")
    )
    values = {key: value.strip("'") for key, value in values.items()}
    assert values["HOPS_KAFKA_BACKEND"] == "cluster"
    assert values["HOPS_KAFKA_BOOTSTRAP_SERVERS"] == "10.0.0.11:9093,10.0.0.12:9093"
    assert values["HOPS_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert values["HOPS_KAFKA_SSL_CA_LOCATION"] == "/etc/hops/pki/ca-chain.pem"
    assert values["HOPS_KAFKA_SSL_CERTIFICATE_LOCATION"] == "/etc/hops/pki/host.pem"
    assert values["HOPS_KAFKA_SSL_KEY_LOCATION"] == "/etc/hops/pki/host.key"
    from hopsworks_api.config import Settings

    for key, value in values.items():  # as systemd's EnvironmentFile hands them over
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.kafka_security_protocol == "SSL"
    assert str(settings.kafka_ssl_key_location) == "/etc/hops/pki/host.key"
