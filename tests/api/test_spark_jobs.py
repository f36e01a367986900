"""PySpark and Spark (jar) jobs run embedded: spark-submit --master local[N] in the bubblewrap
sandbox, with the client configurations materialised next to the run's credentials.

Spark costs about ten seconds a run on this machine, so both Spark runs start together once
per module (`spark_runs`, on SQLite: the database plays no part in how Spark runs, the
python-job tests of test_jobs.py cover both databases); the refusals run on both databases.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hopsworks_api.backends.runner.base import DatasetMount, RunHandle, RunSpec, Stream
from hopsworks_api.backends.runner.embedded import EmbeddedRunner
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.config import Settings
from hopsworks_api.main import create_app
from hopsworks_api.pki import client_configs as configs
from tests.api.test_environments import make_wheel, settled
from tests.api.test_jobs import J, run
from tests.support.api import Api
from tests.support.settings import test_settings

SPARK_DEADLINE_S = 180  # two JVMs starting on two busy cores

SALES = b"region,amount\nnorth,10\nsouth,5\nnorth,7\neast,1\nsouth,2\n"
AGGREGATE = b"""
import json, os
from pyspark.sql import SparkSession

d = os.environ["HOPS_DATASETS_DIR"]
spark = SparkSession.builder.appName("totals").getOrCreate()
spark.read.csv(f"{d}/Resources/data/sales.csv", header=True, inferSchema=True) \\
    .createOrReplaceTempView("sales")
totals = spark.sql(
    "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region"
)
totals.coalesce(1).write.mode("overwrite").option("header", True).csv(
    f"{d}/Resources/out/totals"
)
conf = spark.sparkContext.getConf()
print(json.dumps({
    "master": spark.sparkContext.master,
    "driver_memory": conf.get("spark.driver.memory"),
    "catalog": conf.get("spark.sql.catalogImplementation"),
    "ui": conf.get("spark.ui.enabled"),
    "configs": sorted(
        f for f in os.listdir(os.environ["HOPS_CREDENTIALS_DIR"]) if "." in f
    ),
}))
spark.stop()
"""
JAVA = """
package demo;

import org.apache.spark.sql.SparkSession;

public class Count {
    public static void main(String[] args) {
        SparkSession spark = SparkSession.builder().appName("count").getOrCreate();
        long n = spark.range(Long.parseLong(args[0])).count();
        System.out.println("counted " + n + " on " + spark.sparkContext().master());
        spark.stop();
    }
}
"""


def ended(api: Api, who: str, url: str) -> dict:
    deadline = time.monotonic() + SPARK_DEADLINE_S
    while time.monotonic() < deadline:
        body = api.call(who, "GET", url).json()
        if body["state"] in ("FINISHED", "FAILED", "KILLED"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not end within {SPARK_DEADLINE_S}s: {body}")


def spark_home() -> Path:
    found = importlib.util.find_spec("pyspark")
    assert found is not None and found.submodule_search_locations
    return Path(found.submodule_search_locations[0])


def build_jar(directory: Path) -> bytes:
    """`demo.Count`, compiled against the Spark the tests' environment has."""
    (directory / "demo").mkdir(parents=True)
    (directory / "demo" / "Count.java").write_text(JAVA)
    classes = directory / "classes"
    classpath = f"{spark_home() / 'jars'}/*"
    subprocess.run(
        ["javac", "-cp", classpath, "-d", str(classes), str(directory / "demo" / "Count.java")],
        check=True,
    )
    jar = directory / "count.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True)
    return jar.read_bytes()


@dataclass
class SparkRuns:
    api: Api
    totals: dict
    """The pyspark job's execution, as the API answers it."""
    totals_log: str
    count: dict
    """The jar job's execution."""
    count_log: str


@pytest.fixture(scope="module")
def spark_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkRuns]:
    """A pyspark job and a spark jar job started together, on their own app (SQLite)."""
    root = tmp_path_factory.mktemp("spark")
    jar = build_jar(root / "jar")
    settings = test_settings(root / "data", f"sqlite:///{root / 'hops.db'}")
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api.with_actors(client)
        for path, data in [
            ("data/sales.csv", SALES),
            ("jobs/totals.py", AGGREGATE),
            ("jobs/count.jar", jar),
        ]:
            assert api.upload("scientist", "demo", "Resources", path, data).status_code == 201
        jobs = [
            {
                "name": "totals",
                "type": "pyspark",
                "app_path": "Resources/jobs/totals.py",
                "resources": {"cores": 2, "memory_mb": 1024, "executor_memory_mb": 512},
            },
            {
                "name": "count",
                "type": "spark",
                "app_path": "Resources/jobs/count.jar",
                "main_class": "demo.Count",
                "args": ["42"],
            },
        ]
        for body in jobs:
            reply = api.call("scientist", "POST", J, json=body)
            assert reply.status_code == 201, reply.text
        urls = [run(api, "scientist", body["name"]) for body in jobs]
        done = [ended(api, "scientist", url) for url in urls]
        logs = []
        for url, body in zip(urls, done, strict=True):
            stderr = api.call("scientist", "GET", f"{url}/log?stream=stderr").text
            assert (body["state"], body["exit_code"]) == ("FINISHED", 0), stderr[-4000:]
            logs.append(api.call("scientist", "GET", f"{url}/log").text)
        yield SparkRuns(api, done[0], logs[0], done[1], logs[1])
    app.state.runtime.engine.dispose()


def test_a_pyspark_job_aggregates_a_csv_into_a_dataset(spark_runs: SparkRuns):
    api = spark_runs.api
    listing = api.call("owner", "GET", "/api/projects/demo/datasets/Resources/files/out/totals")
    assert listing.status_code == 200, listing.text
    parts = [e["name"] for e in listing.json()["items"] if e["name"].startswith("part-")]
    assert len(parts) == 1 and parts[0].endswith(".csv")
    written = api.download("owner", "demo", "Resources", f"out/totals/{parts[0]}")
    assert written.text.splitlines() == ["region,total", "east,1", "north,17", "south,7"]

    seen = json.loads(spark_runs.totals_log)
    # local[N] with the job's cores; the driver's heap fits the run's memory (1024 + 512 MiB)
    assert seen["master"] == "local[2]"
    assert seen["driver_memory"] == "1152m"
    assert (seen["catalog"], seen["ui"]) == ("in-memory", "false")  # the run's spark-defaults
    assert set(seen["configs"]) >= {
        "kafka.properties",
        "spark-defaults.conf",
        "hive.properties",
        "storage.properties",
        "keystore.p12",
    }
    assert spark_runs.totals["usage"]["core_seconds"] > 0


def test_a_spark_jar_job_runs_its_main_class(spark_runs: SparkRuns):
    assert spark_runs.count_log.splitlines() == ["counted 42 on local[1]"]
    listed = spark_runs.api.call("owner", "GET", f"{J}/count").json()
    assert (listed["type"], listed["main_class"]) == ("spark", "demo.Count")


WAITER = b"""
import os, sys, time
print("ready", flush=True)
deadline = time.monotonic() + 20
while not os.path.exists("/hopsfs/Resources/go"):
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.01)
print("went")
"""


def test_a_run_outlives_the_thread_that_started_it(tmp_path: Path):
    """bwrap's --die-with-parent fires when the thread that started it ends: a request's
    worker thread ends when idle, long before a Spark run does."""
    storage = EmbeddedStorage(tmp_path / "storage")
    resources = storage.dataset_path("demo", "Resources")
    resources.mkdir(parents=True)
    runner = EmbeddedRunner(tmp_path / "runs", storage)
    python = Path(sys.executable)
    spec = RunSpec(
        run_id="1",
        project="demo",
        identity="demo__ada",
        interpreter=python,
        argv=[str(python), "-c", WAITER.decode()],
        mounts=[DatasetMount("Resources", writable=False)],
    )
    started: list[RunHandle] = []

    def start() -> None:
        """Start the run, and end once it runs (the sandbox is set up by then)."""
        started.append(runner.start(spec))
        stdout = runner.log_path(started[0], Stream.STDOUT)
        deadline = time.monotonic() + 20
        while not stdout.read_text().startswith("ready") and time.monotonic() < deadline:
            time.sleep(0.01)

    starter = threading.Thread(target=start)
    starter.start()
    starter.join()  # the thread that started the run is gone...
    (resources / "go").touch()  # ...and only now may the run end
    outcome = runner.wait(started[0])
    assert outcome.exit_code == 0, runner.log_path(started[0], Stream.STDERR).read_text()
    assert runner.log_path(started[0], Stream.STDOUT).read_text() == "ready\nwent\n"
    runner.cleanup(started[0])


# --- refusals (both databases) ---------------------------------------------------------

BAD_SPARK_JOBS = [
    # a jar needs its class, and only a jar has one
    ({"type": "spark", "app_path": "Resources/jobs/app.jar"}, 400, "bad_main_class"),
    ({"type": "pyspark", "main_class": "demo.Main"}, 400, "bad_main_class"),
    ({"type": "python", "main_class": "demo.Main"}, 400, "bad_main_class"),
    # the file must be what the type runs
    (
        {"type": "spark", "app_path": "Resources/jobs/app.py", "main_class": "demo.Main"},
        400,
        "bad_app_path",
    ),
    ({"type": "pyspark", "app_path": "Resources/jobs/app.jar"}, 400, "bad_app_path"),
    ({"type": "python", "app_path": "Resources/jobs/app.jar"}, 400, "bad_app_path"),
    # a class name is never an option of spark-submit
    (
        {"type": "spark", "app_path": "Resources/jobs/app.jar", "main_class": "--conf"},
        422,
        None,
    ),
    # Spark's driver does not start in less
    (
        {
            "type": "pyspark",
            "resources": {"memory_mb": 256, "executor_memory_mb": 256},
        },
        400,
        "bad_resources",
    ),
]


def test_bad_spark_jobs_are_refused(api: Api):
    for path in ("jobs/app.py", "jobs/app.jar"):
        assert api.upload("owner", "demo", "Resources", path, b"x").status_code == 201
    base = {"name": "bad", "type": "pyspark", "app_path": "Resources/jobs/app.py"}
    for body, status, code in BAD_SPARK_JOBS:
        reply = api.call("owner", "POST", J, json={**base, **body})
        assert reply.status_code == status, (body, reply.text)
        if code is not None:
            assert reply.json()["error"]["code"] == code, (body, reply.text)
    assert api.call("owner", "GET", J).json()["items"] == []


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    make_wheel(wheelhouse, "tinypkg", "1.0")
    return test_settings(tmp_path / "data", db_url, wheelhouse=wheelhouse)


def test_spark_jobs_need_pyspark_in_their_environment(api: Api):
    body = {"name": "nospark", "requirements": "tinypkg==1.0\n"}
    assert (
        api.call("owner", "POST", "/api/projects/demo/environments", json=body).status_code == 202
    )
    assert settled(api, "nospark")["state"] == "READY"
    for path in ("jobs/app.py", "jobs/app.jar"):
        assert api.upload("owner", "demo", "Resources", path, b"x").status_code == 201
    for extra in (
        {"type": "pyspark", "app_path": "Resources/jobs/app.py"},
        {"type": "spark", "app_path": "Resources/jobs/app.jar", "main_class": "demo.Main"},
    ):
        reply = api.call("owner", "POST", J, json={"name": "s", "environment": "nospark", **extra})
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "pyspark_missing" and "pyspark" in error["message"]
    # the same job on the default environment, which has pyspark, is accepted
    reply = api.call(
        "owner",
        "POST",
        J,
        json={"name": "s", "type": "pyspark", "app_path": "Resources/jobs/app.py"},
    )
    assert reply.status_code == 201, reply.text


# --- client configurations (pure functions) --------------------------------------------

CONTEXT = configs.ClientContext(
    project="demo",
    identity="demo__ada",
    credentials_dir="/credentials",
    keystore_password="k\\ey",
    truststore_password="trust",
    datasets_dir="/hopsfs",
)


def lines(content: bytes) -> list[str]:
    return [line for line in content.decode().splitlines() if line and not line.startswith("#")]


def test_client_configs_of_the_embedded_platform(tmp_path: Path):
    settings = test_settings(tmp_path, "sqlite://")
    files = configs.client_configs(settings, CONTEXT, spark_extra={"spark.ui.enabled": "false"})
    assert set(files) == {
        "kafka.properties",
        "spark-defaults.conf",
        "hive.properties",
        "storage.properties",
    }
    assert lines(files["kafka.properties"]) == []  # no broker to connect to...
    assert "no broker" in files["kafka.properties"].decode()  # ...and it says so
    assert lines(files["spark-defaults.conf"]) == [
        "spark.sql.catalogImplementation in-memory",
        "spark.ui.enabled false",
    ]
    assert lines(files["hive.properties"]) == ["hive.database=demo"]
    assert lines(files["storage.properties"]) == [
        "storage.backend=embedded",
        "datasets.dir=/hopsfs",
    ]


def test_client_configs_of_a_cluster_platform(tmp_path: Path):
    settings = test_settings(
        tmp_path,
        "sqlite://",
        kafka_backend="cluster",
        kafka_bootstrap_servers="k1:9093,k2:9093",
        kafka_security_protocol="SSL",
        hive_backend="hiveserver2",
        hive_host="hive.example.org",
        hive_warehouse="hdfs://nn:8020/apps/hive/warehouse",
        spark_metastore_uri="thrift://hive.example.org:9083",
        spark_metastore_tls=True,
        hive_tls_ca=tmp_path / "ca.pem",
        storage_backend="webhdfs",
        webhdfs_url="https://nn1:9871",
    )
    files = configs.client_configs(settings, CONTEXT)
    assert lines(files["kafka.properties"]) == [
        "bootstrap.servers=k1:9093,k2:9093",
        "security.protocol=SSL",
        "ssl.keystore.type=PKCS12",
        "ssl.keystore.location=/credentials/keystore.p12",
        "ssl.keystore.password=k\\\\ey",  # Java properties: a backslash is escaped
        "ssl.key.password=k\\\\ey",
        "ssl.truststore.type=PKCS12",
        "ssl.truststore.location=/credentials/truststore.p12",
        "ssl.truststore.password=trust",
    ]
    assert lines(files["spark-defaults.conf"]) == [
        "spark.sql.catalogImplementation hive",
        "spark.hadoop.hive.metastore.uris thrift://hive.example.org:9083",
        # the metastore speaks TLS: the member's own truststore of the platform CA
        "spark.hadoop.hive.metastore.use.SSL true",
        "spark.hadoop.hive.metastore.truststore.path /credentials/truststore.p12",
        "spark.hadoop.hive.metastore.truststore.password trust",
        "spark.sql.warehouse.dir hdfs://nn:8020/apps/hive/warehouse",
        "spark.sql.catalog.spark_catalog.defaultDatabase demo",
    ]
    assert lines(files["hive.properties"]) == [
        "hive.jdbc.url=jdbc:hive2://hive.example.org:10000/demo;ssl=true;"
        "sslTrustStore=/credentials/truststore.p12;trustStorePassword=trust",
        "hive.host=hive.example.org",
        "hive.port=10000",
        "hive.database=demo",
        "hive.user=demo__ada",
    ]
    assert lines(files["storage.properties"]) == [
        "storage.backend=webhdfs",
        "datasets.dir=/hopsfs",
        "webhdfs.url=https://nn1:9871",
        "project.path=/Projects/demo",
        "project.uri=swebhdfs://nn1:9871/Projects/demo",
        "hdfs.user=demo__ada",
    ]
    plaintext = settings.model_copy(update={"kafka_security_protocol": "PLAINTEXT"})
    assert lines(configs.kafka_properties(plaintext, CONTEXT).encode()) == [
        "bootstrap.servers=k1:9093,k2:9093",
        "security.protocol=PLAINTEXT",
    ]
