"""Model serving end to end: a model registered from files in `Models`, served by KServe's
own Python model server in the job runner's sandbox (a scikit-learn model trained here with
the model server's scikit-learn, and a plain Python predictor), predictions only through
the platform, refusals, files changed after registration, stop, charges, orphans, the
project's deletion, and the inference log (the embedded Kafka's records; the cluster
backend's are read back from a real broker in tests/backends/test_kafka_produce.py).

A model server takes seconds to start, so the module starts three per database: the
two instances of one scikit-learn serving and one Python predictor.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hops_k8s.validation import crd_validator
from hopsworks_api.backends.kubernetes.base import KubeQuota
from hopsworks_api.backends.runner.base import Stream
from hopsworks_api.config import Settings
from hopsworks_api.errors import PayloadTooLarge
from hopsworks_api.main import create_app
from hopsworks_api.servings import cluster, inference_log, model_server_env, service
from hopsworks_api.servings.models import Serving
from hopsworks_api.servings.registry import LiveServing
from tests.conftest import BACKENDS
from tests.support.api import Api
from tests.support.settings import test_settings

S = "/api/projects/demo/servings"
M = "/api/projects/demo/models"
DEADLINE_S = 90  # cold model servers on a busy 2-core machine

TRAIN = """
import io, json, sys
import joblib
from sklearn.linear_model import LogisticRegression
X = [[0.0, 0.0], [0.2, 0.1], [0.1, 0.3], [1.0, 1.0], [0.9, 0.8], [0.8, 1.0]]
y = [0, 0, 0, 1, 1, 1]
model = LogisticRegression().fit(X, y)
joblib.dump(model, sys.argv[1])
probe = [[0.05, 0.1], [0.95, 0.9], [0.1, 0.0]]
print(json.dumps({"probe": probe, "expected": model.predict(probe).tolist()}))
"""

PREDICTOR = b"""
class Predictor:
    def __init__(self, directory):
        self.offset = float(open(f"{directory}/offset.txt").read())

    def predict(self, instances):
        return [sum(row) + self.offset for row in instances]
"""


@pytest.fixture(scope="session")
def model_server_python() -> Path:
    """Built once per machine (minutes the first time, cached after)."""
    return model_server_env.ensure(Settings())


@dataclass
class Env:
    api: Api
    app: FastAPI
    client: TestClient
    python: Path


@pytest.fixture(scope="module", params=BACKENDS)
def env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    model_server_python: Path,
) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("srv")
    if request.param == "sqlite":
        url, cleanup = f"sqlite:///{data / 'hops.db'}", None
    else:
        server = request.getfixturevalue("mariadb")
        name = f"t_{uuid.uuid4().hex[:16]}"
        url, cleanup = server.create_database(name), lambda: server.drop_database(name)
    settings = test_settings(
        data / "data",
        url,
        model_server_python=model_server_python,
        serving_check_seconds=0.2,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(Api.with_actors(client), app, client, model_server_python)
    app.state.runtime.engine.dispose()
    if cleanup:
        cleanup()


def until_state(api: Api, name: str, *states: str) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        body = api.call("scientist", "GET", f"{S}/{name}").json()
        if body["state"] in states:
            return body
        time.sleep(0.1)
    raise AssertionError(f"serving {name} never reached {states}: {body}")


def register(api: Api, name: str, framework: str, files: dict[str, bytes]) -> int:
    for path, content in files.items():
        reply = api.upload("scientist", "demo", "Models", f"{name}/{path}", content)
        assert reply.status_code == 201, reply.text
    body = {"name": name, "framework": framework, "path": f"Models/{name}"}
    reply = api.call("scientist", "POST", M, json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["version"]


def live_serving(env: Env, name: str) -> LiveServing:
    rt = env.app.state.runtime
    with rt.read_sessions() as session:
        serving_id = session.query(Serving.id).filter(Serving.name == name).scalar()
    live = rt.servings.get(serving_id)
    assert live is not None
    return live


def server_pids(env: Env, name: str) -> list[int]:
    return [h.pid for h in live_serving(env, name).handles]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def until_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not all(gone(p) for p in pids):
        assert time.monotonic() < deadline, f"model servers {pids} still run"
        time.sleep(0.1)


def test_a_scikit_learn_model_is_served_through_the_platform_only(env: Env, tmp_path: Path):
    api = env.api
    trained = subprocess.run(  # the model server's own scikit-learn, so the pickle loads
        [str(env.python), "-c", TRAIN, str(tmp_path / "model.joblib")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = json.loads(trained.stdout)
    files = {"model.joblib": (tmp_path / "model.joblib").read_bytes(), "README": b"iris"}
    version = register(api, "iris", "sklearn", files)

    body = {"name": "iris", "model": "iris", "version": version, "instances": 2}
    created = api.call("scientist", "POST", S, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "STARTING"
    assert created.json()["predict_url"] == f"{S}/iris:predict"
    assert api.call("owner", "POST", S, json=body).status_code == 409  # the name is taken
    until_state(api, "iris", "RUNNING")
    pids = server_pids(env, "iris")
    assert len(pids) == 2

    # both instances answer, round robin, with what the model predicts
    for who in ("scientist", "owner", "scientist", "owner"):
        reply = api.call(who, "POST", f"{S}/iris:predict", json={"instances": expected["probe"]})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"predictions": expected["expected"]}

    rt = env.app.state.runtime
    live = rt.servings.get(next(iter(rt.servings.running())))
    for handle in live.handles:  # round robin: each instance answered some
        logs = b"".join(rt.backends.runner.log_path(handle, s).read_bytes() for s in Stream)
        assert b"POST /v1/models/iris:predict" in logs

    # the model server's refusals come back as 4xx in the platform's shape
    bad = api.call("scientist", "POST", f"{S}/iris:predict", json={"instances": [[1, 2, 3]]})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "prediction_rejected"
    assert "3 features" in bad.json()["error"]["message"]
    not_json = api.call("scientist", "POST", f"{S}/iris:predict", content=b"not json")
    assert not_json.status_code == 400 and "error" in not_json.json()

    # outsiders see nothing; the version in use cannot be deleted
    assert (
        api.call("outsider", "POST", f"{S}/iris:predict", json={"instances": []}).status_code == 404
    )
    assert api.call("outsider", "GET", f"{S}/iris").status_code == 404
    in_use = api.call("owner", "DELETE", f"{M}/iris/versions/{version}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "model_version_in_use"

    stopped = api.call("scientist", "POST", f"{S}/iris/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "STOPPED"
    usage = stopped.json()["usage"]
    assert usage["core_seconds"] > 0 and usage["credits"] >= 1  # 1 core x 2 instances x time
    quotas = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert quotas["compute_seconds"]["usage"] >= usage["credits"]  # charged to the project
    until_gone(pids)
    after = api.call("scientist", "POST", f"{S}/iris:predict", json={"instances": [[0, 0]]})
    assert after.status_code == 409
    feed = api.call("owner", "GET", "/api/projects/demo/activity?limit=500").json()["items"]
    actions = {i["action"] for i in feed}
    assert {"serving.create", "serving.predict", "serving.stop"} <= actions

    assert api.call("scientist", "DELETE", f"{S}/iris").status_code == 204
    assert api.call("owner", "DELETE", f"{M}/iris/versions/{version}").status_code == 204


def test_bad_servings_fail_or_are_refused_and_leave_nothing(env: Env):
    api = env.api
    # unknown model, a framework the server cannot load: 4xx, nothing recorded
    missing = {"name": "nope", "model": "nope", "version": 1}
    assert api.call("scientist", "POST", S, json=missing).status_code == 404
    huge = {**missing, "version": 2**81}  # was a 500: past the column's integer
    assert api.call("scientist", "POST", S, json=huge).status_code == 422
    register(api, "onnx", "onnx", {"model.onnx": b"x"})
    onnx = api.call("scientist", "POST", S, json={"name": "onnx", "model": "onnx", "version": 1})
    assert onnx.status_code == 400 and onnx.json()["error"]["code"] == "unsupported_framework"
    assert api.call("scientist", "GET", S).json()["items"] == []

    # a file changed after registration: FAILED, saying which, no process started
    version = register(api, "tampered", "sklearn", {"model.joblib": b"weights"})
    gpus = {"name": "gpu", "model": "tampered", "version": version, "resources": {"gpus": 1}}
    refused = api.call("scientist", "POST", S, json=gpus)  # the project may hold no GPUs
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "gpu_quota_exceeded"
    assert api.call("scientist", "GET", f"{S}/gpu").status_code == 404  # nothing half-created
    storage = env.app.state.runtime.backends.storage
    (storage.dataset_path("demo", "Models") / "tampered" / "model.joblib").write_bytes(b"evil")
    body = {"name": "tampered", "model": "tampered", "version": version}
    # the inference-log topic a serving needs counts against the Kafka topic quota
    topic = f"/api/projects/demo/topics/{inference_log.TOPIC}"
    assert api.call("owner", "DELETE", topic).status_code in (204, 404)  # made by a serving
    quotas = "/api/projects/demo/quotas"
    assert api.call("admin", "PUT", quotas, json={"kafka_topics": 0}).status_code == 200
    full = api.call("scientist", "POST", S, json=body)
    assert full.status_code == 413 and full.json()["error"]["code"] == "quota_exceeded"
    assert api.call("scientist", "GET", f"{S}/tampered").status_code == 404
    assert api.call("admin", "PUT", quotas, json={"kafka_topics": None}).status_code == 200
    reply = api.call("scientist", "POST", S, json=body)
    assert reply.status_code == 201, reply.text
    assert reply.json()["state"] == "FAILED"
    assert "model.joblib changed" in reply.json()["stop_reason"]
    assert env.app.state.runtime.servings.running() == set()

    # a predictor that raises as it loads: FAILED with the server's log tail, no process
    version = register(api, "broken", "python", {"predictor.py": b"raise RuntimeError('nope')"})
    body = {"name": "broken", "model": "broken", "version": version}
    assert api.call("scientist", "POST", S, json=body).status_code == 201
    failed = until_state(api, "broken", "FAILED")
    assert "did not start" in failed["stop_reason"]
    assert "RuntimeError: nope" in failed["log_tail"]
    deadline = time.monotonic() + DEADLINE_S  # its watcher removes its run as it ends
    while env.app.state.runtime.servings.running():
        assert time.monotonic() < deadline, "the failed serving's run is still there"
        time.sleep(0.05)


def test_an_orphaned_serving_is_ended_on_the_next_start(env: Env):
    """A serving left active by a service process that is gone (its servers died with it)."""
    rt = env.app.state.runtime
    with rt.sessions() as session:
        row = session.query(Serving).filter(Serving.name == "tampered").one()
        row.state, row.instance = "RUNNING", "gone-host:1:dead"
        session.commit()
    assert service.fail_orphans(rt) == 1
    assert env.api.call("scientist", "GET", f"{S}/tampered").json()["state"] == "STOPPED"


def test_a_python_predictor_serves_until_its_project_is_deleted(env: Env, tmp_path: Path):
    api = env.api
    files = {"predictor.py": PREDICTOR, "offset.txt": b"0.5"}
    version = register(api, "adder", "python", files)
    body = {"name": "adder", "model": "adder", "version": version}
    assert api.call("owner", "POST", S, json=body).status_code == 201
    until_state(api, "adder", "RUNNING")
    reply = api.call("scientist", "POST", f"{S}/adder:predict", json={"instances": [[1, 2], [3]]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": [3.5, 3.5]}
    huge = b"x" * (inference_log.MAX_BODY_BYTES + 1)
    refused = api.call("owner", "POST", f"{S}/adder:predict", content=huge)
    assert refused.status_code == 400
    pids = server_pids(env, "adder")
    live = live_serving(env, "adder")
    sockets, live.sockets = live.sockets, [tmp_path / "nobody.sock"]  # a server not answering
    try:
        unreachable = api.call("scientist", "POST", f"{S}/adder:predict", json={"instances": []})
    finally:
        live.sockets = sockets
    assert unreachable.status_code == 503

    # every exchange is in the project's inference-log topic, a topic like any other
    topics = api.call("scientist", "GET", "/api/projects/demo/topics").json()["items"]
    assert inference_log.TOPIC in {t["name"] for t in topics}
    kafka = env.app.state.runtime.backends.kafka
    logged = [json.loads(v) for k, v in kafka.records("demo", inference_log.TOPIC) if k == b"adder"]
    assert len(logged) == 3
    ok, bad, lost = logged
    assert ok["request"] == {"instances": [[1, 2], [3]]}
    assert ok["response"] == {"status": 200, "body": {"predictions": [3.5, 3.5]}}
    assert (ok["serving"], ok["model"], ok["version"]) == ("adder", "adder", version)
    assert (ok["member"], ok["identity"]) == ("scientist@example.org", "demo__scientist")
    assert ok["latency_ms"] > 0 and ok["time"].endswith("+00:00")
    assert bad["member"] == "owner@example.org"
    assert bad["request"] == {
        "truncated": True,
        "bytes": len(huge),
        "text": "x" * inference_log.MAX_BODY_BYTES,
    }
    assert bad["response"]["status"] == 400
    assert bad["response"]["body"]["error"]["code"] == "prediction_rejected"
    assert lost["response"]["status"] == 503 and lost["request"] == {"instances": []}
    assert lost["response"]["body"]["error"]["code"] == "serving_unreachable"
    metrics = env.client.get("/metrics").text  # every record delivered, none failed
    assert 'hops_kafka_records_produced_total{outcome="failed"} 0.0' in metrics
    assert 'hops_kafka_records_produced_total{outcome="delivered"} 0.0' not in metrics

    assert api.call("owner", "DELETE", "/api/projects/demo").status_code == 204
    until_gone(pids)  # the watcher sees the project go and stops its servers


def test_the_cluster_inference_service_is_valid_and_bounded():
    spec = cluster.ClusterServing(
        project="demo_x",
        username="scientist",
        name="iris",
        framework="sklearn",
        directory="iris",
        instances=2,
        cores=1,
        memory_mb=1024,
        gpus=1,
        datasets_claim="demo-datasets",
    )
    quota = KubeQuota(cpu="4", memory="8Gi", gpus=2)
    isvc = cluster.inference_service(spec, quota)
    validator = crd_validator(cluster.API_VERSION, "InferenceService")
    assert list(validator.iter_errors(isvc)) == []
    predictor = isvc["spec"]["predictor"]
    assert isvc["metadata"]["namespace"] == "demo-x"
    assert predictor["model"]["storageUri"] == "pvc://demo-datasets/Models/iris"
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    python = cluster.inference_service(replace(spec, framework="python", gpus=0), quota)
    assert list(validator.iter_errors(python)) == []
    isvc["spec"]["predictor"]["minReplicas"] = "two"
    assert list(validator.iter_errors(isvc)) != []
    for too_big in (
        replace(spec, instances=5),
        replace(spec, gpus=2),
        replace(spec, memory_mb=8192),
    ):
        with pytest.raises(PayloadTooLarge):
            cluster.inference_service(too_big, quota)
