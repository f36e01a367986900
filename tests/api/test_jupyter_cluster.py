"""Notebook servers on Kubernetes through the service (HOPS_JOB_RUNNER=kubernetes), against
the API server contract fake (`tests/support/kubernetes_fake.py`).

No cluster or kubelet runs here: the Pod becomes Ready or Failed only when a test writes its
status as the kubelet would (`set_status`), and Jupyter behind the Service is a stand-in
(the Service's cluster DNS name does not resolve here, so `service_url` is pointed at it).
What is real: every object the service creates, validated by the fake with the official
schemas, the quota checks, the watcher's polling and deletion, the proxy's HTTP round trip
with Jupyter's token from the Secret, charging, and the reconciliation's deletions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from hopsworks_api.backends.kubernetes import namespace_for
from hopsworks_api.backends.kubernetes.base import QUOTA_NAME, validate_manifest
from hopsworks_api.backends.runner.kubernetes_servers import KubernetesServers
from hopsworks_api.clock import ManualClock
from hopsworks_api.db.base import utcnow
from hopsworks_api.notebooks import cluster, service
from hopsworks_api.notebooks.models import NotebookServer
from hopsworks_api.users.models import User
from tests.support.kubernetes_fake import KubernetesFake
from tests.support.yarn_fake import serve

TOKEN = "test-token"
P = "/api/projects/demo/jupyter"
BASE = "/api/projects/demo/jupyter/proxy"
NS = namespace_for("demo")
PLURALS = ("pods", "services", "networkpolicies", "secrets")
WAIT_S = 20


@pytest.fixture
def kfake() -> KubernetesFake:
    return KubernetesFake(token=TOKEN)


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
        kubernetes_platform_services=["10.0.0.5:8181", "10.0.1.0/24:9092"],
        notebook_check_seconds=0.2,
        notebook_start_timeout_seconds=WAIT_S,
    )


@dataclass
class Jupyter:
    """The stand-in behind every notebook Service: what it answers and what it was sent."""

    url: str
    clock: ManualClock
    last_activity: str = ""
    seen: list[dict] = field(default_factory=list)


def tokens(kfake: KubernetesFake) -> set[str]:
    """Jupyter's tokens, as the service stored them in the notebook Secrets."""
    return {
        obj["stringData"]["token"]
        for (plural, _, name), obj in list(kfake.objects.items())
        if plural == "secrets" and name.startswith("jupyter-")
    }


def stand_in(kfake: KubernetesFake, state: Jupyter) -> FastAPI:
    app = FastAPI()

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return any(given == f"token {token}" for token in tokens(kfake))

    @app.get(f"{BASE}/api/status")
    async def status(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"message": "Forbidden"}, status_code=403)
        return JSONResponse({"last_activity": state.last_activity, "kernels": 0})

    @app.get(BASE + "/api/contents/{path:path}")
    async def contents(path: str, request: Request) -> JSONResponse:
        sent = {k: request.headers.get(k) for k in ("authorization", "x-api-key", "cookie")}
        state.seen.append({"path": path, "authorized": authorized(request), **sent})
        return JSONResponse({"name": path, "type": "directory", "content": []})

    return app


@pytest.fixture
def jupyter(app, kfake: KubernetesFake) -> Iterator[Jupyter]:  # type: ignore[no-untyped-def]
    rt = app.state.runtime
    clock = ManualClock()
    rt.clock = clock
    servers: KubernetesServers = rt.backends.servers
    assert isinstance(servers, KubernetesServers)
    servers.poll_seconds = 0.02
    state = Jupyter(url="", clock=clock)
    state.last_activity = clock.now().isoformat()
    with serve(stand_in(kfake, state)) as url:
        state.url = url
        # the Service's DNS name resolves in a cluster only: the proxy reaches the stand-in
        servers.service_url = lambda _service: url  # type: ignore[method-assign]
        yield state


def until(condition, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {WAIT_S}s")


def notebook_objects(kfake: KubernetesFake, username: str) -> dict[str, list[str]]:
    return {
        plural: [
            name
            for name in kfake.names(plural, NS)
            if (kfake.get(plural, NS, name) or {})["metadata"]
            .get("labels", {})
            .get(cluster.LABEL_USER)
            == username
            and name.startswith(cluster.name(username))
        ]
        for plural in PLURALS
    }


def nothing_of(kfake: KubernetesFake, username: str) -> bool:
    return not any(notebook_objects(kfake, username).values())


def username(app, email: str) -> str:  # type: ignore[no-untyped-def]
    with app.state.runtime.read_sessions() as session:
        return session.scalar(select(User.username).where(User.email == email))


def stopped_row(app, user: str) -> NotebookServer | None:  # type: ignore[no-untyped-def]
    with app.state.runtime.read_sessions() as session:
        row = session.scalar(select(NotebookServer).join(User).where(User.username == user))
        return row if row is not None and row.state == "STOPPED" else None


def state_of(api, who: str, *states: str) -> dict:  # type: ignore[no-untyped-def]
    return until(
        lambda: (body := api.call(who, "GET", P).json())["state"] in states and body,
        f"{who}'s server {'/'.join(states)}",
    )


def make_ready(kfake: KubernetesFake, user: str) -> None:
    kfake.set_status(
        "pods",
        NS,
        cluster.name(user),
        {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    )


def test_a_server_is_a_fenced_pod_reached_through_the_proxy_and_deleted_on_stop(
    app, api, kfake: KubernetesFake, jupyter: Jupyter
):  # type: ignore[no-untyped-def]
    user = username(app, "scientist@example.org")
    body = {"resources": {"cores": 1, "memory_mb": 1024}}
    started = api.call("scientist", "POST", P, json=body)
    assert started.status_code == 201, started.text
    assert started.json()["state"] == "STARTING"
    name = cluster.name(user)
    assert notebook_objects(kfake, user) == {
        "pods": [name],
        "services": [name],
        "networkpolicies": [name],
        "secrets": [cluster.token_secret(user)],
    }
    for plural in PLURALS:  # what the API server holds is valid for the official schemas
        for found in notebook_objects(kfake, user)[plural]:
            validate_manifest(kfake.get(plural, NS, found))  # type: ignore[arg-type]
    pod = kfake.get("pods", NS, name)
    assert pod is not None
    mounts = {
        m["mountPath"]: m.get("readOnly") for m in pod["spec"]["containers"][0]["volumeMounts"]
    }
    assert mounts["/hopsfs/Jupyter"] is False and mounts["/credentials"] is True
    assert mounts["/hopsfs/Logs"] is True  # a data scientist may not write the logs
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1024Mi"}
    policy = kfake.get("networkpolicies", NS, name)
    assert policy is not None
    allowed = [
        (r["to"][0].get("ipBlock", {}).get("cidr"), r["ports"][0]["port"])
        for r in policy["spec"]["egress"]
    ]
    assert allowed[:2] == [("10.0.0.5/32", 8181), ("10.0.1.0/24", 9092)]
    # the real URL is the Service's cluster DNS name (here pointed at the stand-in)
    service_obj = kfake.get("services", NS, name)
    assert KubernetesServers.service_url(service_obj) == f"http://{name}.{NS}.svc:8888"  # type: ignore[arg-type]

    # not Ready yet: STARTING, and the proxy has nowhere to go
    assert api.call("scientist", "GET", P).json()["state"] == "STARTING"
    assert api.call("scientist", "GET", f"{BASE}/api/contents/").status_code == 409
    make_ready(kfake, user)
    state_of(api, "scientist", "RUNNING")

    reply = api.call(
        "scientist",
        "GET",
        f"{BASE}/api/contents/work",
        headers={"Cookie": "session=not-for-jupyter"},
    )
    assert reply.status_code == 200 and reply.json()["name"] == "work"
    secret = kfake.get("secrets", NS, cluster.token_secret(user))
    assert secret is not None
    # Jupyter's own token, from the Secret; nothing of the member's credentials
    assert jupyter.seen == [
        {
            "path": "work",
            "authorized": True,
            "authorization": f"token {secret['stringData']['token']}",
            "x-api-key": None,
            "cookie": None,
        }
    ]
    assert api.tokens["scientist"] not in str(jupyter.seen)
    assert api.call("owner", "GET", f"{BASE}/api/contents/").status_code == 404  # not theirs

    assert api.call("scientist", "DELETE", P).status_code == 204
    assert nothing_of(kfake, user)
    assert ("pods", NS, name, "Foreground") in kfake.deletions
    stopped = api.call("scientist", "GET", P).json()
    assert (stopped["state"], stopped["stop_reason"]) == ("STOPPED", "stopped by its member")
    assert stopped["usage"]["credits"] >= 1  # cores x seconds, one credit per core-second begun
    assert api.call("scientist", "GET", f"{BASE}/api/contents/").status_code == 404


def test_a_pod_that_fails_is_failed_with_its_log_tail_and_deleted(
    app, api, kfake: KubernetesFake, jupyter: Jupyter
):  # type: ignore[no-untyped-def]
    user = username(app, "scientist@example.org")
    assert api.call("scientist", "POST", P, json={}).status_code == 201
    kfake.set_log(NS, cluster.name(user), b"Traceback ...\nOSError: no space left on device\n")
    kfake.set_status("pods", NS, cluster.name(user), {"phase": "Failed", "message": "Error"})
    failed = state_of(api, "scientist", "FAILED", "STOPPED")
    assert failed["state"] == "FAILED"
    assert failed["stop_reason"] == "the server did not start: its pod ended (Failed: Error)"
    assert "no space left on device" in failed["log_tail"]
    assert nothing_of(kfake, user)
    assert app.state.runtime.notebooks.running() == set()


def test_a_start_beyond_the_namespaces_quota_is_refused_and_creates_nothing(
    app, api, kfake: KubernetesFake, jupyter: Jupyter
):  # type: ignore[no-untyped-def]
    writes = kfake.writes()
    # more than the namespace may ever hold (project_serving_cpu = 4)
    too_big = api.call("scientist", "POST", P, json={"resources": {"cores": 8}})
    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"]["code"] == "kubernetes_quota_exceeded"
    assert api.call("scientist", "GET", P).status_code == 404  # nothing recorded either
    # running work holds the rest of the namespace's CPU
    quota = kfake.objects[("resourcequotas", NS, QUOTA_NAME)]
    quota["status"]["used"].update({"requests.cpu": "3500m", "limits.cpu": "3500m"})
    full = api.call("scientist", "POST", P, json={"resources": {"cores": 1}})
    assert full.status_code == 409, full.text
    assert full.json()["error"]["code"] == "namespace_quota_full"
    assert kfake.writes() == writes
    assert api.call("scientist", "GET", P).json()["state"] == "FAILED"


def test_reconciliation_deletes_what_no_running_server_accounts_for(
    app, api, kfake: KubernetesFake, jupyter: Jupyter
):  # type: ignore[no-untyped-def]
    rt = app.state.runtime
    servers: KubernetesServers = rt.backends.servers
    scientist, owner = (username(app, f"{who}@example.org") for who in ("scientist", "owner"))
    assert api.call("scientist", "POST", P, json={}).status_code == 201  # running here: kept

    def stray(user: str) -> None:
        spec = cluster.NotebookPodSpec(
            project="demo",
            username=user,
            image="example/jupyter:1",
            base_url=f"{BASE}/",
            cores=1,
            memory_mb=512,
            datasets_claim="hops-datasets",
            writable=["Jupyter"],
            readable=[],
        )
        servers.start_notebook(cluster.server_objects(spec, None, [], "t-" + user))

    stray("ghost")  # objects no row accounts for (a crash between creating and recording)
    stray(owner)  # the owner's server, run by a service process that is gone
    with rt.sessions() as session:
        owner_id = session.scalar(select(User.id).where(User.username == owner))
        project_id = session.scalar(
            select(NotebookServer.project_id).where(NotebookServer.state == "STARTING")
        )
        now = utcnow()
        session.add(
            NotebookServer(
                project_id=project_id,
                user_id=owner_id,
                state="RUNNING",
                environment="default",
                idle_timeout_minutes=60,
                cores=1,
                memory_mb=512,
                instance="elsewhere:1:gone",
                started_at=now,
                charged_until=now,
            )
        )
        session.commit()

    assert service.reconcile(rt) == 1
    assert nothing_of(kfake, "ghost") and nothing_of(kfake, owner)
    assert notebook_objects(kfake, scientist)["pods"] == [cluster.name(scientist)]
    ended = api.call("owner", "GET", P).json()
    assert (ended["state"], ended["stop_reason"]) == ("STOPPED", service.RESTARTED)


def test_an_idle_server_is_culled_and_a_removed_members_server_deleted(
    app, api, kfake: KubernetesFake, jupyter: Jupyter
):  # type: ignore[no-untyped-def]
    user = username(app, "scientist@example.org")
    assert api.call("scientist", "POST", P, json={"idle_timeout_minutes": 1}).status_code == 201
    make_ready(kfake, user)
    state_of(api, "scientist", "RUNNING")
    jupyter.clock.advance(120)  # Jupyter's last activity is now two minutes old
    culled = state_of(api, "scientist", "STOPPED", "FAILED")
    assert culled["stop_reason"] == "idle for more than 1 minute(s)"
    assert nothing_of(kfake, user)

    jupyter.last_activity = jupyter.clock.now().isoformat()
    assert api.call("scientist", "POST", P, json={}).status_code == 201
    make_ready(kfake, user)
    state_of(api, "scientist", "RUNNING")
    removed = api.call("owner", "DELETE", "/api/projects/demo/members/scientist@example.org")
    assert removed.status_code == 204
    # The watcher deletes the objects first and records STOPPED after: wait for the record.
    row = until(lambda: stopped_row(app, user), "the removed member's server STOPPED")
    assert nothing_of(kfake, user)
    assert row.stop_reason == "its member may no longer run work in the project"
