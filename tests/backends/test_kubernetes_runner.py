"""The Kubernetes job runner against the API server fake: a batch/v1 Job for python jobs, a
spark-operator SparkApplication for pyspark/spark jobs, in the project's namespace, each
validated before it is sent (official schemas; the CRD's schema) and again by the fake;
logs copied from the driver / job pod while the run lasts; stop = Foreground delete; a
leftover of a restarted service deleted.

No API server or spark-operator runs here: the fake stands in for both, states and pods
are what a controller would write (docs/jobs-cluster.md).
"""

from __future__ import annotations

import base64
import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.backends.kubernetes import KubeQuota, namespace_for
from hopsworks_api.backends.kubernetes.base import QUOTA_NAME
from hopsworks_api.backends.kubernetes.cluster import ClusterKubernetes
from hopsworks_api.backends.runner.base import JobApp, RunSpec, Stream
from hopsworks_api.backends.runner.kubernetes import (
    KubernetesRunner,
    spark_application_manifest,
    spark_application_schema,
    validate_spark_application,
)
from hopsworks_api.errors import BadRequest, Conflict
from tests.support.kubernetes_fake import KubernetesFake
from tests.support.yarn_fake import serve

TOKEN = "test-token"
PROJECT = "demo_x"
NAMESPACE = namespace_for(PROJECT)
IDENTITY = f"{PROJECT}__alice"
SCRIPT = b"print('hello from the pod')\n"
CREDENTIALS = {
    "keystore.p12": b"pkcs12",
    "keystore.password": b"ks-secret",
    "certificate.pem": b"-----BEGIN CERTIFICATE-----\n",
}
WAIT_S = 15


@pytest.fixture
def kfake() -> KubernetesFake:
    return KubernetesFake(token=TOKEN)


@pytest.fixture
def api_url(kfake: KubernetesFake) -> Iterator[str]:
    with serve(kfake.build_app()) as url:
        backend = ClusterKubernetes(url, token=TOKEN)
        backend.ensure_project(PROJECT, KubeQuota(cpu="8", memory="32Gi", gpus=2))
        backend.close()
        yield url


def make_runner(tmp_path: Path, api_url: str, reads: list | None = None) -> KubernetesRunner:
    def read_app(project: str, dataset: str, parts: tuple[str, ...]) -> bytes:
        if reads is not None:
            reads.append((project, dataset, parts))
        return SCRIPT

    return KubernetesRunner(
        tmp_path / "runs",
        api_url=api_url,
        token=TOKEN,
        default_fs="hdfs://nn.example:8020",
        read_app=read_app,
        poll_seconds=0.05,
        timeout=2.0,
        connect_timeout=1.0,
    )


def make_spec(job_type: str, run_id: str = "41", **resources: int) -> RunSpec:
    return RunSpec(
        run_id=run_id,
        project=PROJECT,
        identity=IDENTITY,
        interpreter=Path("/usr/bin/python3"),
        argv=[],
        mounts=[],
        credentials=dict(CREDENTIALS),
        app=JobApp(
            job="train_model",
            type=job_type,
            app_path="Resources/jobs/train.py" if job_type != "spark" else "Resources/etl.jar",
            main_class="org.example.Etl" if job_type == "spark" else None,
            args=("--epochs", "3"),
            **({"cores": 2, "memory_mb": 2048} | resources),
        ),
    )


def test_python_job_is_a_job_with_its_credentials_mounted_read_only(
    tmp_path: Path, kfake: KubernetesFake, api_url: str
) -> None:
    reads: list = []
    runner = make_runner(tmp_path, api_url, reads)
    handle = runner.start(make_spec("python", gpus=1))
    assert handle.pid == 0 and handle.run_dir.is_dir()
    assert reads == [(PROJECT, "Resources", ("jobs", "train.py"))]
    job = kfake.get("jobs", NAMESPACE, "hops-run-41")
    assert job is not None
    assert (
        job["metadata"]["labels"].items()
        >= {
            "hops.io/project": NAMESPACE,
            "hops.io/job": "train_model",
            "hops.io/execution": "41",
        }.items()
    )
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "/app/train.py", "--epochs", "3"]
    amounts = {"cpu": "2", "memory": "2048Mi", "nvidia.com/gpu": "1"}
    assert container["resources"] == {"requests": amounts, "limits": amounts}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/credentials"]["readOnly"] and mounts["/app"]["readOnly"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HOPS_USER"] == IDENTITY and env["HOPS_CREDENTIALS_DIR"] == "/credentials"
    assert env["HOPS_DATASETS_DIR"] == f"hdfs://nn.example:8020/Projects/{PROJECT}"
    assert pod["securityContext"]["runAsNonRoot"] is True
    secret = kfake.get("secrets", NAMESPACE, "hops-run-41")
    assert secret is not None and secret["immutable"] is True
    stored = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert stored == {**CREDENTIALS, "app.py": SCRIPT}
    volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    assert volumes["credentials"]["defaultMode"] == 0o400

    # the pod the Job controller would start; its log is readable while it runs
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    kfake.add_pod(NAMESPACE, "hops-run-41-abcde", pod_labels, ("jobs", "hops-run-41"))
    assert runner.poll(handle) is None
    kfake.set_log(NAMESPACE, "hops-run-41-abcde", b"hello from the pod\n")
    assert runner.poll(handle) is None
    assert runner.log_path(handle, Stream.STDOUT).read_bytes() == b"hello from the pod\n"
    assert pod_labels["hops.io/component"] == "job-pod"

    kfake.set_status(
        "jobs", NAMESPACE, "hops-run-41", {"conditions": [{"type": "Complete", "status": "True"}]}
    )
    outcome = runner.wait(handle)
    assert outcome.exit_code == 0 and outcome.cpu_seconds >= 0
    assert b"state Complete" in runner.log_path(handle, Stream.STDERR).read_bytes()
    runner.cleanup(handle)
    assert kfake.get("jobs", NAMESPACE, "hops-run-41") is None
    assert kfake.get("secrets", NAMESPACE, "hops-run-41") is None
    assert kfake.names("pods", NAMESPACE) == []
    assert not handle.run_dir.exists()


@pytest.mark.parametrize("job_type", ["pyspark", "spark"])
def test_spark_jobs_are_spark_applications_valid_for_the_crd(
    tmp_path: Path, kfake: KubernetesFake, api_url: str, job_type: str
) -> None:
    reads: list = []
    runner = make_runner(tmp_path, api_url, reads)
    handle = runner.start(make_spec(job_type, executors=2, executor_cores=1))
    assert reads == []  # the driver reads the app from HDFS itself
    app = kfake.get("sparkapplications", NAMESPACE, "hops-run-41")
    assert app is not None
    spec = app["spec"]
    assert spec["type"] == ("Python" if job_type == "pyspark" else "Scala")
    assert spec["mode"] == "cluster"
    assert spec["mainApplicationFile"].startswith(f"hdfs://nn.example:8020/Projects/{PROJECT}/")
    assert spec["arguments"] == ["--epochs", "3"]
    assert spec.get("mainClass") == ("org.example.Etl" if job_type == "spark" else None)
    assert spec["driver"]["cores"] == 2 and spec["executor"]["instances"] == 2
    for role in ("driver", "executor"):
        assert {"name": "credentials", "mountPath": "/credentials", "readOnly": True} in spec[role][
            "volumeMounts"
        ]
    stored = kfake.get("secrets", NAMESPACE, "hops-run-41")
    assert stored is not None and "app.py" not in stored["data"]

    kfake.add_pod(
        NAMESPACE,
        "hops-run-41-driver",
        spec["driver"]["labels"],
        ("sparkapplications", "hops-run-41"),
    )
    kfake.set_log(NAMESPACE, "hops-run-41-driver", b"Pi is roughly 3.14\n")
    kfake.set_status(
        "sparkapplications", NAMESPACE, "hops-run-41", {"applicationState": {"state": "RUNNING"}}
    )
    assert runner.poll(handle) is None
    assert runner.log_path(handle, Stream.STDOUT).read_bytes() == b"Pi is roughly 3.14\n"
    kfake.set_status(
        "sparkapplications",
        NAMESPACE,
        "hops-run-41",
        {"applicationState": {"state": "FAILED", "errorMessage": "driver exited 1"}},
    )
    assert runner.wait(handle).exit_code == 1
    runner.cleanup(handle)
    assert kfake.get("sparkapplications", NAMESPACE, "hops-run-41") is None


def test_the_crd_schema_refuses_what_the_operator_would_not_accept() -> None:
    source = spark_application_schema()["source"]
    assert source["repository"] == "https://github.com/kubeflow/spark-operator"
    assert source["version"] == "v1beta2" and source["tag"]
    good = spark_application_manifest(
        make_spec("pyspark"),
        make_spec("pyspark").app,  # type: ignore[arg-type]
        image="spark:4",
        spark_version="4.0.0",
        service_account="spark",
        default_fs="hdfs://nn:8020",
        datasets_url="hdfs://nn:8020/Projects/demo_x",
    )
    validate_spark_application(good)
    for path, value in (
        (("spec", "type"), "Ruby"),  # not in the enum
        (("spec", "driver", "cores"), "two"),  # an integer
        (("spec", "driver", "coreLimits"), "2"),  # a typo: unknown field
        (("spec", "mainApplicationFile"), None),  # required
    ):
        bad = copy.deepcopy(good)
        target = bad
        for key in path[:-1]:
            target = target[key]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        with pytest.raises(BadRequest) as caught:
            validate_spark_application(bad)
        assert caught.value.code == "invalid_kubernetes_object"


def test_stop_deletes_in_the_foreground_and_the_run_ends_killed(
    tmp_path: Path, kfake: KubernetesFake, api_url: str
) -> None:
    runner = make_runner(tmp_path, api_url)
    handle = runner.start(make_spec("python"))
    job = kfake.get("jobs", NAMESPACE, "hops-run-41")
    assert job is not None
    kfake.add_pod(
        NAMESPACE,
        "hops-run-41-xyz",
        job["spec"]["template"]["metadata"]["labels"],
        ("jobs", "hops-run-41"),
    )
    waited: list = []
    monitor = threading.Thread(target=lambda: waited.append(runner.wait(handle)))
    monitor.start()
    runner.kill(handle)
    monitor.join(WAIT_S)
    assert waited and waited[0].exit_code < 0
    assert ("jobs", NAMESPACE, "hops-run-41", "Foreground") in kfake.deletions
    assert kfake.names("pods", NAMESPACE) == []
    runner.cleanup(handle)
    assert kfake.get("secrets", NAMESPACE, "hops-run-41") is None


def test_a_leftover_of_a_restarted_service_is_deleted(
    tmp_path: Path, kfake: KubernetesFake, api_url: str
) -> None:
    handle = make_runner(tmp_path, api_url).start(make_spec("pyspark"))
    restarted = make_runner(tmp_path, api_url)
    leftover = restarted.leftover(handle.run_id)
    assert leftover is not None and leftover.pid == 0
    assert b"created SparkApplication" in restarted.log_path(leftover, Stream.STDERR).read_bytes()
    restarted.cleanup(leftover)
    assert kfake.get("sparkapplications", NAMESPACE, "hops-run-41") is None
    assert kfake.get("secrets", NAMESPACE, "hops-run-41") is None
    assert restarted.leftover(handle.run_id) is None


def test_resources_must_fit_the_namespace_quota(
    tmp_path: Path, kfake: KubernetesFake, api_url: str
) -> None:
    runner = make_runner(tmp_path, api_url)
    writes = kfake.writes()
    with pytest.raises(BadRequest) as caught:  # 4 + 3 x 2 cores > 8
        runner.start(make_spec("pyspark", cores=4, executors=3, executor_cores=2))
    assert caught.value.code == "exceeds_namespace_quota"
    with pytest.raises(BadRequest):  # more GPUs than the namespace may use
        runner.start(make_spec("python", gpus=3))
    quota = kfake.get("resourcequotas", NAMESPACE, QUOTA_NAME)
    assert quota is not None
    quota["status"]["used"]["limits.cpu"] = "7"
    with pytest.raises(Conflict) as full:
        runner.start(make_spec("python"))
    assert full.value.code == "namespace_quota_full"
    assert kfake.writes() == writes  # nothing was created
    assert not (tmp_path / "runs" / "41").exists()


# -- through the service: HOPS_JOB_RUNNER=kubernetes ----------------------------------


@pytest.fixture
def served_fake(kfake: KubernetesFake) -> Iterator[str]:
    with serve(kfake.build_app()) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, db_url: str, served_fake: str):  # type: ignore[no-untyped-def]
    """The service with its Kubernetes backend and job runner on the API server fake."""
    from tests.support.settings import test_settings

    token = tmp_path / "token"
    token.write_text(TOKEN)
    return test_settings(
        tmp_path / "data",
        db_url,
        kubernetes_backend="cluster",
        kubernetes_url=served_fake,
        kubernetes_token_file=str(token),
        job_runner="kubernetes",
        hadoop_default_fs="hdfs://nn.example:8020",
        # the fake answers in milliseconds, but in this process, on 2 cores that the lab
        # lane and Chromium share: 5 s once passed between a request and its answer
        backend_timeout_seconds=30,
    )


def until(condition, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {WAIT_S}s")


def test_executions_run_as_kubernetes_jobs_through_the_service(app, api, kfake: KubernetesFake):  # type: ignore[no-untyped-def]
    app.state.runtime.backends.runner.poll_seconds = 0.05
    jobs = "/api/projects/demo/jobs"
    namespace = namespace_for("demo")
    assert api.upload("scientist", "demo", "Resources", "jobs/hello.py", SCRIPT).status_code == 201
    body = {"name": "hello", "type": "python", "app_path": "Resources/jobs/hello.py"}
    assert api.call("scientist", "POST", jobs, json=body).status_code == 201

    def execution() -> tuple[str, int]:
        reply = api.call("scientist", "POST", f"{jobs}/hello/executions", json={})
        assert reply.status_code == 201, reply.text
        return f"{jobs}/hello/executions/{reply.json()['id']}", reply.json()["id"]

    url, first = execution()
    name = f"hops-run-{first}"
    job = until(lambda: kfake.get("jobs", namespace, name), "the Job's creation")
    secret = kfake.get("secrets", namespace, name)
    assert secret is not None and base64.b64decode(secret["data"]["app.py"]) == SCRIPT
    assert {"certificate.pem", "keystore.p12"} <= set(secret["data"])
    kfake.add_pod(
        namespace, f"{name}-p", job["spec"]["template"]["metadata"]["labels"], ("jobs", name)
    )
    kfake.set_log(namespace, f"{name}-p", b"hello from the pod\n")
    until(lambda: b"hello" in api.call("scientist", "GET", f"{url}/log").content, "the log")
    kfake.set_status(
        "jobs", namespace, name, {"conditions": [{"type": "Complete", "status": "True"}]}
    )
    done = until(
        lambda: (b := api.call("scientist", "GET", url).json())["state"] == "FINISHED" and b,
        "the end of the execution",
    )
    assert done["exit_code"] == 0
    kept = api.download("owner", "demo", "Logs", f"hello/{first}/stdout.log")
    assert kept.status_code == 200 and kept.text == "hello from the pod\n"
    until(lambda: kfake.get("jobs", namespace, name) is None, "the Job's removal")
    assert kfake.get("secrets", namespace, name) is None

    url, second = execution()
    until(lambda: kfake.get("jobs", namespace, f"hops-run-{second}"), "the second Job")
    assert api.call("scientist", "POST", f"{url}/stop").status_code == 202
    until(lambda: api.call("scientist", "GET", url).json()["state"] == "KILLED", "KILLED")
    assert ("jobs", namespace, f"hops-run-{second}", "Foreground") in kfake.deletions
