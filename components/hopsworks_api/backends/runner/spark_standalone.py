"""PySpark (and Spark jar) jobs on a Spark standalone master, such as the one the `spark` role
deploys; every other run (python jobs) goes to the embedded sandbox unchanged.

A standalone master runs Python applications only in client mode, so the driver runs here.
It runs in the embedded sandbox (`EmbeddedRunner`, by composition) with three differences,
all added as extra bubblewrap options for Spark runs only:

- the host's network (`--share-net`): executors on the workers connect back to the driver
  (`spark.driver.host`, its port and its block manager's, fixed ranges a firewall can open);
- the project's own datasets also at their path on this host, which is the path every
  Spark host mounts the shared file system at (`HOPS_DATASETS_DIR` names it for the driver
  and the executors alike), next to the usual `/hopsfs/<dataset>`;
- the project's Hive database directory, writable, when the warehouse is a `file:` URI on
  that shared file system (Spark's driver creates a table's directory and commits the files
  the executors wrote).

The executors themselves run as the workers' user, outside any sandbox: the standalone
cluster has no per-project identity (YARN has: see docs/decisions.md).

With RPC over TLS (`rpc_identity`), the driver names the paths where every Spark host keeps
its PEM identity and CA truststore; its sandbox binds the member's own there (the run's
credentials files), and its executors, which read the driver's settings, open the same
paths on their worker and find the worker's. No password is involved: the identity is PEM
and the truststore has none.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from hopsworks_api.backends.hive.base import default_location, location_path
from hopsworks_api.backends.runner.base import (
    CREDENTIALS_IDENTITY,
    CREDENTIALS_TRUSTSTORE,
    Outcome,
    RunHandle,
    RunSpec,
    Stream,
)
from hopsworks_api.backends.runner.embedded import EmbeddedRunner
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.errors import Unavailable

SPARK_TYPES = ("pyspark", "spark")
MASTER_PROBE_TIMEOUT_S = 5.0


@dataclasses.dataclass(frozen=True)
class SparkCluster:
    """Where and how drivers reach the cluster (the HOPS_SPARK_* settings)."""

    master_url: str
    driver_host: str
    driver_port: int = 7079
    block_manager_port: int = 7089
    port_max_retries: int = 8
    executor_python: str | None = None
    """The workers' Python; None: the job environment's own path (same on every host)."""
    metastore_uri: str | None = None
    warehouse: str | None = None
    """The Hive warehouse URI (HOPS_HIVE_WAREHOUSE); a `file:` one is bound into drivers."""
    rpc_identity: str | None = None
    """RPC over TLS: the path of every Spark host's PEM identity; None: plain RPC."""
    rpc_truststore: str = "/etc/hops/spark/truststore.p12"
    """RPC over TLS: the path of every Spark host's truststore of the platform CA."""

    def rpc_conf(self) -> dict[str, str]:
        """Spark's RPC TLS settings: the same paths on the driver (its sandbox shows the
        member's identity and CA there) and on the workers, whose executors read them from
        the driver's configuration and find the worker's own identity at the same path."""
        if self.rpc_identity is None:
            return {}
        return {
            "spark.ssl.rpc.enabled": "true",
            "spark.ssl.rpc.openSslEnabled": "true",
            "spark.ssl.rpc.privateKey": self.rpc_identity,
            "spark.ssl.rpc.certChain": self.rpc_identity,
            "spark.ssl.rpc.trustStore": self.rpc_truststore,
            "spark.ssl.rpc.trustStoreType": "PKCS12",
        }

    def master_address(self) -> tuple[str, int]:
        parts = urlsplit(self.master_url)
        if parts.scheme != "spark" or not parts.hostname:
            raise ValueError(f"not a Spark standalone master URL: {self.master_url}")
        return parts.hostname, parts.port or 7077


def is_spark_run(spec: RunSpec) -> bool:
    return spec.app is not None and spec.app.type in SPARK_TYPES


class SparkStandaloneRunner:
    datasets_dir = EmbeddedRunner.datasets_dir
    credentials_dir = EmbeddedRunner.credentials_dir

    def __init__(self, runs_dir: Path, storage: EmbeddedStorage, cluster: SparkCluster) -> None:
        cluster.master_address()  # a bad URL fails at start-up, not at the first job
        self.cluster = cluster
        self.storage = storage
        self.sandbox = EmbeddedRunner(runs_dir, storage, extra_args=self._driver_options)
        self._allocated: dict[str, tuple[int, float]] = {}  # run id -> (cores, monotonic start)
        self._lock = threading.Lock()

    # --- what a driver sees --------------------------------------------------------------

    def project_dir(self, project: str) -> Path:
        """The project's datasets on this host: the same path on every Spark host."""
        return self.storage.projects_dir / project

    def database_dir(self, project: str) -> Path | None:
        warehouse = self.cluster.warehouse
        if not warehouse or not warehouse.startswith("file:"):
            return None
        return Path(location_path(default_location(warehouse, project)))

    def _driver_options(self, spec: RunSpec) -> list[str]:
        """bwrap options added to the sandbox of a Spark driver (none for other runs)."""
        if not is_spark_run(spec):
            return []
        options = ["--share-net", "--ro-bind-try", "/etc/hosts", "/etc/hosts"]
        for mount in spec.mounts:
            if mount.owner is not None:
                continue  # another project's dataset: shown to the driver under /hopsfs only
            host = self.storage.dataset_path(spec.project, mount.dataset)
            if host.is_dir():
                options += ["--bind" if mount.writable else "--ro-bind", str(host), str(host)]
        database = self.database_dir(spec.project)
        if database is not None:
            options += ["--bind-try", str(database), str(database)]
        if self.cluster.rpc_identity is not None:
            # the member's identity and CA where the Spark configuration names the host's
            for name, path in (
                (CREDENTIALS_IDENTITY, self.cluster.rpc_identity),
                (CREDENTIALS_TRUSTSTORE, self.cluster.rpc_truststore),
            ):
                options += ["--ro-bind", str(self.sandbox.credentials_file(spec, name)), path]
        return options

    def submit_command(self, spec: RunSpec) -> list[str]:
        """The driver's command: spark-submit of the job's environment, in client mode."""
        app = spec.app
        assert app is not None
        cluster = self.cluster
        datasets = str(self.project_dir(spec.project))
        executors = max(1, app.executors)
        conf = {
            "spark.app.name": f"{spec.project}/{app.job}/{spec.run_id}",
            "spark.driver.host": cluster.driver_host,
            "spark.driver.bindAddress": cluster.driver_host,
            "spark.driver.port": str(cluster.driver_port),
            "spark.blockManager.port": str(cluster.block_manager_port),
            "spark.port.maxRetries": str(cluster.port_max_retries),
            "spark.executor.cores": str(app.executor_cores),
            "spark.executor.memory": f"{app.executor_memory_mb}m",
            "spark.cores.max": str(executors * app.executor_cores),
            "spark.pyspark.python": cluster.executor_python or str(spec.interpreter),
            "spark.pyspark.driver.python": str(spec.interpreter),
            "spark.executorEnv.HOPS_PROJECT": spec.project,
            "spark.executorEnv.HOPS_USER": spec.identity,
            "spark.executorEnv.HOPS_DATASETS_DIR": datasets,
            "spark.ui.enabled": "false",
            **cluster.rpc_conf(),
        }
        if cluster.metastore_uri:
            conf["spark.sql.catalogImplementation"] = "hive"
            conf["spark.hadoop.hive.metastore.uris"] = cluster.metastore_uri
        if cluster.warehouse:
            conf["spark.sql.warehouse.dir"] = cluster.warehouse
        argv = [
            "/usr/bin/env",
            # the datasets where the executors find them too (the sandbox's own default is
            # /hopsfs), and the address Spark binds to
            f"HOPS_DATASETS_DIR={datasets}",
            f"SPARK_LOCAL_IP={cluster.driver_host}",
            str(spec.interpreter.parent / "spark-submit"),
            "--master",
            cluster.master_url,
            "--deploy-mode",
            "client",
            "--driver-memory",
            f"{app.memory_mb}m",
        ]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        if app.type == "spark" and app.main_class:
            argv += ["--class", app.main_class]
        return [*argv, f"{self.datasets_dir}/{app.app_path}", *app.args]

    # --- the runner contract -------------------------------------------------------------

    def check(self) -> None:
        self.sandbox.check()

    def _probe_master(self) -> None:
        host, port = self.cluster.master_address()
        try:
            socket.create_connection((host, port), timeout=MASTER_PROBE_TIMEOUT_S).close()
        except OSError as error:
            raise Unavailable(
                f"the Spark master {self.cluster.master_url} does not answer: {error}",
                code="spark_unavailable",
            ) from error

    def start(self, spec: RunSpec) -> RunHandle:
        cores = 0
        if is_spark_run(spec):
            assert spec.app is not None
            self._probe_master()
            # the driver has the host's network: no relays to platform services are needed
            spec = dataclasses.replace(spec, argv=self.submit_command(spec), endpoints=())
            cores = max(1, spec.app.executors) * spec.app.executor_cores
        handle = self.sandbox.start(spec)
        with self._lock:
            self._allocated[handle.run_id] = (cores, time.monotonic())
        return handle

    def _charged(self, handle: RunHandle, outcome: Outcome | None) -> Outcome | None:
        """The driver's measured CPU time plus the executors' allocated core-seconds: the
        cores the application may hold on the cluster (`spark.cores.max`) for as long as the
        driver ran. The workers' own CPU time is not reported back to the service (the
        master's JSON drops an application's cores once it ends), so what a project pays
        for is what it held, as on Kubernetes."""
        if outcome is None:
            return None
        with self._lock:
            cores, started = self._allocated.get(handle.run_id, (0, 0.0))
        held = cores * (time.monotonic() - started) if cores else 0.0
        return dataclasses.replace(outcome, cpu_seconds=outcome.cpu_seconds + held)

    def poll(self, handle: RunHandle) -> Outcome | None:
        return self._charged(handle, self.sandbox.poll(handle))

    def wait(self, handle: RunHandle) -> Outcome:
        outcome = self._charged(handle, self.sandbox.wait(handle))
        assert outcome is not None
        return outcome

    def kill(self, handle: RunHandle, grace_seconds: float = 3.0) -> None:
        # SIGTERM to spark-submit stops the SparkContext, which kills its executors
        self.sandbox.kill(handle, grace_seconds)

    def log_path(self, handle: RunHandle, stream: Stream) -> Path:
        return self.sandbox.log_path(handle, stream)

    def leftover(self, run_id: str) -> RunHandle | None:
        return self.sandbox.leftover(run_id)

    def cleanup(self, handle: RunHandle) -> None:
        with self._lock:
            self._allocated.pop(handle.run_id, None)
        self.sandbox.cleanup(handle)
