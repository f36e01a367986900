"""The stack configuration: parsing, every refusal naming its key, and Pulumi.yaml."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from hops_k8s import config as config_module
from hops_k8s.config import (
    CONFIG_NAMESPACE,
    KEYS,
    OPTIONAL_SECRET_KEYS,
    SECRET_KEYS,
    ConfigError,
    parse_config,
    read_config,
)
from hops_stack.pulumi_config import StackFile
from tests.stacks.kubernetes.conftest import STACK_DIR
from tests.stacks.kubernetes.support import SECRET_KEYS as TEST_SECRET_KEYS
from tests.stacks.kubernetes.support import Pki, make_pki


def test_defaults_and_required_values(raw: dict[str, str]) -> None:
    cfg = parse_config(raw, TEST_SECRET_KEYS)
    assert cfg.namespace == "hops"
    assert cfg.kubernetes_version == "1.30"
    assert cfg.kafka_replicas == 3
    assert cfg.api_replicas == 1
    assert cfg.gpu_node_selector == {"nvidia.com/gpu.present": "true"}
    assert cfg.api_egress_cidrs == ("0.0.0.0/0",)
    assert cfg.tls.common_name == "hops-metadata-db.hops.svc.cluster.local"
    assert len(cfg.kafka_cluster_id) == 22
    assert cfg.resources["kafka"].limits == {"cpu": "2", "memory": "4Gi"}
    assert "jwt-secret" not in repr(cfg)  # secrets never show in a repr or traceback


@pytest.mark.parametrize(
    "image",
    [
        "mariadb:11.4.5",
        "apache/kafka:3.9.1",
        "registry.example.org:5000/hops/api:0.1.0",
        "localhost/api:dev",
        "ghcr.io/hops/api@sha256:" + "a" * 64,
        "nvcr.io/nvidia/k8s-device-plugin:v0.18.0",
    ],
)
def test_image_references(raw: dict[str, str], image: str) -> None:
    assert parse_config({**raw, "apiImage": image}).api_image == image


def test_resource_overrides_merge_with_defaults(raw: dict[str, str]) -> None:
    raw["resources"] = json.dumps({"kafka": {"limits": {"memory": "8Gi"}}})
    cfg = parse_config(raw)
    assert cfg.resources["kafka"].limits == {"cpu": "2", "memory": "8Gi"}
    assert cfg.resources["kafka"].requests == {"cpu": "500m", "memory": "2Gi"}


BAD = [
    ("namespace", "Hops_Platform", "'Hops_Platform' is not a DNS-1123 label"),
    ("namespace", "a" * 64, "is not a DNS-1123 label"),
    ("apiReplicas", "0", "must be at least 1"),
    ("apiReplicas", "two", "'two' is not an integer"),
    ("apiReplicas", "2", "set apiStorageAccessMode to ReadWriteMany"),
    ("kafkaReplicas", "2", "a KRaft quorum needs an odd number"),
    ("dbStorageSize", "20GB", "'20GB' is not a Kubernetes quantity"),
    ("dbStorageSize", "0", "must be more than zero"),
    ("kafkaStorageSize", "lots", "is not a Kubernetes quantity"),
    ("apiImage", "Registry/Bad Image", "is not an image reference"),
    ("apiImage", "ghcr.io/hops/api", "names no tag or digest"),
    ("apiImage", "MyOrg/api:1.0", "is not an image reference"),
    ("kafkaImage", "apache/kafka:latest", "'latest' is not a pinned version"),
    ("gpuNodeSelector", "nvidia.com/gpu.present=true", "is not valid JSON"),
    ("gpuNodeSelector", '["nvidia.com/gpu.present"]', "must be a JSON object"),
    ("gpuNodeSelector", '{"nvidia.com/gpu.present": true}', "must be a string"),
    ("gpuNodeSelector", '{"bad key!": "true"}', "is not a label key"),
    ("gpuNodeSelector", "{}", "must name at least one node label"),
    ("kubernetesVersion", "1.99", "unknown Kubernetes version '1.99'"),
    ("kubernetesVersion", "v1.30.2", "is not a Kubernetes minor version"),
    ("apiServiceType", "Ingress", "is not one of ClusterIP, NodePort, LoadBalancer"),
    ("apiAllowedCidrs", '["10.0.0.1/8"]', "is not a CIDR"),
    ("apiAllowedCidrs", '"10.0.0.0/8"', "must be a JSON array"),
    ("apiHostnames", '["not a host"]', "is not a DNS name"),
    ("apiExtraEnv", '{"PATH": "/bin"}', "is not a HOPS_* setting"),
    ("apiExtraEnv", '{"HOPS_JWT_SECRET": "x"}', "is set by the stack"),
    ("resources", '{"kafka": {"limits": {"memory": "lots"}}}', "kafka.limits.memory"),
    ("resources", '{"kafka": {"requests": {"cpu": "4"}}}', "the cpu request 4 exceeds the limit 2"),
    ("resources", '{"zookeeper": {}}', "unknown component 'zookeeper'"),
    ("dbApiPassword", "short", "must be at least 12 characters"),
    ("jwtSecret", "x" * 31, "must be at least 32 characters"),
    ("auditKey", "x" * 31, "must be at least 32 characters"),
    ("kafkaClusterId", "not-an-id", "must be 22 characters of base64url"),
    ("sparkJobNamespace", "hops", "'hops' is already used by namespace"),
    ("kserveVersion", "0.20", "is not a version such as v0.20.0"),
    ("kserveDeploymentMode", "Serverless", "is not one of Standard, Knative"),
    ("hiveJdbcDriverUrl", "http://example.org/driver.jar", "is not an https:// URL of a .jar"),
    ("hiveJdbcDriverSha256", "abc", "is not a SHA-256"),
    ("hiveWarehouseDir", "/warehouse", "is not an hdfs/s3a/gs/abfss/file URI"),
    ("caChain", "not a certificate", "is not a PEM certificate"),
    (
        "tlsKey",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "is not an unencrypted PEM",
    ),
    ("caArchive", "not base64!", "is not base64"),
    ("caArchive", base64.b64encode(b"plain bytes").decode(), "is not a tar.gz archive"),
    ("clusterDomain", "Cluster Local", "is not a DNS name"),
    ("nonsenseKey", "1", "unknown key"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD, ids=[f"{k}={v[:20]}" for k, v, _ in BAD])
def test_a_bad_value_is_refused_naming_its_key(
    raw: dict[str, str], key: str, value: str, message: str
) -> None:
    raw[key] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert str(caught.value).startswith(f"{CONFIG_NAMESPACE}:{key}: ")
    assert message in str(caught.value)
    assert caught.value.key == key


@pytest.mark.parametrize("key", sorted(k.name for k in KEYS.values() if k.required))
def test_a_missing_required_key_is_named(raw: dict[str, str], key: str) -> None:
    del raw[key]
    with pytest.raises(ConfigError, match=f"^{CONFIG_NAMESPACE}:{key}: missing; set it with"):
        parse_config(raw)


def test_a_secret_set_in_plaintext_is_refused(raw: dict[str, str]) -> None:
    with pytest.raises(
        ConfigError, match=r"dbRootPassword: is a secret: set it with `pulumi config set --secret"
    ):
        parse_config(raw, secret_keys=TEST_SECRET_KEYS - {"dbRootPassword"})
    # The optional secrets too, when they are set.
    with pytest.raises(ConfigError, match="caArchive: is a secret"):
        parse_config(raw, secret_keys=TEST_SECRET_KEYS - {"caArchive"})


def test_the_service_certificate_must_cover_the_names_the_stack_uses(
    pki: Pki, raw: dict[str, str]
) -> None:
    raw["kafkaReplicas"] = "5"  # hops-kafka-3 and -4 are not in the certificate
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    message = str(caught.value)
    assert message.startswith(f"{CONFIG_NAMESPACE}:tlsCert: lacks the DNS names ")
    assert "hops-kafka-4.hops-kafka-headless.hops.svc.cluster.local" in message
    assert "hops ca host-cert hops-metadata-db.hops.svc.cluster.local --dns" in message


def test_the_key_must_match_the_certificate_and_the_chain_must_issue_it(
    tmp_path, pki: Pki, raw: dict[str, str]
) -> None:
    other = make_pki(tmp_path, ["hops-metadata-db.hops.svc.cluster.local"])
    with pytest.raises(ConfigError, match="tlsKey: does not belong to the certificate"):
        parse_config({**raw, "tlsKey": other.key})
    with pytest.raises(ConfigError, match="tlsCert: was not issued by a certificate of caChain"):
        parse_config({**raw, "caChain": other.chain, "caArchive": ""})
    with pytest.raises(ConfigError, match="caArchive: its root certificate is not in caChain"):
        parse_config({**raw, "caArchive": other.archive_b64})


def test_the_ca_archive_must_hold_a_ca_and_nothing_outside_it(raw: dict[str, str]) -> None:
    def archive(*members: tuple[str, bytes]) -> str:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return base64.b64encode(buffer.getvalue()).decode()

    with pytest.raises(
        ConfigError, match=r"caArchive: '\.\./etc/passwd' is not a plain file under ca/"
    ):
        parse_config({**raw, "caArchive": archive(("../etc/passwd", b"x"))})
    with pytest.raises(ConfigError, match="holds no CA made by `hops ca init`"):
        parse_config({**raw, "caArchive": archive(("ca/other", b"x"))})


def test_the_ca_archive_is_optional(raw: dict[str, str]) -> None:
    raw["caArchive"] = ""
    raw["caPassphrase"] = ""
    cfg = parse_config(raw)
    assert cfg.ca_archive is None and cfg.ca_passphrase is None


# -- Pulumi.yaml declares exactly the keys the program reads --------------------------------


def _pulumi_yaml() -> dict:
    return yaml.safe_load((STACK_DIR / "Pulumi.yaml").read_text())


def test_pulumi_yaml_is_the_project_the_brief_names() -> None:
    project = _pulumi_yaml()
    assert project["name"] == CONFIG_NAMESPACE == "hops-kubernetes"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }


def test_pulumi_yaml_follows_the_rules_the_pulumi_cli_enforces() -> None:
    """Declarations (type, default, secret) are allowed only for keys of the project's own
    namespace; a secret may have no plaintext default; an array names its items' type; a
    default has the declared type."""
    project = _pulumi_yaml()
    allowed = {"type", "description", "default", "secret", "items"}
    for name, entry in project["config"].items():
        assert ":" not in name or name.startswith(project["name"] + ":"), name
        assert set(entry) <= allowed, name
        assert entry["type"] in ("string", "integer", "boolean", "array"), name
        assert isinstance(entry["description"], str) and entry["description"], name
        if entry.get("secret"):
            assert "default" not in entry, name
        if entry["type"] == "array":
            assert entry["items"] == {"type": "string"}, name
        if "default" in entry:
            expected = {"string": str, "integer": int, "boolean": bool, "array": list}[
                entry["type"]
            ]
            assert type(entry["default"]) is expected, name


def test_optional_secrets_are_described_as_secrets() -> None:
    declared = _pulumi_yaml()["config"]
    for name in OPTIONAL_SECRET_KEYS:
        assert declared[name]["description"].startswith("Secret, optional:"), name
        assert declared[name]["default"] == "", name
    assert {k.name for k in KEYS.values() if k.secret} | OPTIONAL_SECRET_KEYS == SECRET_KEYS


def test_the_example_stack_parses(pki: Pki) -> None:
    example = yaml.safe_load((STACK_DIR / "Pulumi.dev.yaml").read_text())["config"]
    prefix = f"{CONFIG_NAMESPACE}:"
    assert all(k.startswith(prefix) for k in example)
    raw = {k[len(prefix) :]: v if isinstance(v, str) else json.dumps(v) for k, v in example.items()}
    # The secrets and PEM files the example's comments set from the command line:
    from tests.stacks.kubernetes.support import base_config

    cfg = parse_config({**base_config(pki), **raw}, TEST_SECRET_KEYS)
    assert cfg.api_allowed_cidrs == ("10.0.0.0/8",)
    assert cfg.resources["kafka"].limits["memory"] == "6Gi"


# -- read_config: pulumi.Config for the values, the stack file for typos and secrecy ---------


class RecordingConfig:
    """Stands in for pulumi.Config(CONFIG_NAMESPACE): records which keys are asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: list[str] = []

    def get(self, key: str) -> str | None:
        self.asked.append(key)
        return self.values.get(key)


def _stack_file(tmp_path: Path, values: dict[str, object]) -> StackFile:
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(yaml.safe_dump({"config": values}))
    return StackFile.read(path, CONFIG_NAMESPACE)


def test_read_config_asks_pulumi_config_for_every_declared_key(raw: dict[str, str]) -> None:
    fake = RecordingConfig(raw)
    cfg = read_config(fake, StackFile())  # type: ignore[arg-type]
    assert fake.asked == list(KEYS)
    assert cfg.namespace == "hops"


def test_a_key_pulumi_yaml_does_not_declare_is_refused(raw: dict[str, str], tmp_path: Path) -> None:
    typo = _stack_file(tmp_path, {"hops-kubernetes:namespcae": "hops", "kubernetes:context": "x"})
    with pytest.raises(ConfigError, match="hops-kubernetes:namespcae: unknown key") as caught:
        read_config(RecordingConfig(raw), typo)  # type: ignore[arg-type]
    assert caught.value.key == "namespcae"


def test_an_optional_secret_the_stack_file_holds_in_plaintext_is_refused(
    raw: dict[str, str], tmp_path: Path
) -> None:
    raw["caArchive"] = "c2VjcmV0"
    plain = _stack_file(tmp_path, {"hops-kubernetes:caArchive": "c2VjcmV0"})
    with pytest.raises(ConfigError, match="caArchive: is a secret"):
        read_config(RecordingConfig(raw), plain)  # type: ignore[arg-type]
    encrypted = _stack_file(tmp_path, {"hops-kubernetes:caArchive": {"secure": "v1:abc"}})
    with pytest.raises(ConfigError, match=r"caArchive: is not a tar\.gz archive"):
        read_config(RecordingConfig(raw), encrypted)  # type: ignore[arg-type]


def test_the_program_reads_no_private_pulumi_state() -> None:
    source = (STACK_DIR / "hops_k8s" / "config.py").read_text()
    assert "pulumi.runtime" not in source and "runtime_config" not in source
    assert config_module.PROJECT.project == _pulumi_yaml()["name"]
