"""The YARN job runner: what spark-submit is called with, the Hadoop configuration rendered
for the run, status and stop through the ResourceManager REST API (against the contract
fake), and the real spark-submit's YARN client reaching the ResourceManager's client port.

No ResourceManager can run here: the REST side follows the documented API (the fake), the
submission side is checked up to the first Hadoop RPC bytes (docs/jobs-cluster.md).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import stat
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.backends.runner.base import JobApp, RunHandle, RunSpec, Stream
from hopsworks_api.backends.runner.yarn import YarnRunner
from hopsworks_api.errors import BadRequest
from tests.support.yarn_fake import YarnFake, serve

QUEUE = "root.projects.demo"
IDENTITY = "demo__alice"
DEADLINE_S = 15
# a JVM start on a busy 2-core machine: ~5 s alone, several times that under load
SPARK_SUBMIT_DEADLINE_S = 60
PROTOCOL = b"org.apache.hadoop.yarn.api.ApplicationClientProtocol"
CREDENTIALS = {
    "keystore.p12": b"pkcs12-keystore",
    "keystore.password": b"ks-secret",
    "truststore.p12": b"pkcs12-truststore",
    "truststore.password": b"ts-secret",
    "certificate.pem": b"-----BEGIN CERTIFICATE-----\n",
    "private_key.pem": b"-----BEGIN PRIVATE KEY-----\n",
    "ca_chain.pem": b"-----BEGIN CERTIFICATE-----\n",
}
FAKE_SPARK_SUBMIT = """#!{python}
# stands in for spark-submit: records how it was called, reports the submission as
# Spark's YARN client logs it, and returns (as with spark.yarn.submit.waitAppCompletion=false)
import json, os, pathlib, sys
conf = pathlib.Path(os.environ["HADOOP_CONF_DIR"])
record = {{
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "conf": {{p.name: p.read_text() for p in conf.iterdir()}},
}}
pathlib.Path({record!r}).write_text(json.dumps(record))
app_id = pathlib.Path({app_id_file!r}).read_text()
print(f"26/12/06 13:00:00 INFO Client: Submitted application {{app_id}}", file=sys.stderr)
"""


@pytest.fixture
def fake() -> YarnFake:
    fake = YarnFake()
    fake.conf["yarn.scheduler.capacity.root.projects.queues"] = "hops__unallocated,demo"
    fake.conf["yarn.scheduler.capacity.root.projects.hops__unallocated.capacity"] = "50"
    fake.conf["yarn.scheduler.capacity.root.projects.demo.capacity"] = "50"
    return fake


@pytest.fixture
def rm_url(fake: YarnFake) -> Iterator[str]:
    with serve(fake.build_app()) as url:
        yield url


@pytest.fixture
def env_bin(tmp_path: Path) -> Path:
    """A job environment whose `spark-submit` is the recording stand-in above."""
    bin_dir = tmp_path / "env" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    script = bin_dir / "spark-submit"
    script.write_text(
        FAKE_SPARK_SUBMIT.format(
            python=sys.executable,
            record=str(tmp_path / "invocation.json"),
            app_id_file=str(tmp_path / "app_id"),
        )
    )
    script.chmod(0o755)
    return bin_dir


def make_runner(tmp_path: Path, rm_url: str, **kwargs: object) -> YarnRunner:
    return YarnRunner(
        tmp_path / "runs",
        rm_url=rm_url,
        default_fs="hdfs://nn.example:8020",
        poll_seconds=0.05,
        timeout=2.0,
        connect_timeout=1.0,
        **kwargs,  # type: ignore[arg-type]
    )


def make_spec(interpreter: Path, *, run_id: str = "7", job_type: str = "pyspark") -> RunSpec:
    return RunSpec(
        run_id=run_id,
        project="demo",
        identity=IDENTITY,
        interpreter=interpreter,
        argv=[],
        mounts=[],
        credentials=dict(CREDENTIALS),
        # what the service sets for local runs: only HOPS_* may reach other hosts
        env={"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": "/srv/env/bin/python", "HOPS_X": "1"},
        app=JobApp(
            job="etl",
            type=job_type,
            app_path="Resources/jobs/etl.jar" if job_type == "spark" else "Resources/etl.py",
            main_class="org.example.Etl" if job_type == "spark" else None,
            args=("--day", "2026-12-06"),
            cores=2,
            memory_mb=2048,
            gpus=1,
            executors=3,
            executor_cores=4,
            executor_memory_mb=4096,
        ),
    )


def properties(xml_text: str) -> dict[str, str]:
    root = ET.fromstring(xml_text)
    assert root.tag == "configuration"
    return {p.findtext("name"): p.findtext("value") for p in root.iter("property")}


def submit(tmp_path: Path, fake: YarnFake, runner: YarnRunner, env_bin: Path, **kw) -> RunHandle:
    app_id = fake.submit_application(QUEUE, user=IDENTITY)
    (tmp_path / "app_id").write_text(app_id)
    handle = runner.start(make_spec(env_bin / "python", **kw))
    deadline = time.monotonic() + DEADLINE_S
    while runner.application_id(handle) is None:
        assert time.monotonic() < deadline, "spark-submit never reported the submission"
        time.sleep(0.02)
    return handle


def test_spark_submit_command_and_rendered_hadoop_conf(
    tmp_path: Path, fake: YarnFake, rm_url: str, env_bin: Path
) -> None:
    runner = make_runner(tmp_path, rm_url, rm_addresses=["rm1.example:8032", "rm2.example:8032"])
    handle = submit(tmp_path, fake, runner, env_bin, job_type="spark")
    try:
        record = json.loads((tmp_path / "invocation.json").read_text())
        argv = record["argv"]
        assert argv[:6] == ["--master", "yarn", "--deploy-mode", "cluster", "--queue", "demo"]
        options = dict(zip(argv[6:-3:2], argv[7:-3:2], strict=True))
        assert options["--class"] == "org.example.Etl"
        assert options["--driver-cores"] == "2" and options["--driver-memory"] == "2048m"
        assert options["--num-executors"] == "3" and options["--executor-cores"] == "4"
        assert options["--executor-memory"] == "4096m"
        assert argv[-3:] == [
            "hdfs://nn.example:8020/Projects/demo/Resources/jobs/etl.jar",
            "--day",
            "2026-12-06",
        ]
        conf = dict(v.split("=", 1) for flag, v in itertools.pairwise(argv) if flag == "--conf")
        assert conf["spark.yarn.submit.waitAppCompletion"] == "true"
        assert conf["spark.driver.resource.gpu.amount"] == "1"
        for prefix in ("spark.yarn.appMasterEnv.", "spark.executorEnv."):
            assert conf[prefix + "HOPS_USER"] == IDENTITY
            assert conf[prefix + "HOPS_PROJECT"] == "demo"
            assert conf[prefix + "HOPS_DATASETS_DIR"] == "hdfs://nn.example:8020/Projects/demo"
            assert conf[prefix + "HOPS_CREDENTIALS_DIR"] == "."
            assert conf[prefix + "HOPS_X"] == "1"
            assert prefix + "SPARK_LOCAL_IP" not in conf and prefix + "PYSPARK_PYTHON" not in conf
        shipped = options["--files"].split(",")
        assert {Path(f).name for f in shipped} == set(CREDENTIALS)
        for path in shipped:
            assert Path(path).parent == handle.run_dir / "credentials"
            assert Path(path).read_bytes() == CREDENTIALS[Path(path).name]
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        # the project user, and the Hadoop configuration rendered for this run only
        env = record["env"]
        assert env["HADOOP_USER_NAME"] == IDENTITY
        assert env["HADOOP_CONF_DIR"] == str(handle.run_dir / "hadoop-conf")
        yarn_site = properties(record["conf"]["yarn-site.xml"])
        assert yarn_site["yarn.resourcemanager.ha.enabled"] == "true"
        assert yarn_site["yarn.resourcemanager.ha.rm-ids"] == "rm1,rm2"
        assert yarn_site["yarn.resourcemanager.address.rm1"] == "rm1.example:8032"
        assert yarn_site["yarn.resourcemanager.address.rm2"] == "rm2.example:8032"
        core_site = properties(record["conf"]["core-site.xml"])
        assert core_site["fs.defaultFS"] == "hdfs://nn.example:8020"
        ssl = properties(record["conf"]["ssl-client.xml"])
        credentials = handle.run_dir / "credentials"
        assert ssl["ssl.client.keystore.location"] == str(credentials / "keystore.p12")
        assert ssl["ssl.client.keystore.password"] == "ks-secret"
        assert ssl["ssl.client.keystore.type"] == "pkcs12"
        assert ssl["ssl.client.truststore.location"] == str(credentials / "truststore.p12")
        assert ssl["ssl.client.truststore.password"] == "ts-secret"
        assert stat.S_IMODE(os.stat(handle.run_dir / "hadoop-conf").st_mode) == 0o700
    finally:
        runner.cleanup(handle)
    assert not handle.run_dir.exists()


def test_status_comes_from_the_resource_manager(
    tmp_path: Path, fake: YarnFake, rm_url: str, env_bin: Path
) -> None:
    runner = make_runner(tmp_path, rm_url)
    handle = submit(tmp_path, fake, runner, env_bin)
    app_id = runner.application_id(handle)
    assert app_id is not None
    # spark-submit has returned, the application still runs: the RM decides
    assert runner.poll(handle) is None
    assert ("GET", f"/ws/v1/cluster/apps/{app_id}") in fake.requests
    fake.update_application(app_id, vcore_seconds=42, state="FINISHED")
    outcome = runner.wait(handle)
    assert (outcome.exit_code, outcome.cpu_seconds) == (0, 42.0)
    log = runner.log_path(handle, Stream.STDERR).read_bytes()
    assert f"Submitted application {app_id}".encode() in log
    runner.cleanup(handle)
    # a finished run is not killed again
    assert not any(method == "PUT" for method, _ in fake.requests)


def test_stop_kills_through_the_resource_manager(
    tmp_path: Path, fake: YarnFake, rm_url: str, env_bin: Path
) -> None:
    runner = make_runner(tmp_path, rm_url)
    handle = submit(tmp_path, fake, runner, env_bin)
    app_id = runner.application_id(handle)
    waited: list = []
    monitor = threading.Thread(target=lambda: waited.append(runner.wait(handle)))
    monitor.start()
    runner.kill(handle)
    monitor.join(DEADLINE_S)
    assert waited and waited[0].exit_code < 0
    assert ("PUT", f"/ws/v1/cluster/apps/{app_id}/state") in fake.requests
    assert fake.apps[app_id].state == "KILLED"
    runner.cleanup(handle)


def test_leftover_of_a_restarted_service_is_killed(
    tmp_path: Path, fake: YarnFake, rm_url: str, env_bin: Path
) -> None:
    handle = submit(tmp_path, fake, make_runner(tmp_path, rm_url), env_bin)
    app_id = runner_app = make_runner(tmp_path, rm_url).application_id(handle)
    assert runner_app is not None
    restarted = make_runner(tmp_path, rm_url)  # knows nothing of the run but its directory
    leftover = restarted.leftover(handle.run_id)
    assert leftover is not None and leftover.pid == 0
    assert b"Submitted application" in restarted.log_path(leftover, Stream.STDERR).read_bytes()
    restarted.cleanup(leftover)
    assert fake.apps[app_id].state == "KILLED"
    assert not handle.run_dir.exists()
    assert restarted.leftover(handle.run_id) is None


def test_python_jobs_are_refused_before_anything_happens(
    tmp_path: Path, rm_url: str, env_bin: Path
) -> None:
    runner = make_runner(tmp_path, rm_url)
    with pytest.raises(BadRequest) as caught:
        runner.start(make_spec(env_bin / "python", job_type="python"))
    assert caught.value.code == "job_type_unsupported"
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "invocation.json").exists()


def test_real_spark_submit_reaches_the_resource_manager_over_hadoop_rpc(
    tmp_path: Path, fake: YarnFake, rm_url: str
) -> None:
    """pyspark's own spark-submit, with the rendered configuration, opens a Hadoop RPC
    connection to the ResourceManager's client port as the project user."""
    venv_python = Path(sys.prefix) / "bin" / "python"
    if not (venv_python.parent / "spark-submit").exists():
        pytest.skip("pyspark's spark-submit is not installed in this environment")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(SPARK_SUBMIT_DEADLINE_S)
        port = listener.getsockname()[1]
        runner = make_runner(tmp_path, rm_url, rm_addresses=[f"127.0.0.1:{port}"])
        app_file = tmp_path / "app.py"
        app_file.write_text("print('never runs')\n")
        handle = runner.start(make_spec(venv_python))
        received = b""
        try:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(SPARK_SUBMIT_DEADLINE_S)
                deadline = time.monotonic() + SPARK_SUBMIT_DEADLINE_S
                while PROTOCOL not in received and time.monotonic() < deadline:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    received += chunk
        finally:
            runner.kill(handle, grace_seconds=5)
            runner.cleanup(handle)
    # "hrpc", version 9, service class 0, auth protocol 0 (SIMPLE), then the connection
    # context naming the effective user (the project user) and the YARN client protocol
    assert received[:4] == b"hrpc"
    assert received[4] == 9 and received[6] == 0
    assert IDENTITY.encode() in received
    assert PROTOCOL in received
    assert not handle.run_dir.exists()
