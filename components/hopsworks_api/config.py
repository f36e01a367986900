"""One settings object for the service; every value can come from a `HOPS_*` variable.

The embedded defaults need no other server: SQLite and local files under the data dir.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hopsworks_api.pki.keys import KeyAlgorithm

GiB = 1024**3
EARLIER_EMBEDDED_NAMES = ("local", "none")
"""What the embedded backends were called in the settings before `embedded`."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOPS_", extra="ignore")

    data_dir: Path = Field(default=Path("~/.hops"), description="Root of embedded state.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/hops.db"
    )
    database_failover_hosts: list[str] = Field(
        default_factory=list,
        description="`host[:port]` of further MariaDB nodes (a Galera cluster): each new "
        "connection goes to the first node that answers, the URL's host first",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8181, ge=1, le=65535)

    access_token_ttl_seconds: int = Field(
        default=900, gt=0, description="Short: a stolen access token is useful briefly"
    )
    refresh_token_ttl_seconds: int = Field(
        default=7 * 24 * 3600, gt=0, description="Refresh tokens rotate on every use"
    )
    registration: Literal["open", "approval", "closed"] = Field(
        default="open",
        description="open: anyone may register; approval: new accounts wait for a platform "
        "admin (`hops admin approve`); closed: admins create accounts (`hops admin "
        "create-user`). The very first account is always an active admin",
    )
    login_account_max_failures: int = Field(
        default=5, ge=1, description="Failed logins of one account before back-off starts"
    )
    login_client_max_failures: int = Field(
        default=20, ge=1, description="Failed logins from one client address before back-off"
    )
    login_backoff_max_seconds: int = Field(
        default=900, ge=1, description="Back-off doubles per failure from 1 s up to this cap"
    )
    login_failure_window_seconds: int = Field(
        default=3600, ge=1, description="Failure counts are forgotten after this quiet period"
    )
    jwt_secret: str | None = Field(
        default=None, description="HS256 key; default: generated once, stored 0600 in data_dir"
    )

    audit_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the audit chain; default: generated once, stored 0600 in "
        "data_dir/audit.key. Every instance of a cluster must use the same key",
    )

    password_time_cost: int = Field(default=3, ge=1)
    password_memory_kib: int = Field(default=65536, ge=8)

    ca_passphrase: SecretStr | None = Field(
        default=None, description="Encrypts CA and user keys at rest; default: generated, 0600"
    )
    shared_ca_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("HOPS_CA_DIR", "shared_ca_dir"),
        description="The CA's directory, default data_dir/ca; instances on several hosts "
        "point this at one shared directory (NFSv4, with locking) and set one "
        "HOPS_CA_PASSPHRASE",
    )
    ca_key_algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256
    ca_organization: str = Field(default="Hopsworks", min_length=1, max_length=64)
    cert_validity_days: int = Field(default=365, ge=1, le=3650)
    tls_hostnames: list[str] = Field(
        default_factory=lambda: ["localhost"],
        description="DNS names in the service's own certificate for `hops serve --tls`",
    )

    # Backends: the embedded defaults need no server; the others name one (issue 4).
    # `embedded` was `local` (storage, hive, compute) and `none` (kafka, kubernetes) before
    # one name was chosen for all five; the old values are still accepted (`_embedded`).
    storage_backend: Literal["embedded", "webhdfs"] = "embedded"
    webhdfs_url: str | None = Field(default=None, description="e.g. https://nn1:9871")
    hdfs_superuser: str = "hdfs"
    hive_backend: Literal["embedded", "hiveserver2"] = "embedded"
    hive_host: str | None = Field(default=None, description="HiveServer2 / Spark Thrift Server")
    hive_port: int = Field(default=10000, ge=1, le=65535)
    hive_tls_ca: Path | None = Field(
        default=None,
        description="HiveServer2 speaks TLS: the CA chain (PEM) that verifies it; members' "
        "JDBC URLs then add ssl=true and their truststore",
    )
    hive_warehouse: str | None = Field(
        default=None, description="e.g. hdfs://nn:8020/apps/hive/warehouse"
    )
    kafka_backend: Literal["embedded", "cluster"] = "embedded"
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        default="PLAINTEXT", description="SSL: brokers with TLS listeners and client certificates"
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None, description="CA chain (PEM) the brokers' certificates verify against"
    )
    kafka_ssl_certificate_location: Path | None = Field(
        default=None, description="the service's client certificate (PEM), a Kafka super user"
    )
    kafka_ssl_key_location: Path | None = Field(default=None, description="its key (PEM)")
    compute_backend: Literal["embedded", "yarn"] = "embedded"
    yarn_url: str | None = Field(default=None, description="ResourceManager, e.g. http://rm:8088")
    yarn_user: str | None = Field(
        default=None,
        description="`user.name` sent to a ResourceManager with pseudo authentication; "
        "it must be a YARN admin (yarn.admin.acl)",
    )
    kubernetes_backend: Literal["embedded", "cluster"] = "embedded"
    kubernetes_url: str | None = None
    kubernetes_token_file: str | None = None
    backend_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="How long an idle client connection stays open (nginx's default); "
        "longer than clients idle between calls, so none races its close",
    )
    project_queue_capacity: float = Field(default=0, ge=0, le=100)
    project_queue_max_capacity: float = Field(default=100, ge=0, le=100)
    reconcile_interval_seconds: float = Field(
        default=300, ge=0, description="Periodic reconciliation in the service; 0 disables it"
    )
    journal_interval_seconds: float = Field(
        default=1,
        ge=0,
        description="How often the lease holder finishes journalled changes no request "
        "finished (a crash, a system that was down); 0 disables it",
    )
    project_serving_cpu: str = "4"
    project_serving_memory: str = "16Gi"
    project_container_vcores: int = Field(default=8, ge=1, description="largest container")
    project_container_memory_mb: int = Field(default=32768, ge=256)
    project_container_max_gpus: int = Field(
        default=8,
        ge=0,
        description="GPU ceiling of a container when a project's GPUs are unlimited",
    )
    default_project_gpus: int | None = Field(
        default=0, ge=0, description="GPUs a new project may use; null: unlimited"
    )
    gpu_credit_multiplier: float = Field(
        default=4.0, ge=0, le=1000, description="credits charged per GPU-second"
    )
    accounting_interval_seconds: float = Field(
        default=60, ge=0, description="Compute and Hive usage polling; 0 disables it"
    )
    lease_duration_seconds: float = Field(
        default=15,
        gt=0,
        le=3600,
        description="How long the instance running the periodic jobs holds their DB lease "
        "without renewing it; a peer takes over this long after it died",
    )
    lease_renew_seconds: float = Field(
        default=5,
        gt=0,
        description="How often the lease holder renews, and a standby instance tries to take "
        "it; less than the lease duration",
    )

    default_storage_bytes: int | None = Field(default=100 * GiB, ge=0)
    default_storage_files: int | None = Field(default=1_000_000, ge=0)
    max_json_body_bytes: int = Field(default=1024 * 1024, gt=0)
    upload_idle_timeout_seconds: float = Field(
        default=120,
        gt=0,
        le=86400,
        description="An upload that receives nothing for this long is answered 408 and its "
        "quota reservation released; reservations left by a crash are released after twice it",
    )
    upload_session_expiry_seconds: float = Field(
        default=86400,
        gt=0,
        le=30 * 86400,
        description="A resumable upload session that receives no chunk for this long is "
        "removed with its stored chunks and its quota reservation",
    )
    package_index_url: str | None = Field(
        default=None,
        description="Python package index environments are built from (pip --index-url); "
        "default: pip's own (PyPI). Ignored when HOPS_WHEELHOUSE is set",
    )
    wheelhouse: Path | None = Field(
        default=None,
        description="A directory of wheels: environments are built offline from it only "
        "(pip --no-index --find-links)",
    )
    default_python: Path | None = Field(
        default=None,
        description="Interpreter of every project's read-only `default` environment; "
        "default: the one the service runs on",
    )
    environment_build_timeout_seconds: float = Field(
        default=1800, gt=0, description="An environment build running longer fails"
    )
    environments_interval_seconds: float = Field(
        default=30,
        ge=0,
        description="How often builds interrupted by a restart are marked FAILED and the "
        "environments of deleted projects removed; 0 disables it",
    )
    scheduler_interval_seconds: float = Field(
        default=10,
        ge=0,
        description="How often the lease holder starts the scheduled jobs that are due; "
        "0 disables schedules",
    )
    sandbox_extra_endpoints: list[str] = Field(
        default_factory=list,
        description="host:port services a sandboxed run may reach besides this API, Kafka's "
        "bootstrap servers, HiveServer2 and WebHDFS (e.g. the Hive metastore, Kafka brokers "
        "advertised under other names); nothing else is reachable",
    )
    instance_heartbeat_seconds: float = Field(
        default=2,
        gt=0,
        le=600,
        description="How often an instance records that it lives and looks for stop requests "
        "and runs whose member, project or account is gone; once it missed three, its "
        "executions are failed (its runs died with it)",
    )
    notebook_idle_timeout_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="A notebook server with no activity for this long is stopped, unless its "
        "start asked for another timeout",
    )
    notebook_start_timeout_seconds: float = Field(
        default=120, gt=0, description="A notebook server not answering after this long FAILED"
    )
    notebook_check_seconds: float = Field(
        default=30,
        gt=0,
        description="How often the instance running a notebook server checks its activity, "
        "its member's membership and charges its usage",
    )
    model_server_python: Path | None = Field(
        default=None,
        description="Interpreter of the model servers (kserve, scikit-learn, joblib installed); "
        "default: the one `python -m hopsworks_api.servings.model_server_env` builds and "
        "caches per machine",
    )
    serving_start_timeout_seconds: float = Field(
        default=120, gt=0, description="A serving whose instances do not all answer by then FAILED"
    )
    serving_check_seconds: float = Field(
        default=10,
        gt=0,
        description="How often the instance running a serving charges its usage and checks "
        "that its member may still run work in the project (a deleted project's model "
        "servers stop within this)",
    )
    storage_dir: Path | None = Field(
        default=None,
        description="Where the embedded storage keeps the datasets; default data_dir/storage. "
        "With HOPS_JOB_RUNNER=spark, a file system every Spark host mounts at this same path",
    )
    job_runner: Literal["embedded", "spark", "yarn", "kubernetes"] = Field(
        default="embedded",
        description="Where jobs run: embedded (sandboxed processes here), spark (PySpark jobs "
        "on the Spark standalone master HOPS_SPARK_MASTER_URL, their drivers sandboxed here "
        "with this host's network; python jobs stay embedded), yarn (pyspark/spark jobs "
        "through spark-submit in YARN cluster mode, ResourceManager HOPS_YARN_URL; python "
        "jobs refused), kubernetes (a spark-operator SparkApplication or a batch/v1 Job in "
        "the project's namespace, API server HOPS_KUBERNETES_URL)",
    )
    yarn_rm_addresses: list[str] = Field(
        default_factory=list,
        description="The ResourceManagers' client RPC addresses host:port "
        "(yarn.resourcemanager.address; two or more: HA) for spark-submit; default: the "
        "host of HOPS_YARN_URL, port 8032",
    )
    hadoop_default_fs: str | None = Field(
        default=None,
        description="fs.defaultFS of jobs on YARN or Kubernetes (e.g. hdfs://nn:8020): their "
        "app files and datasets are read from <it>/Projects/<project>",
    )
    yarn_python: str = Field(
        default="python3",
        description="The Python of PySpark drivers and executors in YARN containers "
        "(spark.pyspark.python); it must exist on every NodeManager",
    )
    kubernetes_spark_image: str = Field(
        default="apache/spark:4.0.0-python3",
        description="Image of the driver and executors of a SparkApplication",
    )
    kubernetes_spark_version: str = Field(
        default="4.0.0", description="spec.sparkVersion of a SparkApplication"
    )
    kubernetes_spark_service_account: str = Field(
        default="spark",
        description="Service account of Spark drivers in every project namespace (it must "
        "be allowed to create executor pods there)",
    )
    kubernetes_python_image: str = Field(
        default="python:3.11-slim", description="Image of the batch/v1 Job of a python job"
    )
    kubernetes_datasets_claim: str = Field(
        default="hops-datasets",
        description="The PersistentVolumeClaim in every project namespace holding the "
        "project's datasets (a directory each): notebook servers mount it, servings read "
        "their model files from it",
    )
    kubernetes_kserve_crd_schema: Path | None = Field(
        default=None,
        description="KServe's InferenceService CRD as JSON Schema (the Kubernetes stack's "
        "stacks/kubernetes/hops_k8s/schemas/inferenceservice-v1beta1.json); with "
        "HOPS_JOB_RUNNER=kubernetes servings run as InferenceServices validated against it, "
        "and without it they are refused (503), never sent unvalidated",
    )
    kubernetes_model_server_image: str = Field(
        default="registry.example.org/hops/model-server:0.21",
        description="Image of the predictor of a python-framework serving on Kubernetes "
        "(scikit-learn servings use KServe's own sklearn runtime)",
    )
    kubernetes_notebook_image: str = Field(
        default="quay.io/jupyter/minimal-notebook:python-3.11",
        description="Image of a notebook server's Pod on Kubernetes (it runs "
        "`python -m jupyterlab` as an unprivileged user)",
    )
    kubernetes_platform_services: list[str] = Field(
        default_factory=list,
        description="`address-or-CIDR:port` (IP addresses, a NetworkPolicy names no hosts) of "
        "the platform's services a notebook server's Pod may reach (this API, HDFS, Kafka, "
        "Hive, ...); every other egress but the cluster DNS is denied",
    )
    spark_master_url: str | None = Field(
        default=None, description="The Spark standalone master, e.g. spark://master:7077"
    )
    spark_driver_host: str | None = Field(
        default=None,
        description="This host's address the executors connect back to (spark.driver.host)",
    )
    spark_driver_port: int = Field(
        default=7079, ge=1, le=65535, description="The drivers' first port (spark.driver.port)"
    )
    spark_block_manager_port: int = Field(
        default=7089,
        ge=1,
        le=65535,
        description="The drivers' first block manager port (spark.blockManager.port)",
    )
    spark_port_max_retries: int = Field(
        default=8,
        ge=0,
        description="Ports tried above each first port: concurrent drivers on this host",
    )
    spark_executor_python: str | None = Field(
        default=None,
        description="The Python of the executors on the workers (spark.pyspark.python); "
        "default: the job environment's own path",
    )
    spark_metastore_uri: str | None = Field(
        default=None,
        description="The Hive metastore of the drivers (thrift://host:9083); unset: Spark's "
        "own catalog",
    )
    spark_rpc_identity: str | None = Field(
        default=None,
        description="Spark RPC over TLS: where every Spark host keeps its PEM identity (key, "
        "certificate, chain), e.g. /etc/hops/pki/host-keystore.pem; a driver's sandbox shows "
        "the member's own there. Unset: plain RPC",
    )
    spark_rpc_truststore: str = Field(
        default="/etc/hops/spark/truststore.p12",
        description="Spark RPC over TLS: where every Spark host keeps the platform CA as a "
        "PKCS12 truststore without password; a driver's sandbox shows the member's chain there",
    )
    spark_metastore_tls: bool = Field(
        default=False,
        description="The metastore speaks TLS: drivers trust the platform CA with the "
        "member's own truststore",
    )
    log_json: bool = True

    @field_validator("data_dir", "shared_ca_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator(
        "storage_backend",
        "hive_backend",
        "kafka_backend",
        "compute_backend",
        "kubernetes_backend",
        mode="before",
    )
    @classmethod
    def _embedded(cls, value: object) -> object:
        return "embedded" if value in EARLIER_EMBEDDED_NAMES else value

    @field_validator("database_failover_hosts")
    @classmethod
    def _failover_hosts(cls, value: list[str]) -> list[str]:
        for entry in value:
            _host_port(entry, 3306)
        return value

    @property
    def database_failover_nodes(self) -> list[tuple[str, int]]:
        return [_host_port(entry, 3306) for entry in self.database_failover_hosts]

    @field_validator("kubernetes_platform_services")
    @classmethod
    def _platform_services(cls, value: list[str]) -> list[str]:
        for entry in value:
            _address_port(entry)
        return value

    @property
    def kubernetes_platform_endpoints(self) -> list[tuple[str, int]]:
        """`kubernetes_platform_services` as (address or CIDR, port) pairs."""
        return [_address_port(entry) for entry in self.kubernetes_platform_services]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hops.db'}"

    @model_validator(mode="after")
    def _backend_urls(self) -> Settings:
        needed = {
            "webhdfs_url": self.storage_backend == "webhdfs",
            "kafka_bootstrap_servers": self.kafka_backend == "cluster",
            "hive_host": self.hive_backend == "hiveserver2",
            "hive_warehouse": self.hive_backend == "hiveserver2",
            "yarn_url": self.compute_backend == "yarn" or self.job_runner == "yarn",
            "kubernetes_url": self.kubernetes_backend == "cluster"
            or self.job_runner == "kubernetes",
            "spark_master_url": self.job_runner == "spark",
            "spark_driver_host": self.job_runner == "spark",
            "hadoop_default_fs": self.job_runner in ("yarn", "kubernetes"),
        }
        missing = [
            f"HOPS_{key.upper()}"
            for key, wanted in needed.items()
            if wanted and not getattr(self, key)
        ]
        if missing:
            raise ValueError(f"the chosen backends need {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> Settings:
        if self.lease_renew_seconds >= self.lease_duration_seconds:
            raise ValueError(
                "HOPS_LEASE_RENEW_SECONDS must be less than HOPS_LEASE_DURATION_SECONDS"
            )
        return self

    @property
    def backends_dir(self) -> Path:
        return self.data_dir / "backends"

    @property
    def ca_dir(self) -> Path:
        return self.shared_ca_dir or self.data_dir / "ca"

    @property
    def storage_root(self) -> Path:
        return self.storage_dir or self.data_dir / "storage"


def _host_port(entry: str, default_port: int) -> tuple[str, int]:
    """`db2`, `db2:3306`, `10.0.0.7:3306` or `[fd00::7]:3306` (ValueError otherwise)."""
    text = entry.strip()
    host, colon, port = ("", "", "") if text.endswith("]") else text.rpartition(":")
    if not colon or "]" in port:
        host, port = text, str(default_port)
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"'{entry}' is not host or host:port")
    return host, int(port)


def _address_port(entry: str) -> tuple[str, int]:
    """`10.0.0.5:8020`, `10.0.0.0/24:9092` or `[fd00::5]:443`: an IP address or network and
    a TCP port (ValueError otherwise)."""
    address, _, port = entry.strip().rpartition(":")
    address = address.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_network(address, strict=False)
        number = int(port)
    except ValueError as exc:
        raise ValueError(f"'{entry}' is not address-or-CIDR:port") from exc
    if not 1 <= number <= 65535:
        raise ValueError(f"'{entry}': the port must be 1..65535")
    return address, number
