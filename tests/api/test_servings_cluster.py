"""Servings on Kubernetes (HOPS_JOB_RUNNER=kubernetes) through the service, against the API
server fake (`tests/support/kubernetes_fake.py`): the InferenceService created, validated
(by the service against KServe's CRD schema, and again by the fake) and bounded by the
project's namespace quota; RUNNING once the fake says Ready; predictions through the
platform reach a stand-in model server (a real HTTP server speaking KServe's v1 protocol,
which the fake's `status.url` points to); stop, delete, failures and orphans.

No cluster, KServe or model runs here: the InferenceService's status is what KServe would
write (`set_status`). And, embedded: a prediction that reaches an instance of the service
other than the one running the serving's model servers is 503 with Retry-After.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import select

from hopsworks_api.backends.kubernetes import namespace_for
from hopsworks_api.backends.kubernetes.base import QUOTA_NAME
from hopsworks_api.clock import naive_utc
from hopsworks_api.jobs.models import RunnerInstance
from hopsworks_api.main import create_app
from hopsworks_api.projects.models import Project
from hopsworks_api.servings import inference_log, service
from hopsworks_api.servings.models import Serving
from tests.support.api import Api
from tests.support.kubernetes_fake import KSERVE_SCHEMA, KubernetesFake
from tests.support.settings import test_settings
from tests.support.yarn_fake import serve

TOKEN = "test-token"
S = "/api/projects/demo/servings"
M = "/api/projects/demo/models"
NAMESPACE = namespace_for("demo")
WAIT_S = 30


def stand_in_model_server() -> FastAPI:
    """Plays the model server behind `status.url`: KServe's v1 protocol."""
    app = FastAPI()

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, body: dict) -> JSONResponse:
        instances = body.get("instances")
        if not isinstance(instances, list):
            return JSONResponse({"error": "instances must be a list"}, status_code=400)
        return JSONResponse({"predictions": [sum(row) for row in instances], "model": name})

    return app


@pytest.fixture(scope="module")
def model_server_url() -> Iterator[str]:
    with serve(stand_in_model_server()) as url:
        yield url


@pytest.fixture
def kfake() -> KubernetesFake:
    return KubernetesFake(token=TOKEN)


@pytest.fixture
def app(tmp_path: Path, db_url: str, kfake: KubernetesFake) -> Iterator[FastAPI]:
    with serve(kfake.build_app()) as url:
        token = tmp_path / "token"
        token.write_text(TOKEN)
        settings = test_settings(
            tmp_path / "data",
            db_url,
            kubernetes_backend="cluster",
            kubernetes_url=url,
            kubernetes_token_file=str(token),
            job_runner="kubernetes",
            hadoop_default_fs="hdfs://nn.example:8020",
            kubernetes_kserve_crd_schema=KSERVE_SCHEMA,
            serving_check_seconds=0.1,
            serving_start_timeout_seconds=WAIT_S,
        )
        application = create_app(settings)
        servers = application.state.runtime.backends.servers
        assert servers is not None
        servers.poll_seconds = 0.02
        yield application
        application.state.runtime.engine.dispose()


@pytest.fixture
def api(app: FastAPI) -> Iterator[Api]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api.with_actors(client)


def until_state(api: Api, name: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        body = api.call("scientist", "GET", f"{S}/{name}").json()
        if body["state"] in states:
            return body
        assert time.monotonic() < deadline, f"serving {name} never reached {states}: {body}"
        time.sleep(0.02)


def until_gone(kfake: KubernetesFake, name: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while name in kfake.names("inferenceservices", NAMESPACE):
        assert time.monotonic() < deadline, f"InferenceService {name} is still there"
        time.sleep(0.02)


def register(api: Api, name: str, framework: str = "sklearn") -> int:
    path = "model.joblib" if framework == "sklearn" else "predictor.py"
    assert api.upload("scientist", "demo", "Models", f"{name}/{path}", b"w").status_code == 201
    body = {"name": name, "framework": framework, "path": f"Models/{name}"}
    reply = api.call("scientist", "POST", M, json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["version"]


def ready(kfake: KubernetesFake, name: str, url: str) -> None:
    kfake.set_status(
        "inferenceservices",
        NAMESPACE,
        name,
        {
            "url": f"http://{name}-demo.example.com",  # the ingress's: not what is called
            "address": {"url": url},  # cluster-local: where the service predicts
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    )


def test_a_serving_runs_as_an_inference_service_and_any_instance_predicts(
    app: FastAPI, api: Api, kfake: KubernetesFake, model_server_url: str
) -> None:
    version = register(api, "iris")
    body = {"name": "iris", "model": "iris", "version": version, "instances": 2}
    created = api.call("scientist", "POST", S, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "STARTING"
    isvc = kfake.get("inferenceservices", NAMESPACE, "iris")
    assert isvc is not None  # validated by the fake too, as an API server with the CRD
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == "pvc://hops-datasets/Models/iris"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 2)
    assert isvc["metadata"]["annotations"]["hops.io/project-user"] == "demo__scientist"
    predict = f"{S}/iris:predict"
    early = api.call("scientist", "POST", predict, json={"instances": [[1]]})
    assert (early.status_code, early.json()["error"]["code"]) == (409, "serving_not_running")

    ready(kfake, "iris", model_server_url)
    until_state(api, "iris", "RUNNING")
    reply = api.call("owner", "POST", predict, json={"instances": [[1, 2], [3]]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": [3, 3], "model": "iris"}
    refused = api.call("scientist", "POST", predict, json={"instances": 7})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "code": "prediction_rejected",
        "message": "instances must be a list",
    }
    assert api.call("outsider", "POST", predict, json={"instances": []}).status_code == 404

    # the serving is watched by another instance: this one predicts through the URL too
    rt = app.state.runtime
    with rt.sessions() as session:
        row = session.scalars(select(Serving).where(Serving.name == "iris")).one()
        mine, row.instance = row.instance, "elsewhere:1:alive"
        session.commit()
    elsewhere = api.call("scientist", "POST", predict, json={"instances": [[5]]})
    assert elsewhere.status_code == 200 and elsewhere.json()["predictions"] == [5]
    with rt.sessions() as session:
        session.scalars(select(Serving).where(Serving.name == "iris")).one().instance = mine
        session.commit()

    kafka = rt.backends.kafka
    logged = [json.loads(v) for k, v in kafka.records("demo", inference_log.TOPIC) if k == b"iris"]
    assert [entry["response"]["status"] for entry in logged] == [200, 400, 200]
    assert logged[0]["response"]["body"] == {"predictions": [3, 3], "model": "iris"}
    assert logged[0]["member"] == "owner@example.org"

    stopped = api.call("scientist", "POST", f"{S}/iris/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "STOPPED"
    usage = stopped.json()["usage"]
    assert usage["core_seconds"] > 0 and usage["credits"] >= 1  # 1 core x 2 replicas x time
    quotas = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert quotas["compute_seconds"]["usage"] >= usage["credits"]  # charged to the project
    assert kfake.names("inferenceservices", NAMESPACE) == []
    assert ("inferenceservices", NAMESPACE, "iris", "Foreground") in kfake.deletions
    after = api.call("scientist", "POST", predict, json={"instances": [[1]]})
    assert after.status_code == 409

    restarted = api.call("owner", "POST", f"{S}/iris/start")
    assert restarted.status_code == 200 and restarted.json()["state"] == "STARTING"
    assert kfake.names("inferenceservices", NAMESPACE) == ["iris"]
    assert api.call("owner", "DELETE", f"{S}/iris").status_code == 204
    assert kfake.names("inferenceservices", NAMESPACE) == []
    assert api.call("owner", "GET", f"{S}/iris").status_code == 404
    feed = api.call("owner", "GET", "/api/projects/demo/activity?limit=500").json()["items"]
    actions = {i["action"] for i in feed}
    assert {"serving.create", "serving.predict", "serving.stop", "serving.delete"} <= actions


def test_quota_refusals_create_nothing_and_kserves_failure_is_shown(
    api: Api, kfake: KubernetesFake
) -> None:
    version = register(api, "big")
    # more than the namespace's quota holds at all (4 cores): 413, nothing recorded or sent
    body = {"name": "big", "model": "big", "version": version, "instances": 3}
    body["resources"] = {"cores": 2}
    writes = kfake.writes()
    too_big = api.call("scientist", "POST", S, json=body)
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"]["code"] == "kubernetes_quota_exceeded"
    # what it asks for fits, but running work holds the room: 409 from the quota's `used`
    quota = kfake.objects[("resourcequotas", NAMESPACE, QUOTA_NAME)]
    quota["status"]["used"] = {"requests.cpu": "3500m", "limits.cpu": "3500m"}
    full = api.call("scientist", "POST", S, json={**body, "instances": 1})
    assert full.status_code == 409, full.text
    assert full.json()["error"]["code"] == "namespace_quota_full"
    assert kfake.writes() == writes
    assert api.call("scientist", "GET", f"{S}/big").status_code == 404
    quota["status"]["used"] = {}

    # KServe cannot load the model: FAILED with its message, the InferenceService deleted
    created = api.call("scientist", "POST", S, json={**body, "instances": 1})
    assert created.status_code == 201, created.text
    kfake.set_status(
        "inferenceservices",
        NAMESPACE,
        "big",
        {
            "conditions": [{"type": "Ready", "status": "False", "reason": "PredictorNotReady"}],
            "modelStatus": {
                "transitionStatus": "BlockedByFailedLoad",
                "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
                "lastFailureInfo": {
                    "reason": "ModelLoadFailed",
                    "message": "could not unpickle model.joblib",
                },
            },
        },
    )
    failed = until_state(api, "big", "FAILED")
    assert "did not start" in failed["stop_reason"]
    assert "could not unpickle model.joblib" in failed["log_tail"]
    until_gone(kfake, "big")


def test_orphan_inference_services_are_deleted_those_of_active_servings_kept(
    app: FastAPI, api: Api, kfake: KubernetesFake, model_server_url: str
) -> None:
    rt = app.state.runtime
    version = register(api, "kept")
    body = {"name": "kept", "model": "kept", "version": version}
    assert api.call("scientist", "POST", S, json=body).status_code == 201
    ready(kfake, "kept", model_server_url)
    until_state(api, "kept", "RUNNING")
    assert api.call("scientist", "POST", S, json={**body, "name": "dead"}).status_code == 201
    # "dead" was run by an instance that is gone; "stray" has no serving at all
    with rt.sessions() as session:
        dead = rt.servings.get(
            session.scalars(select(Serving.id).where(Serving.name == "dead")).one()
        )
    assert dead is not None
    dead.stop.set()  # its watcher ends it (and records the end)...
    assert dead.done.wait(WAIT_S)
    with rt.sessions() as session:  # ...as if it had died with its process instead
        row = session.scalars(select(Serving).where(Serving.name == "dead")).one()
        row.state, row.instance = "RUNNING", "gone-host:1:dead"
        session.commit()
    stray = kfake.get("inferenceservices", NAMESPACE, "kept")
    assert stray is not None
    for name in ("dead", "stray"):
        obj = json.loads(json.dumps(stray))
        obj["metadata"] = {
            "name": name,
            "namespace": NAMESPACE,
            "labels": stray["metadata"]["labels"],
        }
        obj.pop("status", None)
        kfake.create("inferenceservices", NAMESPACE, obj)
    rt.servings.swept_at = None  # as at the service's start
    assert service.fail_orphans(rt) == 1
    assert kfake.names("inferenceservices", NAMESPACE) == ["kept"]
    assert api.call("scientist", "GET", f"{S}/dead").json()["state"] == "STOPPED"
    assert api.call("scientist", "GET", f"{S}/kept").json()["state"] == "RUNNING"

    # the project's deletion ends its servings: their watchers stop and delete them
    assert api.call("owner", "DELETE", "/api/projects/demo").status_code == 204
    deadline = time.monotonic() + WAIT_S
    while rt.servings.running():
        assert time.monotonic() < deadline, "the serving outlived its project"
        time.sleep(0.02)
    assert kfake.names("inferenceservices", NAMESPACE) == []


def test_embedded_a_prediction_on_another_instance_is_503_with_retry_after(
    tmp_path: Path, db_url: str
) -> None:
    """Embedded model servers listen on unix sockets only their instance reaches."""
    application = create_app(test_settings(tmp_path / "data", db_url))
    rt = application.state.runtime
    try:
        with TestClient(application, raise_server_exceptions=False) as client:
            api = Api.with_actors(client)
            version = register(api, "iris")
            with rt.sessions() as session:
                project_id = session.scalar(select(Project.id).where(Project.name == "demo"))
                alive = naive_utc(rt.clock.now())
                session.add(RunnerInstance(id="elsewhere:2:alive", heartbeat_at=alive))
                session.add(
                    Serving(
                        project_id=project_id,
                        name="iris",
                        model="iris",
                        version=version,
                        instances=1,
                        cores=1,
                        memory_mb=1024,
                        gpus=0,
                        state="RUNNING",
                        instance="elsewhere:2:alive",
                    )
                )
                session.commit()
            reply = api.call("scientist", "POST", f"{S}/iris:predict", json={"instances": []})
            assert reply.status_code == 503
            assert reply.json()["error"]["code"] == "serving_elsewhere"
            assert "unix sockets" in reply.json()["error"]["message"]
            assert reply.headers["retry-after"] == "1"
            stop = api.call("scientist", "POST", f"{S}/iris/stop")
            assert (stop.status_code, stop.headers["retry-after"]) == (503, "1")
    finally:
        rt.engine.dispose()
