"""The stack's configuration, typed and validated in one place, before any resource exists.

`parse_config` is a pure function from the raw strings Pulumi hands a program (config
values are strings; lists and objects are JSON) to a frozen `StackConfig`; `read_config` is
the thin reader of `pulumi.Config()`. Every problem raises `ConfigError` naming the key.

The keys, their types, defaults, descriptions and secrecy are Pulumi.yaml's `config:`
section, read by hops_stack.pulumi_config (`KEYS`). They live in the project's own namespace
(`hops-kubernetes:<key>`, set with plain `pulumi config set <key> ...`).
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import json
import re
import tarfile
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from hops_k8s import meta
from hops_platform.quantity import parse_quantity
from hops_stack.pulumi_config import ConfigKey, StackFile, load_project

if TYPE_CHECKING:
    import pulumi

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROJECT = load_project(PROJECT_DIR / "Pulumi.yaml")
CONFIG_NAMESPACE = PROJECT.project  # hops-kubernetes, see the module docstring
KEYS: Mapping[str, ConfigKey] = PROJECT.keys
"""Every key the program reads, as Pulumi.yaml declares it."""


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message starts with the full key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{CONFIG_NAMESPACE}:{key}: {message}")


# Secret keys with a default ("" = unset) cannot be declared `secret: true` in Pulumi.yaml
# (Pulumi refuses a plaintext default for a secret key); the program requires them secret.
OPTIONAL_SECRET_KEYS = frozenset({"caArchive", "caPassphrase"})
SECRET_KEYS = frozenset({k.name for k in KEYS.values() if k.secret} | OPTIONAL_SECRET_KEYS)

COMPONENTS = (
    "api",
    "metadataDb",
    "kafka",
    "hiveMetastore",
    "nvidiaDevicePlugin",
    "sparkOperator",
    "init",
)
DEFAULT_RESOURCES: Mapping[str, Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "api": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        "metadataDb": {
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        },
        "kafka": {
            "requests": {"cpu": "500m", "memory": "2Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        },
        "hiveMetastore": {
            "requests": {"cpu": "250m", "memory": "1536Mi"},
            "limits": {"cpu": "1", "memory": "2Gi"},
        },
        "nvidiaDevicePlugin": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "256Mi"},
        },
        "sparkOperator": {
            "requests": {"cpu": "100m", "memory": "300Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "init": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
    }
)

DNS_LABEL_RE = meta.DNS_LABEL_RE
LABEL_KEY_RE = meta.LABEL_KEY_RE
LABEL_VALUE_RE = meta.LABEL_VALUE_RE
DNS_NAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
# An image reference (distribution/reference grammar) with an explicit tag or digest.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    r"^(?:(?P<registry>(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)/)?"
    rf"(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
ENV_NAME_RE = re.compile(r"^HOPS_[A-Z0-9_]+$")
# Settings the stack owns: secrets (they go to the Secret) and what mounts and probes need.
API_RESERVED_ENV = frozenset(
    {
        "HOPS_DATABASE_URL",
        "HOPS_JWT_SECRET",
        "HOPS_AUDIT_KEY",
        "HOPS_CA_PASSPHRASE",
        "HOPS_DATA_DIR",
        "HOPS_HOST",
        "HOPS_PORT",
        "HOPS_TLS_HOSTNAMES",
    }
)
MIN_PASSWORD_LENGTH = 12
MIN_JWT_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Secret:
    """A secret string; its repr never shows the value (tracebacks, logs)."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclass(frozen=True)
class Resources:
    requests: Mapping[str, str]
    limits: Mapping[str, str]

    def manifest(self) -> dict[str, dict[str, str]]:
        return {"requests": dict(self.requests), "limits": dict(self.limits)}


@dataclass(frozen=True)
class ServiceCertificate:
    cert_pem: str
    key: Secret
    common_name: str
    dns_names: tuple[str, ...]


@dataclass(frozen=True)
class StackConfig:
    namespace: str
    kubernetes_version: str
    cluster_domain: str
    storage_class: str | None
    resources: Mapping[str, Resources]

    ca_chain: str
    tls: ServiceCertificate
    ca_archive: Secret | None
    ca_passphrase: Secret | None

    db_image: str
    db_storage_size: str
    db_root_password: Secret
    db_api_password: Secret
    db_hive_password: Secret

    kafka_image: str
    kafka_replicas: int
    kafka_storage_size: str
    kafka_cluster_id: str

    hive_image: str
    hive_jdbc_driver_url: str | None
    hive_jdbc_driver_sha256: str | None
    hive_init_image: str
    hive_warehouse_dir: str

    spark_operator_version: str
    spark_operator_namespace: str
    spark_job_namespace: str

    kserve_enabled: bool
    kserve_version: str
    kserve_namespace: str
    kserve_deployment_mode: str
    kserve_smoke_test: bool

    gpu_enabled: bool
    nvidia_device_plugin_image: str
    gpu_node_selector: Mapping[str, str]

    api_image: str
    api_replicas: int
    api_service_type: str
    api_allowed_cidrs: tuple[str, ...]
    api_egress_cidrs: tuple[str, ...]
    api_hostnames: tuple[str, ...]
    api_storage_size: str
    api_storage_access_mode: str
    api_kubernetes_backend: bool
    api_extra_env: Mapping[str, str]
    jwt_secret: Secret
    audit_key: Secret

    @property
    def smoke_namespace(self) -> str:
        return f"{self.namespace}-smoke"

    def tls_dns_names(self) -> list[str]:
        return meta.tls_dns_names(self.namespace, self.cluster_domain, self.kafka_replicas)


# -- the parser -----------------------------------------------------------------------------


class _Reader:
    """Raw values with defaults applied; every getter names its key in errors."""

    def __init__(self, raw: Mapping[str, str | None], secret_keys: Collection[str] | None):
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise ConfigError(unknown[0], "unknown key (not declared in Pulumi.yaml; a typo?)")
        self.raw = raw
        self.secret_keys = secret_keys

    def text(self, key: str) -> str:
        spec = KEYS[key]
        value = self.raw.get(key)
        if value is None:
            if spec.default is None:
                how = "pulumi config set --secret" if key in SECRET_KEYS else "pulumi config set"
                raise ConfigError(key, f"missing; set it with `{how} {key} ...`")
            value = spec.default
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, not {type(value).__name__}")
        return value

    def secret(self, key: str) -> Secret | None:
        value = self.text(key)
        if value == "":
            if KEYS[key].default is None:
                raise ConfigError(key, "must not be empty")
            return None
        if self.secret_keys is not None and key not in self.secret_keys and key in self.raw:
            raise ConfigError(
                key, f"is a secret: set it with `pulumi config set --secret {key} ...`"
            )
        return Secret(value)

    def required_secret(self, key: str) -> Secret:
        value = self.secret(key)
        assert value is not None  # required keys have no default
        return value

    def integer(self, key: str, minimum: int, maximum: int) -> int:
        text = self.text(key).strip()
        if not re.fullmatch(r"-?\d+", text):
            raise ConfigError(key, f"'{text}' is not an integer")
        value = int(text)
        if value < minimum:
            raise ConfigError(key, f"must be at least {minimum}")
        if value > maximum:
            raise ConfigError(key, f"must be at most {maximum}")
        return value

    def boolean(self, key: str) -> bool:
        text = self.text(key)
        if text in ("true", "True"):
            return True
        if text in ("false", "False"):
            return False
        raise ConfigError(key, f"'{text}' is not true or false")

    def json(self, key: str, kind: type) -> Any:
        text = self.text(key)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(key, f"is not valid JSON ({exc.msg} at {exc.pos})") from exc
        if not isinstance(value, kind):
            raise ConfigError(key, f"must be a JSON {'object' if kind is dict else 'array'}")
        return value

    def string_list(self, key: str) -> list[str]:
        items = self.json(key, list)
        if not all(isinstance(i, str) for i in items):
            raise ConfigError(key, "must be a JSON array of strings")
        return items

    def string_map(self, key: str) -> dict[str, str]:
        items = self.json(key, dict)
        bad = [k for k, v in items.items() if not isinstance(v, str)]
        if bad:
            raise ConfigError(key, f"the value of '{bad[0]}' must be a string")
        return items

    def dns_label(self, key: str) -> str:
        value = self.text(key)
        if len(value) > 63 or not DNS_LABEL_RE.fullmatch(value):
            raise ConfigError(key, f"'{value}' is not a DNS-1123 label")
        return value

    def image(self, key: str) -> str:
        return _image(key, self.text(key))

    def quantity(self, key: str) -> str:
        value = self.text(key)
        try:
            amount = parse_quantity(value)
        except ValueError as exc:
            raise ConfigError(key, str(exc)) from exc
        if amount <= 0:
            raise ConfigError(key, f"'{value}' must be more than zero")
        return value

    def choice(self, key: str, allowed: Collection[str]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise ConfigError(key, f"'{value}' is not one of {', '.join(allowed)}")
        return value


def _image(key: str, value: str) -> str:
    match = IMAGE_RE.fullmatch(value)
    registry = match.group("registry") if match else None
    # A first component without '.' or ':' (and not localhost) is a path, hence lowercase.
    is_host = registry and ("." in registry or ":" in registry or registry == "localhost")
    if registry and not is_host and not re.fullmatch(_PATH_COMPONENT, registry):
        match = None
    if not match:
        raise ConfigError(key, f"'{value}' is not an image reference")
    if not match.group("tag") and not match.group("digest"):
        raise ConfigError(key, f"'{value}' names no tag or digest; pin a version")
    if match.group("tag") == "latest" and not match.group("digest"):
        raise ConfigError(key, f"'{value}': 'latest' is not a pinned version")
    return value


def _kubernetes_version(key: str, value: str) -> str:
    import kubernetes_validate.utils as kv_utils

    if not re.fullmatch(r"1\.\d+", value):
        raise ConfigError(key, f"'{value}' is not a Kubernetes minor version such as 1.30")
    known = sorted(
        {kv_utils.major_minor(v) for v in kv_utils.all_versions()},
        key=lambda v: int(v.split(".")[1]),
    )
    if value not in known:
        raise ConfigError(
            key, f"unknown Kubernetes version '{value}' (schemas known: {known[0]}..{known[-1]})"
        )
    return value


def _cidrs(key: str, values: list[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value, strict=True)))
        except ValueError as exc:
            raise ConfigError(key, f"'{value}' is not a CIDR ({exc})") from exc
    return tuple(out)


def _resources(key: str, overrides: dict[str, Any]) -> Mapping[str, Resources]:
    unknown = sorted(set(overrides) - set(COMPONENTS))
    if unknown:
        raise ConfigError(key, f"unknown component '{unknown[0]}' (known: {', '.join(COMPONENTS)})")
    out = {}
    for component in COMPONENTS:
        override = overrides.get(component, {})
        if not isinstance(override, dict) or set(override) - {"requests", "limits"}:
            raise ConfigError(key, f"{component}: only 'requests' and 'limits' may be set")
        merged: dict[str, dict[str, str]] = {}
        for part in ("requests", "limits"):
            given = override.get(part, {})
            if not isinstance(given, dict):
                raise ConfigError(key, f"{component}.{part} must be an object")
            merged[part] = {**DEFAULT_RESOURCES[component][part], **given}
            for name, amount in merged[part].items():
                if name not in ("cpu", "memory", "ephemeral-storage"):
                    raise ConfigError(key, f"{component}.{part}: unknown resource '{name}'")
                if not isinstance(amount, str):
                    raise ConfigError(key, f"{component}.{part}.{name} must be a string")
                try:
                    parse_quantity(amount)
                except ValueError as exc:
                    raise ConfigError(key, f"{component}.{part}.{name}: {exc}") from exc
        for name, limit in merged["limits"].items():
            request = merged["requests"].get(name)
            if request is not None and parse_quantity(request) > parse_quantity(limit):
                raise ConfigError(
                    key, f"{component}: the {name} request {request} exceeds the limit {limit}"
                )
        for name in ("cpu", "memory"):
            if name not in merged["limits"]:
                raise ConfigError(key, f"{component}: a {name} limit is required")
        out[component] = Resources(
            MappingProxyType(merged["requests"]), MappingProxyType(merged["limits"])
        )
    return MappingProxyType(out)


def _node_selector(key: str, selector: dict[str, str]) -> Mapping[str, str]:
    if not selector:
        raise ConfigError(key, "must name at least one node label")
    for label, value in selector.items():
        match = LABEL_KEY_RE.fullmatch(label)
        if not match or len(match.group("prefix") or "") > 253:
            raise ConfigError(key, f"'{label}' is not a label key")
        if len(value) > 63 or not LABEL_VALUE_RE.fullmatch(value):
            raise ConfigError(key, f"'{value}' (of '{label}') is not a label value")
    return MappingProxyType(dict(selector))


def _pem_certificates(key: str, text: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError as exc:
        raise ConfigError(key, "is not a PEM certificate (chain)") from exc
    return certs


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _service_certificate(
    raw: _Reader, chain: list[x509.Certificate], required_names: list[str]
) -> ServiceCertificate:
    cert_pem = raw.text("tlsCert")
    cert = _pem_certificates("tlsCert", cert_pem)[0]
    key_secret = raw.required_secret("tlsKey")
    try:
        key = serialization.load_pem_private_key(key_secret.value.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "tlsKey", "is not an unencrypted PEM private key (MariaDB and Kafka read it as is)"
        ) from exc
    if not key_secret.value.lstrip().startswith("-----BEGIN PRIVATE KEY-----"):
        raise ConfigError("tlsKey", "must be PKCS#8 (BEGIN PRIVATE KEY), as Kafka requires")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != cert.public_key().public_bytes(
        encoding, public
    ):
        raise ConfigError("tlsKey", "does not belong to the certificate in tlsCert")
    if not any(_issued_by(cert, ca) for ca in chain):
        raise ConfigError("tlsCert", "was not issued by a certificate of caChain")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    missing = [n for n in required_names if n not in names]
    if missing:
        raise ConfigError(
            "tlsCert",
            f"lacks the DNS names {', '.join(missing)}; issue it with: hops ca host-cert "
            + " ".join([required_names[0], *(f"--dns {n}" for n in required_names[1:])])
            + " --out <dir>",
        )
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(common_names) != 1:
        raise ConfigError("tlsCert", "must have exactly one common name")
    return ServiceCertificate(
        cert_pem=cert_pem if cert_pem.endswith("\n") else cert_pem + "\n",
        key=key_secret,
        common_name=str(common_names[0].value),
        dns_names=tuple(names),
    )


def _ca_archive(raw: _Reader, chain: list[x509.Certificate]) -> Secret | None:
    archive = raw.secret("caArchive")
    if archive is None:
        return None
    try:
        data = base64.b64decode(archive.value, validate=True)
    except binascii.Error as exc:
        raise ConfigError("caArchive", "is not base64") from exc
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
            names = {m.name.rstrip("/") for m in members}
            for member in members:
                parts = member.name.split("/")
                if (
                    member.name.startswith("/")
                    or ".." in parts
                    or parts[0] != "ca"
                    or not (member.isfile() or member.isdir())
                ):
                    raise ConfigError("caArchive", f"'{member.name}' is not a plain file under ca/")
            if "ca/current" not in names or "ca/root/cert.pem" not in names:
                raise ConfigError(
                    "caArchive", "holds no CA made by `hops ca init` (ca/current, ca/root/cert.pem)"
                )
            root_file = tar.extractfile("ca/root/cert.pem")
            assert root_file is not None
            root = x509.load_pem_x509_certificate(root_file.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ConfigError("caArchive", f"is not a tar.gz archive ({exc})") from exc
    if root not in chain:
        raise ConfigError("caArchive", "its root certificate is not in caChain")
    return archive


def _kafka_cluster_id(raw: _Reader, namespace: str) -> str:
    value = raw.text("kafkaClusterId")
    if not value:
        derived = uuid.uuid5(uuid.NAMESPACE_URL, f"https://hops.io/{CONFIG_NAMESPACE}/{namespace}")
        return base64.urlsafe_b64encode(derived.bytes).decode().rstrip("=")
    try:
        decoded = base64.urlsafe_b64decode(value + "==")
    except binascii.Error:
        decoded = b""
    if len(value) != 22 or len(decoded) != 16:
        raise ConfigError(
            "kafkaClusterId", "must be 22 characters of base64url (kafka-storage.sh random-uuid)"
        )
    return value


def _password(raw: _Reader, key: str, minimum: int = MIN_PASSWORD_LENGTH) -> Secret:
    value = raw.required_secret(key)
    if len(value.value) < minimum:
        raise ConfigError(key, f"must be at least {minimum} characters")
    if not value.value.isprintable():
        raise ConfigError(key, "must contain printable characters only")
    return value


def _hostnames(key: str, names: list[str]) -> tuple[str, ...]:
    for name in names:
        if not DNS_NAME_RE.fullmatch(name) or "__" in name:
            raise ConfigError(key, f"'{name}' is not a DNS name")
    return tuple(names)


def _extra_env(key: str, env: dict[str, str]) -> Mapping[str, str]:
    for name in env:
        if not ENV_NAME_RE.fullmatch(name):
            raise ConfigError(key, f"'{name}' is not a HOPS_* setting")
        if name in API_RESERVED_ENV:
            raise ConfigError(key, f"'{name}' is set by the stack and cannot be overridden")
    return MappingProxyType(dict(env))


def parse_config(
    raw: Mapping[str, str | None], secret_keys: Collection[str] | None = None
) -> StackConfig:
    """Turn raw config strings into a `StackConfig`, or raise `ConfigError`.

    raw          key (without namespace) -> value; missing keys take their defaults.
    secret_keys  keys whose values were set as secrets; when given, a secret key set in
                 plaintext is refused. None: not checked.
    """
    r = _Reader(raw, secret_keys)
    namespace = r.dns_label("namespace")
    if len(namespace) > 57:  # `<namespace>-smoke` is a namespace too
        raise ConfigError("namespace", f"'{namespace}' is longer than 57 characters")
    cluster_domain = r.text("clusterDomain")
    if not DNS_NAME_RE.fullmatch(cluster_domain):
        raise ConfigError("clusterDomain", f"'{cluster_domain}' is not a DNS name")
    storage_class = r.text("storageClass")
    if storage_class and not DNS_NAME_RE.fullmatch(storage_class):
        raise ConfigError("storageClass", f"'{storage_class}' is not a valid name")
    kafka_replicas = r.integer("kafkaReplicas", 1, 9)
    if kafka_replicas % 2 == 0:
        raise ConfigError(
            "kafkaReplicas", f"{kafka_replicas} is even; a KRaft quorum needs an odd number"
        )

    chain_pem = r.text("caChain")
    chain = _pem_certificates("caChain", chain_pem)
    tls = _service_certificate(
        r, chain, meta.tls_dns_names(namespace, cluster_domain, kafka_replicas)
    )

    jdbc_url = r.text("hiveJdbcDriverUrl")
    if jdbc_url and not re.fullmatch(r"https://[^\s'\"]+\.jar", jdbc_url):
        raise ConfigError("hiveJdbcDriverUrl", f"'{jdbc_url}' is not an https:// URL of a .jar")
    jdbc_sha = r.text("hiveJdbcDriverSha256").lower()
    if jdbc_sha and not re.fullmatch(r"[0-9a-f]{64}", jdbc_sha):
        raise ConfigError("hiveJdbcDriverSha256", "is not a SHA-256 in hex")
    warehouse = r.text("hiveWarehouseDir")
    if not re.fullmatch(r"(hdfs|s3a|gs|abfss|file):[^\s<>&]+", warehouse):
        raise ConfigError("hiveWarehouseDir", f"'{warehouse}' is not an hdfs/s3a/gs/abfss/file URI")

    api_replicas = r.integer("apiReplicas", 1, 20)
    access_mode = r.choice("apiStorageAccessMode", ("ReadWriteOnce", "ReadWriteMany"))
    if api_replicas > 1 and access_mode != "ReadWriteMany":
        raise ConfigError(
            "apiReplicas",
            "more than one replica shares the state volume (CA, certificates): "
            "set apiStorageAccessMode to ReadWriteMany",
        )

    namespaces = {
        "namespace": namespace,
        "sparkOperatorNamespace": r.dns_label("sparkOperatorNamespace"),
        "sparkJobNamespace": r.dns_label("sparkJobNamespace"),
        "kserveNamespace": r.dns_label("kserveNamespace"),
    }
    seen: dict[str, str] = {
        "kube-system": "the cluster (kube-system)",
        f"{namespace}-smoke": "the KServe smoke test",
    }
    for key, value in namespaces.items():
        if value in seen:
            raise ConfigError(key, f"'{value}' is already used by {seen[value]}")
        seen[value] = key

    kserve_version = r.text("kserveVersion")
    if not re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?", kserve_version):
        raise ConfigError("kserveVersion", f"'{kserve_version}' is not a version such as v0.20.0")
    spark_version = r.text("sparkOperatorVersion")
    if not re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?", spark_version):
        raise ConfigError(
            "sparkOperatorVersion", f"'{spark_version}' is not a chart version such as 2.5.1"
        )

    return StackConfig(
        namespace=namespace,
        kubernetes_version=_kubernetes_version("kubernetesVersion", r.text("kubernetesVersion")),
        cluster_domain=cluster_domain,
        storage_class=storage_class or None,
        resources=_resources("resources", r.json("resources", dict)),
        ca_chain=chain_pem if chain_pem.endswith("\n") else chain_pem + "\n",
        tls=tls,
        ca_archive=_ca_archive(r, chain),
        ca_passphrase=r.secret("caPassphrase"),
        db_image=r.image("dbImage"),
        db_storage_size=r.quantity("dbStorageSize"),
        db_root_password=_password(r, "dbRootPassword"),
        db_api_password=_password(r, "dbApiPassword"),
        db_hive_password=_password(r, "dbHivePassword"),
        kafka_image=r.image("kafkaImage"),
        kafka_replicas=kafka_replicas,
        kafka_storage_size=r.quantity("kafkaStorageSize"),
        kafka_cluster_id=_kafka_cluster_id(r, namespace),
        hive_image=r.image("hiveImage"),
        hive_jdbc_driver_url=jdbc_url or None,
        hive_jdbc_driver_sha256=jdbc_sha or None,
        hive_init_image=r.image("hiveInitImage"),
        hive_warehouse_dir=warehouse,
        spark_operator_version=spark_version,
        spark_operator_namespace=namespaces["sparkOperatorNamespace"],
        spark_job_namespace=namespaces["sparkJobNamespace"],
        kserve_enabled=r.boolean("kserveEnabled"),
        kserve_version=kserve_version,
        kserve_namespace=namespaces["kserveNamespace"],
        kserve_deployment_mode=r.choice("kserveDeploymentMode", ("Standard", "Knative")),
        kserve_smoke_test=r.boolean("kserveSmokeTest"),
        gpu_enabled=r.boolean("gpuEnabled"),
        nvidia_device_plugin_image=r.image("nvidiaDevicePluginImage"),
        gpu_node_selector=_node_selector("gpuNodeSelector", r.string_map("gpuNodeSelector")),
        api_image=r.image("apiImage"),
        api_replicas=api_replicas,
        api_service_type=r.choice("apiServiceType", ("ClusterIP", "NodePort", "LoadBalancer")),
        api_allowed_cidrs=_cidrs("apiAllowedCidrs", r.string_list("apiAllowedCidrs")),
        api_egress_cidrs=_cidrs("apiEgressCidrs", r.string_list("apiEgressCidrs")),
        api_hostnames=_hostnames("apiHostnames", r.string_list("apiHostnames")),
        api_storage_size=r.quantity("apiStorageSize"),
        api_storage_access_mode=access_mode,
        api_kubernetes_backend=r.boolean("apiKubernetesBackend"),
        api_extra_env=_extra_env("apiExtraEnv", r.string_map("apiExtraEnv")),
        jwt_secret=_password(r, "jwtSecret", MIN_JWT_SECRET_LENGTH),
        audit_key=_password(r, "auditKey", MIN_JWT_SECRET_LENGTH),
    )


def read_config(
    config: pulumi.Config | None = None, stack_file: StackFile | None = None
) -> StackConfig:
    """Read this project's keys through `pulumi.Config` and parse them.

    The stack's settings file (Pulumi.<stack>.yaml) says what `pulumi.Config` cannot: keys
    of this namespace that Pulumi.yaml does not declare are refused (a typo would otherwise
    be silently ignored), and a secret key it holds in plaintext is refused. A key set
    elsewhere (an ESC environment) is taken as given."""
    if stack_file is None:
        stack_file = StackFile.of_running_stack(PROJECT_DIR, CONFIG_NAMESPACE)
    raw: dict[str, str | None] = {
        key: value for key, value in PROJECT.read(config).items() if value is not None
    }
    for extra in stack_file.undeclared(KEYS):
        raw[extra] = ""
    return parse_config(raw, secret_keys=set(KEYS) - stack_file.plaintext)
