"""Notebook servers and servings in a cluster (`backends/runner/kubernetes_servers.py`)
against the API server fake: every object validated before it is sent (official schemas;
KServe's CRD schema) and again by the fake, the namespace's quota checked first with the
job runner's check, nothing half-created left behind, stop and orphan deletion, a serving
waited for until Ready and predicted through its `status.url`.

No cluster, controller or KServe runs here: pod states and the InferenceService's status are
what a controller would write (`set_status`), the model server behind `status.url` is a
stand-in speaking KServe's v1 protocol.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.kubernetes import KubeQuota, namespace_for
from hopsworks_api.backends.kubernetes.base import QUOTA_NAME, secret_name
from hopsworks_api.backends.kubernetes.cluster import ClusterKubernetes
from hopsworks_api.backends.runner.kubernetes import KubernetesRunner
from hopsworks_api.backends.runner.kubernetes_servers import (
    INFERENCE_SERVICE,
    KubernetesServers,
    NotebookStatus,
)
from hopsworks_api.errors import BadRequest, Conflict
from hopsworks_api.notebooks import cluster as notebooks
from hopsworks_api.notebooks.proxy import forward_http, forward_websocket
from hopsworks_api.notebooks.service import ProxyTarget
from hopsworks_api.servings import cluster as servings
from tests.support.kubernetes_fake import KSERVE_SCHEMA, KubernetesFake
from tests.support.yarn_fake import serve

TOKEN = "test-token"
PROJECT = "demo_x"
NAMESPACE = namespace_for(PROJECT)
QUOTA = KubeQuota(cpu="8", memory="32Gi", gpus=2)
PLATFORM = [("10.0.0.5", 8020), ("10.0.0.0/24", 9092)]
NOTEBOOK_PLURALS = ("pods", "services", "networkpolicies", "secrets")


@pytest.fixture
def kfake() -> KubernetesFake:
    return KubernetesFake(token=TOKEN)


@pytest.fixture
def servers(tmp_path: Path, kfake: KubernetesFake) -> Iterator[KubernetesServers]:
    with serve(kfake.build_app()) as url:
        backend = ClusterKubernetes(url, token=TOKEN)
        backend.ensure_project(PROJECT, QUOTA)
        backend.close()
        runner = KubernetesRunner(
            tmp_path / "runs",
            api_url=url,
            token=TOKEN,
            default_fs="hdfs://nn.example:8020",
            read_app=lambda *_: b"",
            timeout=2.0,
            connect_timeout=1.0,
        )
        yield KubernetesServers(
            runner, crd_schemas={INFERENCE_SERVICE: KSERVE_SCHEMA}, poll_seconds=0.02
        )
        runner.close()


def notebook(username: str = "alice", cores: int = 1) -> notebooks.NotebookPodSpec:
    return notebooks.NotebookPodSpec(
        project=PROJECT,
        username=username,
        image="registry.example.org/hops/jupyter:4.2",
        base_url=f"/api/projects/{PROJECT}/jupyter/proxy/",
        cores=cores,
        memory_mb=1024,
        datasets_claim="hops-datasets",
        writable=["Jupyter"],
        readable=["Resources", "Models"],
    )


def objects(username: str = "alice", cores: int = 1) -> list[dict]:
    return notebooks.server_objects(notebook(username, cores), QUOTA, PLATFORM, "jtok-" + username)


def notebook_names(kfake: KubernetesFake) -> dict[str, list[str]]:
    return {plural: kfake.names(plural, NAMESPACE) for plural in NOTEBOOK_PLURALS}


def test_a_notebook_server_is_fenced_and_reached_by_its_service(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    url = servers.start_notebook(objects())
    assert url == f"http://jupyter-alice.{NAMESPACE}.svc:{notebooks.JUPYTER_PORT}"
    assert notebook_names(kfake) == {
        "pods": ["jupyter-alice"],
        "services": ["jupyter-alice"],
        "networkpolicies": ["jupyter-alice"],
        "secrets": ["jupyter-alice-token"],
    }
    # the NetworkPolicy exists before the pod: nothing runs unfenced
    posts = [path for method, path in kfake.requests if method == "POST"]
    assert posts.index(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies") < (
        posts.index(f"/api/v1/namespaces/{NAMESPACE}/pods")
    )
    pod = kfake.get("pods", NAMESPACE, "jupyter-alice")
    assert pod is not None
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == secret_name("alice")
    policy = kfake.get("networkpolicies", NAMESPACE, "jupyter-alice")
    assert policy is not None and policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    cidrs = [rule["to"][0].get("ipBlock", {}).get("cidr") for rule in policy["spec"]["egress"]]
    assert cidrs[:2] == ["10.0.0.5/32", "10.0.0.0/24"]

    status = servers.notebook_status(NAMESPACE, "jupyter-alice")
    assert status is not None and not status.ready
    kfake.set_status(
        "pods",
        NAMESPACE,
        "jupyter-alice",
        {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    )
    assert servers.notebook_status(NAMESPACE, "jupyter-alice") == NotebookStatus(
        phase="Running", ready=True
    )


def test_stop_deletes_the_members_objects_and_orphans_go_after_a_restart(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    servers.start_notebook(objects("alice"))
    servers.start_notebook(objects("bob"))
    servers.stop_notebook(NAMESPACE, "alice")
    assert notebook_names(kfake)["pods"] == ["jupyter-bob"]
    assert ("pods", NAMESPACE, "jupyter-alice", "Foreground") in kfake.deletions
    assert "jupyter-alice-token" not in kfake.names("secrets", NAMESPACE)
    assert servers.notebook_status(NAMESPACE, "jupyter-alice") is None

    # bob's server is known to the database: kept; then it is not: deleted
    assert servers.delete_orphan_notebooks([NAMESPACE], keep={(NAMESPACE, "bob")}) == []
    deleted = servers.delete_orphan_notebooks([NAMESPACE], keep=set())
    assert f"Pod {NAMESPACE}/jupyter-bob" in deleted
    assert notebook_names(kfake) == {plural: [] for plural in NOTEBOOK_PLURALS}
    # the member's certificate Secret (the provisioning system's) is not a notebook object
    assert kfake.names("secrets", NAMESPACE) == []


def test_the_quota_is_checked_before_anything_is_created(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    kfake.objects[("resourcequotas", NAMESPACE, QUOTA_NAME)]["status"]["used"] = {
        "requests.cpu": "7500m",
        "limits.cpu": "7500m",
    }
    writes = kfake.writes()
    with pytest.raises(Conflict) as refused:
        servers.start_notebook(objects(cores=1))
    assert refused.value.code == "namespace_quota_full"
    assert kfake.writes() == writes


def test_an_invalid_object_is_refused_before_it_is_sent(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    bad = objects()
    bad[2]["spec"]["containers"][0]["gpu"] = 1  # not a Container field
    writes = kfake.writes()
    with pytest.raises(BadRequest):
        servers.start_notebook(bad)
    isvc = serving_object()
    isvc["spec"]["predictor"]["model"]["modelFormat"]["flavour"] = "x"
    with pytest.raises(BadRequest) as refused:
        servers.start_serving(isvc)
    assert refused.value.code == "invalid_kubernetes_object"
    # no CRD schema configured: an InferenceService is never sent unvalidated
    unchecked = KubernetesServers(servers.runner, crd_schemas={})
    with pytest.raises(BadRequest):
        unchecked.start_serving(serving_object())
    assert kfake.writes() == writes


def test_a_failed_creation_leaves_nothing_behind(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    service = copy.deepcopy(objects()[3])
    kfake.create("services", NAMESPACE, service)  # someone else's, in the way
    with pytest.raises(Conflict):
        servers.start_notebook(objects())
    assert notebook_names(kfake) == {
        "pods": [],
        "services": ["jupyter-alice"],
        "networkpolicies": [],
        "secrets": [],
    }


def serving_object(instances: int = 2, gpus: int = 1) -> dict:
    spec = servings.ClusterServing(
        project=PROJECT,
        username="alice",
        name="iris",
        framework="sklearn",
        directory="iris/1",
        instances=instances,
        cores=1,
        memory_mb=1024,
        gpus=gpus,
        datasets_claim="hops-datasets",
    )
    return servings.inference_service(spec, QUOTA)


def model_server() -> FastAPI:
    """Stands in for the model server behind `status.url` (KServe's v1 protocol)."""
    app = FastAPI()

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, body: dict) -> JSONResponse:
        instances = body.get("instances")
        if not isinstance(instances, list):
            return JSONResponse({"error": "instances must be a list"}, status_code=400)
        return JSONResponse({"model": name, "predictions": [len(row) for row in instances]})

    return app


def test_a_serving_is_waited_for_predicted_through_its_url_and_stopped(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    servers.start_serving(serving_object())
    assert kfake.names("inferenceservices", NAMESPACE) == ["iris"]
    status = servers.serving_status(NAMESPACE, "iris")
    assert status is not None and not status.ready and status.url is None
    kfake.set_status(
        "inferenceservices",
        NAMESPACE,
        "iris",
        {"conditions": [{"type": "Ready", "status": "False", "reason": "PredictorNotReady"}]},
    )
    with pytest.raises(BackendUnavailable, match="PredictorNotReady"):
        servers.wait_serving(NAMESPACE, "iris", timeout_s=0.05)

    with serve(model_server()) as url:
        kfake.set_status(
            "inferenceservices",
            NAMESPACE,
            "iris",
            {"url": url, "conditions": [{"type": "Ready", "status": "True"}]},
        )
        assert servers.wait_serving(NAMESPACE, "iris", timeout_s=5) == url
        answer = servers.predict(url, "iris", b'{"instances": [[1, 2], [3, 4, 5]]}')
        assert answer.status_code == 200
        assert answer.json() == {"model": "iris", "predictions": [2, 3]}
        refused = servers.predict(url, "iris", b'{"instances": 7}')
        assert refused.status_code == 400

    servers.stop_serving(NAMESPACE, "iris")
    assert kfake.names("inferenceservices", NAMESPACE) == []
    with pytest.raises(BackendUnavailable, match="deleted"):
        servers.wait_serving(NAMESPACE, "iris", timeout_s=1)


def test_a_serving_beyond_the_namespaces_gpus_is_refused(
    kfake: KubernetesFake, servers: KubernetesServers
) -> None:
    kfake.objects[("resourcequotas", NAMESPACE, QUOTA_NAME)]["status"]["used"] = {
        "requests.nvidia.com/gpu": "1"
    }
    with pytest.raises(Conflict):
        servers.start_serving(serving_object(instances=2, gpus=1))
    assert kfake.names("inferenceservices", NAMESPACE) == []


def jupyter_stand_in() -> FastAPI:
    """Answers what the proxy sent it: the path, and whose token."""
    app = FastAPI()

    @app.get("/api/contents/{path:path}")
    async def contents(path: str, request: Request) -> dict:
        return {"path": path, "authorization": request.headers.get("authorization")}

    @app.websocket("/api/kernels/k1/channels")
    async def channels(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{text} {websocket.headers.get('authorization')}")
        await websocket.close()

    return app


def test_the_proxy_reaches_a_server_by_its_service_url() -> None:
    """A server in a cluster is reached over TCP (`ProxyTarget.url`), HTTP and websockets,
    with Jupyter's token added and the member's credentials dropped."""
    with serve(jupyter_stand_in()) as url:
        target = ProxyTarget(socket_path=None, token="jtok", url=url)

        async def http(request: StarletteRequest) -> Response:
            return await forward_http(request, target)

        async def ws(websocket: WebSocket) -> None:
            await forward_websocket(websocket, target)

        front = Starlette(
            routes=[
                Route("/api/contents/{path:path}", http),
                WebSocketRoute("/api/kernels/k1/channels", ws),
            ]
        )
        with TestClient(front) as client:
            answer = client.get(
                "/api/contents/Jupyter/a.ipynb", headers={"Authorization": "Bearer member"}
            )
            assert answer.json() == {"path": "Jupyter/a.ipynb", "authorization": "token jtok"}
            with client.websocket_connect("/api/kernels/k1/channels") as socket:
                socket.send_text("hello")
                assert socket.receive_text() == "hello token jtok"
