"""Build every backend the settings choose; the embedded defaults need no server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hopsworks_api.backends.compute.base import ComputeBackend
from hopsworks_api.backends.compute.embedded import EmbeddedCompute
from hopsworks_api.backends.hive.base import HiveBackend
from hopsworks_api.backends.hive.embedded import EmbeddedHive
from hopsworks_api.backends.kafka.base import KafkaBackend
from hopsworks_api.backends.kafka.embedded import EmbeddedKafka
from hopsworks_api.backends.kubernetes.base import KubernetesBackend
from hopsworks_api.backends.kubernetes.embedded import EmbeddedKubernetes
from hopsworks_api.backends.runner.base import JobRunner
from hopsworks_api.backends.storage.base import StorageBackend
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.config import Settings

if TYPE_CHECKING:
    from hopsworks_api.backends.runner.kubernetes_servers import KubernetesServers


@dataclass
class Backends:
    storage: StorageBackend
    hive: HiveBackend
    kafka: KafkaBackend
    compute: ComputeBackend
    kubernetes: KubernetesBackend
    runner: JobRunner
    servers: KubernetesServers | None = None
    """Notebook servers and servings in the cluster (HOPS_JOB_RUNNER=kubernetes, on the
    runner's API connection); None: they run embedded."""


def build_backends(settings: Settings) -> Backends:
    """Cluster clients are imported only when chosen, so the embedded install stays light."""
    timeout = settings.backend_timeout_seconds
    state = settings.backends_dir
    storage: StorageBackend
    if settings.storage_backend == "webhdfs":
        from hopsworks_api.backends.storage.webhdfs import WebHdfsStorage

        assert settings.webhdfs_url is not None
        storage = WebHdfsStorage(
            settings.webhdfs_url, superuser=settings.hdfs_superuser, connect_timeout=timeout
        )
    else:
        storage = EmbeddedStorage(settings.storage_root)
    hive: HiveBackend
    if settings.hive_backend == "hiveserver2":
        from hopsworks_api.backends.hive.hiveserver2 import HiveServer2Hive

        assert settings.hive_host is not None and settings.hive_warehouse is not None
        hive = HiveServer2Hive(
            settings.hive_host,
            settings.hive_port,
            warehouse=settings.hive_warehouse,
            connect_timeout_s=timeout,
            tls_ca=settings.hive_tls_ca,
        )
    else:
        hive = EmbeddedHive(state / "hive-warehouse")
    kafka: KafkaBackend
    if settings.kafka_backend == "cluster":
        from hopsworks_api.backends.kafka.cluster import ClusterKafka

        assert settings.kafka_bootstrap_servers is not None
        tls = settings.kafka_security_protocol == "SSL"

        def tls_file(path: Path | None) -> str | None:
            return str(path) if tls and path is not None else None

        kafka = ClusterKafka(
            settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            ssl_ca_location=tls_file(settings.kafka_ssl_ca_location),
            ssl_certificate_location=tls_file(settings.kafka_ssl_certificate_location),
            ssl_key_location=tls_file(settings.kafka_ssl_key_location),
            request_timeout_s=timeout,
        )
    else:
        kafka = EmbeddedKafka(state / "kafka")
    compute: ComputeBackend
    if settings.compute_backend == "yarn":
        from hopsworks_api.backends.compute.yarn import YarnCompute

        assert settings.yarn_url is not None
        compute = YarnCompute(settings.yarn_url, user=settings.yarn_user, timeout=timeout)
    else:
        compute = EmbeddedCompute(state / "compute")
    kubernetes: KubernetesBackend
    if settings.kubernetes_backend == "cluster":
        from hopsworks_api.backends.kubernetes.cluster import ClusterKubernetes

        assert settings.kubernetes_url is not None
        kubernetes = ClusterKubernetes(
            settings.kubernetes_url, token_file=settings.kubernetes_token_file, timeout=timeout
        )
    else:
        kubernetes = EmbeddedKubernetes(state / "kubernetes")
    runner: JobRunner
    if settings.job_runner in ("yarn", "kubernetes"):
        runner = _cluster_runner(settings, storage)
    elif settings.job_runner == "spark" and isinstance(storage, EmbeddedStorage):
        from hopsworks_api.backends.runner.spark_standalone import (
            SparkCluster,
            SparkStandaloneRunner,
        )

        assert settings.spark_master_url is not None and settings.spark_driver_host is not None
        runner = SparkStandaloneRunner(
            state / "runs",
            storage,
            SparkCluster(
                master_url=settings.spark_master_url,
                driver_host=settings.spark_driver_host,
                driver_port=settings.spark_driver_port,
                block_manager_port=settings.spark_block_manager_port,
                port_max_retries=settings.spark_port_max_retries,
                executor_python=settings.spark_executor_python,
                metastore_uri=settings.spark_metastore_uri,
                rpc_identity=settings.spark_rpc_identity,
                rpc_truststore=settings.spark_rpc_truststore,
                warehouse=settings.hive_warehouse
                if settings.hive_backend == "hiveserver2"
                else None,
            ),
        )
    elif isinstance(storage, EmbeddedStorage):
        from hopsworks_api.backends.runner.embedded import EmbeddedRunner

        runner = EmbeddedRunner(state / "runs", storage)
    else:  # the embedded runner mounts datasets from local disk
        from hopsworks_api.backends.runner.unavailable import UnavailableRunner

        runner = UnavailableRunner(
            "jobs cannot run here yet: the embedded job runner needs the embedded storage "
            "(it mounts datasets from local disk), and this service uses WebHDFS"
        )
    return Backends(
        storage=storage,
        hive=hive,
        kafka=kafka,
        compute=compute,
        kubernetes=kubernetes,
        runner=runner,
        servers=_cluster_servers(settings, runner),
    )


def _cluster_servers(settings: Settings, runner: JobRunner) -> KubernetesServers | None:
    """One instance for notebooks and servings, sharing the job runner's connection."""
    if settings.job_runner != "kubernetes":
        return None
    from hopsworks_api.backends.runner.kubernetes import KubernetesRunner
    from hopsworks_api.backends.runner.kubernetes_servers import (
        INFERENCE_SERVICE,
        KubernetesServers,
    )

    assert isinstance(runner, KubernetesRunner)
    schema = settings.kubernetes_kserve_crd_schema
    return KubernetesServers(
        runner, crd_schemas={INFERENCE_SERVICE: schema} if schema is not None else {}
    )


def _cluster_runner(settings: Settings, storage: StorageBackend) -> JobRunner:
    """The YARN or Kubernetes job runner (docs/jobs-cluster.md): the ResourceManager and the
    API server are the compute and kubernetes backends' own settings."""
    timeout = settings.backend_timeout_seconds
    runs = settings.backends_dir / "runs"
    assert settings.hadoop_default_fs is not None
    if settings.job_runner == "yarn":
        from hopsworks_api.backends.runner.yarn import YarnRunner, parse_rm_addresses

        assert settings.yarn_url is not None
        return YarnRunner(
            runs,
            rm_url=settings.yarn_url,
            rm_addresses=parse_rm_addresses(settings.yarn_rm_addresses) or None,
            default_fs=settings.hadoop_default_fs,
            python=settings.yarn_python,
            timeout=timeout,
        )
    from hopsworks_api.backends.runner.kubernetes import KubernetesRunner

    assert settings.kubernetes_url is not None

    def read_app(project: str, dataset: str, path: tuple[str, ...]) -> bytes:
        return b"".join(storage.open_read(project, dataset, path))

    return KubernetesRunner(
        runs,
        api_url=settings.kubernetes_url,
        token_file=settings.kubernetes_token_file,
        default_fs=settings.hadoop_default_fs,
        read_app=read_app,
        timeout=timeout,
        spark_image=settings.kubernetes_spark_image,
        spark_version=settings.kubernetes_spark_version,
        spark_service_account=settings.kubernetes_spark_service_account,
        python_image=settings.kubernetes_python_image,
    )
