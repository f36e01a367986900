"""The manifests the pure modules build: valid, and doing what the platform needs."""

from __future__ import annotations

import json
import posixpath
import re
from collections import Counter
from pathlib import Path

import pytest

from hops_k8s import meta
from hops_k8s.config import StackConfig, parse_config
from hops_k8s.objects import api, hive, kafka, metadata_db, network_policies, nvidia
from hops_k8s.program import plan
from hops_k8s.validation import ManifestError, validate_all, validate_manifest
from tests.stacks.kubernetes.support import Endpoint, connection_allowed, pod


@pytest.fixture
def cfg(raw: dict[str, str]) -> StackConfig:
    return parse_config(raw)


def by_name(manifests: list[dict], kind: str, name: str) -> dict:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


@pytest.mark.parametrize("version", ["1.25", "1.30", "1.37"])
def test_every_planned_object_is_valid_for_the_supported_versions(
    raw: dict[str, str], version: str
) -> None:
    cfg = parse_config({**raw, "kubernetesVersion": version, "kserveSmokeTest": "true"})
    counts = validate_all(plan(cfg).manifests(), cfg.kubernetes_version)
    assert counts == {f"kubernetes {version}": 41, "crd inferenceservice-v1beta1.json": 1}


def test_optional_parts_can_be_left_out(raw: dict[str, str]) -> None:
    cfg = parse_config(
        {
            **raw,
            "gpuEnabled": "false",
            "kserveEnabled": "false",
            "apiKubernetesBackend": "false",
            "caArchive": "",
            "hiveJdbcDriverUrl": "",
        }
    )
    p = plan(cfg)
    kinds = Counter(m["kind"] for m in p.manifests())
    assert (
        "DaemonSet" not in kinds and "ClusterRole" not in kinds and "InferenceService" not in kinds
    )
    assert p.kserve_releases == []
    validate_all(p.manifests(), cfg.kubernetes_version)
    metastore = by_name(p.hive, "Deployment", meta.HIVE_METASTORE)
    assert "initContainers" not in metastore["spec"]["template"]["spec"]


def test_a_typo_in_a_manifest_is_caught_by_the_strict_schema(cfg: StackConfig) -> None:
    deployment = api.deployment(cfg)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(
        ManifestError, match=r"Additional properties are not allowed \('readinesProbe'"
    ):
        validate_manifest(deployment, "1.30")
    with pytest.raises(ManifestError, match="no schema for Widget"):
        validate_manifest(
            {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w"}}, "1.30"
        )


def test_names_and_labels_are_consistent(cfg: StackConfig) -> None:
    for manifest in plan(cfg).manifests():
        labels = manifest["metadata"]["labels"]
        assert labels[meta.LABEL_PART_OF] == "hopsworks", manifest["metadata"]["name"]
        assert labels[meta.LABEL_MANAGED_BY] == "pulumi"
        assert labels[meta.LABEL_NAME]
        template = manifest.get("spec", {}).get("template")
        if template:
            selector = manifest["spec"]["selector"]["matchLabels"]
            assert selector == meta.selector(labels[meta.LABEL_NAME])
            assert selector.items() <= template["metadata"]["labels"].items()


# -- the control service ---------------------------------------------------------------------


def test_the_api_deployment(cfg: StackConfig) -> None:
    deployment = api.deployment(cfg)
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.org/hops/hopsworks-api:0.1.0"
    assert container["command"] == ["hops", "serve", "--tls"]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "hops-api-config"}},
        {"secretRef": {"name": "hops-api-secrets"}},
    ]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {
            "path": "/api/health",
            "port": "https",
            "scheme": "HTTPS",
        }
    assert container["ports"] == [{"name": "https", "containerPort": 8181, "protocol": "TCP"}]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {
        "data": "/var/lib/hops",
        "pki": "/etc/hops/pki",
        "tls": "/etc/hops/tls",
        "tmp": "/tmp",
    }
    assert all(m["readOnly"] for m in container["volumeMounts"] if m["name"] in {"pki", "tls"})
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["pki"]["secret"]["secretName"] == "hops-ca"
    assert volumes["tls"]["secret"]["secretName"] == "hops-tls"
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "hops-api-data"
    # One replica on a ReadWriteOnce volume: recreate, never two pods at once.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # The CA archive seeds the data directory before the service starts.
    (seed,) = spec["initContainers"]
    assert seed["image"] == container["image"]
    assert {m["name"] for m in seed["volumeMounts"]} == {"data", "ca-seed"}
    assert volumes["ca-seed"]["secret"] == {"secretName": "hops-api-ca-seed", "defaultMode": 0o400}


def test_the_api_settings_are_the_services_own(
    cfg: StackConfig, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """Every HOPS_* variable is a field of hopsworks_api's Settings, and the service accepts
    the whole environment (its validators included)."""
    from hopsworks_api.config import Settings

    plain, secret = api.settings_env(cfg), api.secret_env(cfg)
    assert not set(plain) & set(secret)
    env = {**plain, **secret, "HOPS_DATA_DIR": str(tmp_path)}
    fields = {f"HOPS_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.port == 8181 and settings.host == "0.0.0.0"
    # Kafka over TLS, as the service certificate (the brokers' super user).
    assert settings.kafka_backend == "cluster"
    assert settings.kafka_bootstrap_servers == "hops-kafka.hops.svc.cluster.local:9093"
    assert settings.kafka_security_protocol == "SSL"
    assert settings.kafka_ssl_ca_location == Path("/etc/hops/pki/ca.crt")
    assert settings.kafka_ssl_certificate_location == Path("/etc/hops/tls/tls.crt")
    assert settings.kafka_ssl_key_location == Path("/etc/hops/tls/tls.key")
    assert settings.kubernetes_backend == "cluster"
    assert settings.kubernetes_url == "https://kubernetes.default.svc"
    assert settings.tls_hostnames[-1] == "hops-api.hops.svc.cluster.local"
    assert settings.jwt_secret == cfg.jwt_secret.value
    assert settings.audit_key is not None
    assert settings.audit_key.get_secret_value() == cfg.audit_key.value
    assert settings.ca_passphrase.get_secret_value() == "ca-passphrase-1"
    # The DB URL: the API's account over TLS verified with the CA, password URL-quoted.
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    assert (url.drivername, url.username, url.host, url.port, url.database) == (
        "mysql+pymysql",
        "hopsworks",
        "hops-metadata-db.hops.svc.cluster.local",
        3306,
        "hopsworks",
    )
    assert url.password == cfg.db_api_password.value
    assert url.query["ssl_ca"] == "/etc/hops/pki/ca.crt"


def _api_env(manifests: list[dict]) -> dict[str, str]:
    return by_name(manifests, "ConfigMap", api.CONFIG)["data"]


def _mounted_file(manifests: list[dict], path: str) -> tuple[dict, dict, str, int]:
    """Where a file of the API container comes from, read from the manifests only:
    (the volume's mount, the Secret, the Secret's key, the file's declared mode)."""
    pod = by_name(manifests, "Deployment", meta.API)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    directory, filename = posixpath.split(path)
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    source = volume["secret"]
    secret = by_name(manifests, "Secret", source["secretName"])
    items = source.get("items") or [{"key": k, "path": k} for k in secret["stringData"]]
    (item,) = [i for i in items if i["path"] == filename]
    mode = item.get("mode", source.get("defaultMode", 0o644))
    return mount, secret, item["key"], mode


def _server_properties(manifests: list[dict]) -> dict[str, str]:
    text = by_name(manifests, "ConfigMap", kafka.CONFIG)["data"]["server.properties"]
    return dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )


def test_the_api_presents_the_kafka_super_users_certificate(cfg: StackConfig) -> None:
    """The certificate the API's Kafka client presents, followed from its setting through
    the mount to the Secret, maps (with the brokers' principal mapping rule) to the
    principal that `super.users` names; and its key is the certificate's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    manifests = plan(cfg).manifests()
    env = _api_env(manifests)
    assert env["HOPS_KAFKA_BACKEND"] == "cluster"
    assert env["HOPS_KAFKA_SECURITY_PROTOCOL"] == "SSL"

    mount, secret, key, _ = _mounted_file(manifests, env["HOPS_KAFKA_SSL_CERTIFICATE_LOCATION"])
    assert mount["readOnly"] is True
    assert secret["metadata"]["name"] == meta.TLS_SECRET
    leaf = x509.load_pem_x509_certificates(secret["stringData"][key].encode())[0]
    (cn,) = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)

    props = _server_properties(manifests)
    (super_user,) = props["super.users"].split(";")
    assert super_user == f"User:{cn.value}"
    # Kafka's principal: the first matching rule applied to the RFC 2253 subject.
    rule = re.fullmatch(
        r"RULE:(?P<pattern>.+)/(?P<replacement>.*)/,DEFAULT", props["ssl.principal.mapping.rules"]
    )
    assert rule is not None
    matched = re.fullmatch(rule["pattern"], leaf.subject.rfc4514_string())
    assert matched is not None
    principal = matched.expand(rule["replacement"].replace("$1", r"\1"))
    assert f"User:{principal}" == super_user

    _, key_secret, key_key, _ = _mounted_file(manifests, env["HOPS_KAFKA_SSL_KEY_LOCATION"])
    private_key = serialization.load_pem_private_key(
        key_secret["stringData"][key_key].encode(), password=None
    )
    assert private_key.public_key() == leaf.public_key()

    # The CA file is the chain the brokers' certificate verifies against (their truststore).
    _, ca_secret, ca_key, _ = _mounted_file(manifests, env["HOPS_KAFKA_SSL_CA_LOCATION"])
    assert ca_secret["stringData"][ca_key] == cfg.ca_chain
    assert env["HOPS_KAFKA_SSL_CA_LOCATION"] == props["ssl.truststore.location"]


def test_only_the_api_user_can_read_the_kafka_key(cfg: StackConfig) -> None:
    """The key is declared owner-only. Secret files belong to root; with the pod's fsGroup
    the kubelet makes a read-only volume's files readable by that group (mode | 0440, group
    fsGroup), and nothing more. So the reader is the pod's own group, whose only member is
    the service's user, and no other user can read the key."""
    manifests = plan(cfg).manifests()
    env = _api_env(manifests)
    mount, _, _, mode = _mounted_file(manifests, env["HOPS_KAFKA_SSL_KEY_LOCATION"])
    assert mode & 0o077 == 0, oct(mode)  # neither group- nor world-readable as declared

    pod = by_name(manifests, "Deployment", meta.API)["spec"]["template"]["spec"]
    context = pod["securityContext"]
    assert context["runAsUser"] == api.API_UID == 10001
    assert context["runAsGroup"] == context["fsGroup"] == api.API_UID
    assert "supplementalGroups" not in context
    for c in [*pod["containers"], *pod.get("initContainers", [])]:
        assert {"runAsUser", "runAsGroup"}.isdisjoint(c["securityContext"]), c["name"]

    effective = mode | 0o440  # the kubelet's change for fsGroup on a read-only volume
    assert effective & 0o007 == 0  # others: nothing
    assert effective & 0o040  # the group fsGroup, i.e. the service's own gid, reads it
    # The key reaches the service's container only, not the CA-seeding init container.
    seeders = pod.get("initContainers", [])
    assert seeders and all(m["name"] != mount["name"] for c in seeders for m in c["volumeMounts"])


def test_librdkafka_accepts_the_mounted_files(cfg: StackConfig, tmp_path: Path) -> None:
    """The files the pod sees (the Secrets' values at the settings' paths, under tmp_path)
    are accepted by the service's own Kafka client: librdkafka loads the CA, the
    certificate chain and the key, and checks that the key is the certificate's, when the
    client is created (no broker is contacted for that)."""
    pytest.importorskip("confluent_kafka")
    from hopsworks_api.backends.kafka.cluster import ClusterKafka

    manifests = plan(cfg).manifests()
    env = _api_env(manifests)
    paths = {}
    for setting in (
        "HOPS_KAFKA_SSL_CA_LOCATION",
        "HOPS_KAFKA_SSL_CERTIFICATE_LOCATION",
        "HOPS_KAFKA_SSL_KEY_LOCATION",
    ):
        _, secret, key, _ = _mounted_file(manifests, env[setting])
        local = tmp_path / env[setting].lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(secret["stringData"][key])
        paths[setting] = str(local)
    client = ClusterKafka(
        "127.0.0.1:1",
        security_protocol=env["HOPS_KAFKA_SECURITY_PROTOCOL"],
        ssl_ca_location=paths["HOPS_KAFKA_SSL_CA_LOCATION"],
        ssl_certificate_location=paths["HOPS_KAFKA_SSL_CERTIFICATE_LOCATION"],
        ssl_key_location=paths["HOPS_KAFKA_SSL_KEY_LOCATION"],
        request_timeout_s=1,
    )
    assert client.bootstrap_servers == "127.0.0.1:1"


def test_no_secret_lands_in_a_config_map(cfg: StackConfig) -> None:
    secrets = [
        cfg.db_root_password,
        cfg.db_api_password,
        cfg.db_hive_password,
        cfg.jwt_secret,
        cfg.tls.key,
    ]
    for manifest in plan(cfg).manifests():
        if manifest["kind"] == "Secret":
            continue
        text = json.dumps(manifest)
        for secret in secrets:
            assert secret.value not in text, manifest["metadata"]["name"]


def test_the_api_may_bind_the_project_roles_it_cannot_create(cfg: StackConfig) -> None:
    role = next(m for m in api.rbac(cfg) if m["metadata"]["name"] == "hops-api-hops")
    bind = [r for r in role["rules"] if r["verbs"] == ["bind"]]
    assert bind == [
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": ["hops-data-owner", "hops-data-scientist"],
        }
    ]
    assert not any(
        "clusterroles" in r["resources"] and "create" in r["verbs"] for r in role["rules"]
    )


# -- the data services --------------------------------------------------------------------------


def test_the_metadata_db_serves_tls_only_and_creates_the_accounts(cfg: StackConfig) -> None:
    assert "require_secure_transport = ON" in metadata_db.SERVER_CNF
    sql = metadata_db.init_sql(cfg)
    assert (
        "CREATE USER IF NOT EXISTS 'hopsworks'@'%' IDENTIFIED BY 'api-pa55w0rd:@/?#%' REQUIRE SSL;"
        in sql
    )
    # A quote and a backslash in a password are escaped, not SQL.
    assert metadata_db.sql_string(cfg.db_root_password.value) == r"'root-Pa55word-\'quoted\'\\x'"
    sts = metadata_db.stateful_set(cfg)
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    mounts = {
        m["name"]: m["mountPath"]
        for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert mounts["tls"] == "/etc/hops/tls" and mounts["init"] == "/docker-entrypoint-initdb.d"


def test_kafka_listens_on_tls_with_client_certificates(cfg: StackConfig) -> None:
    props = dict(
        line.split("=", 1)
        for line in kafka.server_properties(cfg).splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert props["listeners"] == "SSL://:9093,CONTROLLER://:9094"
    assert props["listener.security.protocol.map"] == "SSL:SSL,CONTROLLER:SSL"
    assert props["ssl.client.auth"] == "required"
    assert props["super.users"] == "User:hops-metadata-db.hops.svc.cluster.local"
    assert props["controller.quorum.voters"].count("@") == 3
    assert props["default.replication.factor"] == "3" and props["min.insync.replicas"] == "2"
    keystore = kafka.keystore_secret(cfg)["stringData"]["keystore.pem"]
    assert (
        keystore.startswith("-----BEGIN PRIVATE KEY-----")
        and keystore.count("BEGIN CERTIFICATE") == 3
    )
    sts = kafka.stateful_set(cfg)
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == "hops-kafka-headless"


def test_the_metastore_reads_its_password_from_a_secret(cfg: StackConfig) -> None:
    assert cfg.db_hive_password.value not in json.dumps(hive.config_map(cfg))
    container = hive.deployment(cfg)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["HIVE_DB_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "hops-hive-metastore-db", "key": "password"}
    }
    assert (
        env["SERVICE_OPTS"]["value"] == "-Djavax.jdo.option.ConnectionPassword=$(HIVE_DB_PASSWORD)"
    )
    names = [e["name"] for e in container["env"]]
    assert names.index("HIVE_DB_PASSWORD") < names.index(
        "SERVICE_OPTS"
    )  # $(...) expands earlier ones
    assert "sslMode=verify-full&amp;serverSslCert=/etc/hops/pki/ca.crt" in hive.hive_site(cfg)


# -- NVIDIA device plugin ------------------------------------------------------------------------


def test_the_device_plugin_runs_on_gpu_nodes_only_and_tolerates_their_taint(
    raw: dict[str, str],
) -> None:
    cfg = parse_config(
        {**raw, "gpuNodeSelector": '{"nvidia.com/gpu.present": "true", "pool": "gpu"}'}
    )
    (ds,) = nvidia.objects(cfg)
    spec = ds["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true", "pool": "gpu"}
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [
        {
            "matchExpressions": [
                {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]},
                {"key": "pool", "operator": "In", "values": ["gpu"]},
            ]
        }
    ]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert ds["metadata"]["namespace"] == "kube-system"
    assert spec["priorityClassName"] == "system-node-critical"
    container = spec["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec["volumes"][0]["hostPath"]["path"] == "/var/lib/kubelet/device-plugins"


# -- NetworkPolicies: default deny, then exactly the platform's flows -----------------------------

NS = "hops"
API = pod(NS, meta.API)
DB = pod(NS, meta.METADATA_DB)
KAFKA = pod(NS, meta.KAFKA)
HIVE = pod(NS, meta.HIVE_METASTORE)
OTHER = Endpoint(NS, {"app.kubernetes.io/name": "something-else"})
DRIVER = Endpoint("hops-spark", {"spark-role": "driver"})
EXECUTOR = Endpoint("hops-spark", {"spark-role": "executor"})
NOT_SPARK = Endpoint("hops-spark", {"app": "notebook"})
ELSEWHERE = Endpoint("default", {"spark-role": "driver"})
DNS = Endpoint("kube-system", {"k8s-app": "kube-dns"})
OUTSIDE_ALLOWED = Endpoint(None, ip="10.20.30.40")
OUTSIDE = Endpoint(None, ip="203.0.113.7")

FLOWS = [
    (API, DB, 3306, True),
    (HIVE, DB, 3306, True),
    (KAFKA, DB, 3306, False),
    (OTHER, DB, 3306, False),
    (DRIVER, DB, 3306, False),
    (API, DB, 22, False),
    (API, KAFKA, 9093, True),
    (DRIVER, KAFKA, 9093, True),
    (EXECUTOR, KAFKA, 9093, True),
    (NOT_SPARK, KAFKA, 9093, False),
    (ELSEWHERE, KAFKA, 9093, False),
    (HIVE, KAFKA, 9093, False),
    (KAFKA, KAFKA, 9094, True),
    (API, KAFKA, 9094, False),
    (API, HIVE, 9083, True),
    (EXECUTOR, HIVE, 9083, True),
    (OTHER, HIVE, 9083, False),
    (DB, HIVE, 9083, False),
    (OUTSIDE_ALLOWED, API, 8181, True),
    (OUTSIDE, API, 8181, False),
    (OUTSIDE_ALLOWED, API, 22, False),
    (OUTSIDE_ALLOWED, DB, 3306, False),
    (OTHER, API, 8181, False),
    (DB, OUTSIDE, 443, False),
    (KAFKA, OUTSIDE, 443, False),
    (API, OUTSIDE, 443, True),
    (HIVE, OUTSIDE, 443, True),
    (HIVE, OUTSIDE, 80, False),
]


@pytest.mark.parametrize(("src", "dst", "port", "allowed"), FLOWS)
def test_network_flows(
    raw: dict[str, str], src: Endpoint, dst: Endpoint, port: int, allowed: bool
) -> None:
    cfg = parse_config({**raw, "apiAllowedCidrs": '["10.0.0.0/8"]'})
    policies = network_policies.objects(cfg)
    assert connection_allowed(policies, src, dst, port) is allowed


@pytest.mark.parametrize("src", [API, DB, KAFKA, HIVE, OTHER])
def test_every_platform_pod_resolves_names(cfg: StackConfig, src: Endpoint) -> None:
    policies = network_policies.objects(cfg)
    assert connection_allowed(policies, src, DNS, 53, "UDP")
    assert connection_allowed(policies, src, DNS, 53, "TCP")
    if src is not API:  # the API may reach apiEgressCidrs (default 0.0.0.0/0) on any port
        assert not connection_allowed(
            policies, src, Endpoint("kube-system", {"k8s-app": "x"}), 53, "UDP"
        )


def test_the_api_reaches_every_kafka_broker_without_egress_cidrs(raw: dict[str, str]) -> None:
    """With no apiEgressCidrs (so no ipBlock can admit it), the API pods, labelled as the
    Deployment labels them, reach the bootstrap port and every broker pod as the
    StatefulSet labels it, on the port of the brokers' listener, and resolve names; not
    the controller port, nothing else in kube-system, nothing outside."""
    cfg = parse_config({**raw, "apiEgressCidrs": "[]"})
    manifests = plan(cfg).manifests()
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    api_pod = Endpoint(
        NS, by_name(manifests, "Deployment", meta.API)["spec"]["template"]["metadata"]["labels"]
    )
    sts = by_name(manifests, "StatefulSet", meta.KAFKA)
    brokers = [
        Endpoint(
            NS,
            {
                **sts["spec"]["template"]["metadata"]["labels"],
                "statefulset.kubernetes.io/pod-name": f"{meta.KAFKA}-{i}",
            },
            ip=f"10.244.0.{10 + i}",
        )
        for i in range(sts["spec"]["replicas"])
    ]
    bootstrap_port = int(_api_env(manifests)["HOPS_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    listener_port = int(_server_properties(manifests)["listeners"].split(",")[0].rsplit(":", 1)[1])
    assert bootstrap_port == listener_port == meta.KAFKA_PORT
    for broker in brokers:
        assert connection_allowed(policies, api_pod, broker, listener_port)
        assert not connection_allowed(policies, api_pod, broker, meta.KAFKA_CONTROLLER_PORT)
    assert connection_allowed(policies, api_pod, DNS, 53, "UDP")
    assert connection_allowed(policies, api_pod, DNS, 53, "TCP")
    assert not connection_allowed(policies, api_pod, Endpoint("kube-system", {"k8s-app": "x"}), 53)
    assert not connection_allowed(policies, api_pod, OUTSIDE, 443)


def test_without_allowed_cidrs_the_api_port_is_open_to_all_and_nothing_else_is(
    cfg: StackConfig,
) -> None:
    policies = network_policies.objects(cfg)
    assert connection_allowed(policies, OUTSIDE, API, 8181)
    assert not connection_allowed(policies, OUTSIDE, API, 8182)
    assert not connection_allowed(policies, OUTSIDE, KAFKA, 9093)


def test_the_default_deny_policy_selects_every_pod_both_ways(cfg: StackConfig) -> None:
    deny = network_policies.default_deny(cfg)
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert deny["metadata"]["namespace"] == "hops"
