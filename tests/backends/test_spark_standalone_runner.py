"""The Spark standalone runner: what a PySpark run's driver is started with (spark-submit in
client mode against the master, the sandbox's extra options), that python runs go to the
embedded sandbox unchanged, and that a master that does not answer is a 503 before
anything starts. The submission to a real cluster is covered by the lab test
(tests/lab/test_site.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hopsworks_api.backends.registry import build_backends
from hopsworks_api.backends.runner import spark_standalone
from hopsworks_api.backends.runner.base import DatasetMount, JobApp, Outcome, RunHandle, RunSpec
from hopsworks_api.backends.runner.spark_standalone import SparkCluster, SparkStandaloneRunner
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.config import Settings
from hopsworks_api.errors import Unavailable

PYTHON = Path("/envs/default/bin/python")
CLUSTER = SparkCluster(
    master_url="spark://10.0.0.1:7077",
    driver_host="10.0.0.9",
    executor_python="/opt/hops/spark-venv/bin/python",
    metastore_uri="thrift://10.0.0.1:9083",
    warehouse="file:/shared/warehouse",
)


class RecordingSandbox:
    """Stands in for the embedded sandbox: records what it is asked to start; its runs end
    having used 1.5 s of CPU."""

    def __init__(self) -> None:
        self.started: list[RunSpec] = []

    def start(self, spec: RunSpec) -> RunHandle:
        self.started.append(spec)
        return RunHandle(run_id=spec.run_id, pid=1, run_dir=Path("/nowhere"))

    def wait(self, handle: RunHandle) -> Outcome:
        return Outcome(exit_code=0, cpu_seconds=1.5)

    def cleanup(self, handle: RunHandle) -> None:
        pass


def spec(kind: str = "pyspark", **app: object) -> RunSpec:
    return RunSpec(
        run_id="7",
        project="demo",
        identity="demo__ada",
        interpreter=PYTHON,
        argv=[str(PYTHON), "/hopsfs/Resources/jobs/a.py"],
        mounts=[
            DatasetMount("Resources", writable=True),
            DatasetMount("Logs", writable=False),
            DatasetMount("Data", writable=False, owner="other"),  # shared with the project
        ],
        app=JobApp(
            job="etl",
            type=kind,
            app_path="Resources/jobs/a.py",
            args=("--day", "1"),
            **app,  # type: ignore[arg-type]
        ),
    )


@pytest.fixture
def runner(tmp_path: Path) -> SparkStandaloneRunner:
    storage = EmbeddedStorage(tmp_path / "storage")
    for dataset in ("Resources", "Logs", "Data"):
        storage.dataset_path("demo", dataset).mkdir(parents=True)
    return SparkStandaloneRunner(tmp_path / "runs", storage, CLUSTER)


def conf(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--conf"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_a_pyspark_driver_is_submitted_to_the_master_in_client_mode(
    runner: SparkStandaloneRunner,
):
    argv = runner.submit_command(
        spec(memory_mb=2048, executors=3, executor_cores=2, executor_memory_mb=1536)
    )
    datasets = str(runner.storage.projects_dir / "demo")
    assert argv[:4] == [
        "/usr/bin/env",
        f"HOPS_DATASETS_DIR={datasets}",
        "SPARK_LOCAL_IP=10.0.0.9",
        "/envs/default/bin/spark-submit",
    ]
    assert argv[4:10] == [
        "--master",
        "spark://10.0.0.1:7077",
        "--deploy-mode",
        "client",
        "--driver-memory",
        "2048m",
    ]
    assert argv[-3:] == ["/hopsfs/Resources/jobs/a.py", "--day", "1"]
    assert conf(argv) == {
        "spark.app.name": "demo/etl/7",
        "spark.driver.host": "10.0.0.9",
        "spark.driver.bindAddress": "10.0.0.9",
        "spark.driver.port": "7079",
        "spark.blockManager.port": "7089",
        "spark.port.maxRetries": "8",
        "spark.executor.cores": "2",
        "spark.executor.memory": "1536m",
        "spark.cores.max": "6",
        "spark.pyspark.python": "/opt/hops/spark-venv/bin/python",
        "spark.pyspark.driver.python": str(PYTHON),
        "spark.executorEnv.HOPS_PROJECT": "demo",
        "spark.executorEnv.HOPS_USER": "demo__ada",
        "spark.executorEnv.HOPS_DATASETS_DIR": datasets,
        "spark.ui.enabled": "false",
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.hive.metastore.uris": "thrift://10.0.0.1:9083",
        "spark.sql.warehouse.dir": "file:/shared/warehouse",
    }


def test_a_spark_jar_job_names_its_main_class(runner: SparkStandaloneRunner):
    argv = runner.submit_command(spec("spark", main_class="org.example.Main"))
    assert argv[-5:] == ["--class", "org.example.Main", "/hopsfs/Resources/jobs/a.py", "--day", "1"]


def test_without_a_metastore_the_driver_uses_sparks_own_catalog(tmp_path: Path):
    bare = SparkCluster(master_url="spark://m:7077", driver_host="10.0.0.9")
    runner = SparkStandaloneRunner(tmp_path / "runs", EmbeddedStorage(tmp_path / "s"), bare)
    settings = conf(runner.submit_command(spec()))
    assert "spark.sql.catalogImplementation" not in settings
    assert "spark.sql.warehouse.dir" not in settings
    assert settings["spark.pyspark.python"] == str(PYTHON)  # the same path on the workers


def test_the_driver_has_the_hosts_network_its_datasets_where_executors_see_them_and_its_database(
    runner: SparkStandaloneRunner,
):
    """Another project's dataset shared with this one stays under /hopsfs (driver only)."""
    resources = str(runner.storage.dataset_path("demo", "Resources"))
    logs = str(runner.storage.dataset_path("demo", "Logs"))
    assert runner._driver_options(spec()) == [
        "--share-net",
        "--ro-bind-try",
        "/etc/hosts",
        "/etc/hosts",
        "--bind",
        resources,
        resources,
        "--ro-bind",
        logs,
        logs,
        "--bind-try",
        "/shared/warehouse/demo.db",
        "/shared/warehouse/demo.db",
    ]
    assert runner._driver_options(spec("python")) == []


def test_with_rpc_tls_the_driver_shows_the_members_identity_where_the_hosts_keep_theirs(
    tmp_path: Path,
):
    """Executors read the driver's RPC settings and open the same paths on their worker,
    where the worker's own identity and CA are; the driver's sandbox binds the member's
    (the run's credentials files) over those paths."""
    tls = SparkCluster(
        master_url="spark://10.0.0.1:7077",
        driver_host="10.0.0.9",
        rpc_identity="/etc/hops/pki/host-keystore.pem",
        rpc_truststore="/etc/hops/spark/truststore.p12",
    )
    runner = SparkStandaloneRunner(tmp_path / "runs", EmbeddedStorage(tmp_path / "s"), tls)
    settings = conf(runner.submit_command(spec()))
    assert {key: value for key, value in settings.items() if key.startswith("spark.ssl")} == {
        "spark.ssl.rpc.enabled": "true",
        "spark.ssl.rpc.openSslEnabled": "true",
        "spark.ssl.rpc.privateKey": "/etc/hops/pki/host-keystore.pem",
        "spark.ssl.rpc.certChain": "/etc/hops/pki/host-keystore.pem",
        "spark.ssl.rpc.trustStore": "/etc/hops/spark/truststore.p12",
        "spark.ssl.rpc.trustStoreType": "PKCS12",
    }
    credentials = tmp_path / "runs" / "7" / "credentials"
    assert runner._driver_options(spec())[-6:] == [
        "--ro-bind",
        str(credentials / "identity.pem"),
        "/etc/hops/pki/host-keystore.pem",
        "--ro-bind",
        str(credentials / "ca_chain.p12"),
        "/etc/hops/spark/truststore.p12",
    ]
    assert not any(
        key.startswith("spark.ssl")
        for key in conf(
            SparkStandaloneRunner(
                tmp_path / "r2", EmbeddedStorage(tmp_path / "s"), CLUSTER
            ).submit_command(spec())
        )
    )


def test_python_runs_go_to_the_sandbox_unchanged(runner: SparkStandaloneRunner):
    sandbox = RecordingSandbox()
    runner.sandbox = sandbox  # type: ignore[assignment]
    python = spec("python")
    runner.start(python)
    assert sandbox.started == [python]


def test_a_pyspark_run_starts_spark_submit_in_the_sandbox(tmp_path: Path):
    with socket.socket() as master:
        master.bind(("127.0.0.1", 0))
        master.listen()
        url = f"spark://127.0.0.1:{master.getsockname()[1]}"
        cluster = SparkCluster(master_url=url, driver_host="127.0.0.1")
        runner = SparkStandaloneRunner(tmp_path / "runs", EmbeddedStorage(tmp_path / "s"), cluster)
        sandbox = RecordingSandbox()
        runner.sandbox = sandbox  # type: ignore[assignment]
        runner.start(spec())
    [driver] = sandbox.started
    assert driver.argv == runner.submit_command(spec())
    assert driver.endpoints == ()


def test_a_run_is_charged_its_drivers_cpu_and_the_executor_cores_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    moments = iter([100.0, 110.0, 200.0, 230.0])
    monkeypatch.setattr(spark_standalone.time, "monotonic", lambda: next(moments))
    with socket.socket() as master:
        master.bind(("127.0.0.1", 0))
        master.listen()
        url = f"spark://127.0.0.1:{master.getsockname()[1]}"
        cluster = SparkCluster(master_url=url, driver_host="127.0.0.1")
        runner = SparkStandaloneRunner(tmp_path / "runs", EmbeddedStorage(tmp_path / "s"), cluster)
        runner.sandbox = RecordingSandbox()  # type: ignore[assignment]
        spark_run = runner.start(spec(executors=2, executor_cores=3))
        # 10 s holding 2 executors x 3 cores, on top of the driver's own 1.5 s
        assert runner.wait(spark_run).cpu_seconds == pytest.approx(61.5)
        runner.cleanup(spark_run)
        python_run = runner.start(spec("python"))
        assert runner.wait(python_run).cpu_seconds == pytest.approx(1.5)  # holds no executors


def test_a_master_that_does_not_answer_is_a_503_before_anything_starts(tmp_path: Path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens once closed
    cluster = SparkCluster(master_url=f"spark://127.0.0.1:{port}", driver_host="127.0.0.1")
    runner = SparkStandaloneRunner(tmp_path / "runs", EmbeddedStorage(tmp_path / "s"), cluster)
    sandbox = RecordingSandbox()
    runner.sandbox = sandbox  # type: ignore[assignment]
    with pytest.raises(Unavailable) as raised:
        runner.start(spec())
    assert raised.value.code == "spark_unavailable"
    assert sandbox.started == []


def test_the_settings_choose_the_spark_runner(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path,
        _env_file=None,  # type: ignore[call-arg]
        job_runner="spark",
        spark_master_url="spark://10.0.0.1:7077",
        spark_driver_host="10.0.0.9",
        storage_dir=tmp_path / "shared",
    )
    runner = build_backends(settings).runner
    assert isinstance(runner, SparkStandaloneRunner)
    assert runner.project_dir("demo") == tmp_path / "shared" / "Projects" / "demo"


def test_the_spark_runner_needs_a_master_and_the_drivers_address(tmp_path: Path):
    with pytest.raises(ValueError, match="HOPS_SPARK_MASTER_URL, HOPS_SPARK_DRIVER_HOST"):
        Settings(data_dir=tmp_path, _env_file=None, job_runner="spark")  # type: ignore[call-arg]
