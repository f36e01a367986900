"""JupyterLab in a project, end to end: a real server started through the API in the
job runner's sandbox, reached only through the service's proxy (HTTP and a kernel's
websocket), refused to everyone but its member, charged, stopped and culled.

Starting JupyterLab takes seconds here, so one server is started per database and the
tests of this module share it, in order: each test leaves it as the next one expects.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.testclient import WebSocketDenialResponse

from hopsworks_api.backends.kubernetes.base import KubeQuota, validate_manifest
from hopsworks_api.clock import ManualClock, naive_utc
from hopsworks_api.errors import BadRequest, PayloadTooLarge
from hopsworks_api.jobs.models import RunnerInstance
from hopsworks_api.main import create_app
from hopsworks_api.notebooks import cluster, service
from hopsworks_api.notebooks.models import NotebookServer
from hopsworks_api.users.models import User
from tests.conftest import BACKENDS
from tests.support.api import Api
from tests.support.sandbox_probe import HELPERS
from tests.support.settings import test_settings

P = "/api/projects/demo/jupyter"
PROXY = f"{P}/proxy"
BAD_PORT = "--ServerApp.port=not-a-port"
DEADLINE_S = 90  # a cold JupyterLab start on a busy 2-core machine

PROBE = (
    HELPERS
    + """
print(json.dumps({
    "read": open(f"{d}/Resources/data/in.txt").read(),
    "datasets": sorted(os.listdir(d)),
    "write_jupyter": can_write("Jupyter"),
    "write_logs": can_write("Logs"),
    "sees_other_project": os.path.exists(OTHER),
    "sees_storage_root": os.path.exists(ROOT),
    "network": network(),
    "user": os.environ["HOPS_USER"],
    "credentials": sorted(os.listdir(os.environ["HOPS_CREDENTIALS_DIR"])),
}))
"""
)


@dataclass
class Env:
    api: Api
    app: FastAPI
    client: TestClient
    clock: ManualClock


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("nb")
    if request.param == "sqlite":
        url, cleanup = f"sqlite:///{data / 'hops.db'}", None
    else:
        server = request.getfixturevalue("mariadb")
        name = f"t_{uuid.uuid4().hex[:16]}"
        url, cleanup = server.create_database(name), lambda: server.drop_database(name)
    settings = test_settings(data / "data", url, notebook_check_seconds=0.2)
    app = create_app(settings)
    clock = ManualClock()
    app.state.runtime.clock = clock
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(Api.with_actors(client), app, client, clock)
    app.state.runtime.engine.dispose()
    if cleanup:
        cleanup()


def until_state(api: Api, who: str, *states: str, url: str = P) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        body = api.call(who, "GET", url).json()
        if body["state"] in states:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} never reached {states}: {body}")


def run_code(env: Env, who: str, kernel: str, code: str) -> str:
    """Execute `code` in the kernel over the proxied websocket; its stdout."""
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "username": who,
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }
    url = f"{PROXY}/api/kernels/{kernel}/channels?session_id={session}"
    out: list[str] = []
    with env.client.websocket_connect(url, headers=env.api.headers(who)) as ws:
        ws.send_text(json.dumps(request))
        for _ in range(1000):  # a bounded conversation, never an endless wait
            message = json.loads(ws.receive_text())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream":
                out.append(message["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return "".join(out)
    raise AssertionError(f"no answer from kernel {kernel}: {out}")


def test_a_member_starts_and_reaches_their_own_server(env: Env):
    api = env.api
    assert api.upload("scientist", "demo", "Resources", "data/in.txt", b"hello").status_code == 201
    assert api.upload("scientist", "demo", "Jupyter", "notes.txt", b"n").status_code == 201
    reply = api.call("scientist", "POST", P, json={"idle_timeout_minutes": 5})
    assert reply.status_code == 201, reply.text
    assert reply.json()["state"] == "STARTING" and reply.json()["url"] == f"{PROXY}/"
    again = api.call("scientist", "POST", P, json={})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "notebook_running")

    running = until_state(api, "scientist", "RUNNING", "FAILED")
    assert running["state"] == "RUNNING", json.dumps(running)
    listing = api.call("scientist", "GET", f"{PROXY}/api/contents")
    assert listing.status_code == 200, listing.text
    assert [item["name"] for item in listing.json()["content"]] == ["notes.txt"]
    # edits land in the Jupyter dataset at once
    saved = api.call(
        "scientist",
        "PUT",
        f"{PROXY}/api/contents/made.txt",
        json={"type": "file", "format": "text", "content": "from jupyter"},
    )
    assert saved.status_code == 201, saved.text
    assert api.download("owner", "demo", "Jupyter", "made.txt").text == "from jupyter"


def test_a_kernel_over_the_proxied_websocket_sees_only_its_project(env: Env):
    api = env.api
    storage_root = env.app.state.runtime.settings.storage_root
    assert api.call("outsider", "POST", "/api/projects", json={"name": "other"}).status_code == 201
    assert api.upload("outsider", "other", "Resources", "secret.txt", b"no").status_code == 201
    other = storage_root / "Projects" / "other" / "Resources" / "secret.txt"
    assert other.exists()

    kernel = api.call("scientist", "POST", f"{PROXY}/api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    code = f"OTHER = {str(other)!r}\nROOT = {str(storage_root)!r}\n{PROBE}"
    seen = json.loads(run_code(env, "scientist", kernel.json()["id"], code))
    assert seen["read"] == "hello"
    assert "Jupyter" in seen["datasets"] and "other" not in " ".join(seen["datasets"])
    assert (seen["write_jupyter"], seen["write_logs"]) == (True, False)
    assert not seen["sees_other_project"] and not seen["sees_storage_root"]
    assert seen["network"] is False
    assert seen["user"] == "demo__scientist"
    assert {"certificate.pem", "keystore.p12"} <= set(seen["credentials"])


def test_nobody_else_reaches_the_server(env: Env):
    api = env.api
    # another member of the project addresses only their own server, which is not there
    for who, status in (("owner", 404), ("outsider", 404), (None, 401)):
        reply = api.call(who, "GET", f"{PROXY}/api/contents")
        assert reply.status_code == status and "error" in reply.json(), (who, reply.text)
        with (
            pytest.raises(WebSocketDenialResponse) as refused,
            env.client.websocket_connect(
                f"{PROXY}/api/kernels/x/channels", headers=api.headers(who)
            ),
        ):
            pass
        assert refused.value.status_code == status
        assert "error" in json.loads(refused.value.content)
    assert api.call("owner", "GET", P).status_code == 404
    assert api.call("outsider", "GET", P).status_code == 404
    # data owners see (and may stop) every member's server; data scientists do not
    servers = api.call("owner", "GET", f"{P}/servers").json()["items"]
    assert [(s["user"], s["state"]) for s in servers] == [("scientist@example.org", "RUNNING")]
    assert api.call("scientist", "GET", f"{P}/servers").status_code == 403
    stop_owner = api.call("scientist", "DELETE", f"{P}/servers/owner@example.org")
    assert stop_owner.status_code == 403
    # the member's credentials never reach Jupyter: a token of its own does
    live = env.app.state.runtime.notebooks.get(
        next(iter(env.app.state.runtime.notebooks.running()))
    )
    assert live.token not in json.dumps(api.call("scientist", "GET", P).json())


def test_bad_starts_are_refused(env: Env, monkeypatch: pytest.MonkeyPatch):
    api = env.api
    for body, status in (
        ({"environment": "bad name"}, 422),
        ({"idle_timeout_minutes": 0}, 422),
        ({"resources": {"cores": 0}}, 422),
        ({"environment": "missing"}, 404),
    ):
        reply = api.call("owner", "POST", P, json=body)
        assert (reply.status_code, "error" in reply.json()) == (status, True), (body, reply.text)
    assert api.call("outsider", "POST", P, json={}).status_code == 404
    assert api.call("owner", "DELETE", P).status_code == 404  # none to stop
    # an environment without JupyterLab: the system's interpreter
    monkeypatch.setattr(env.app.state.runtime.settings, "default_python", Path("/usr/bin/python3"))
    reply = api.call("owner", "POST", P, json={})
    assert (reply.status_code, reply.json()["error"]["code"]) == (400, "jupyterlab_missing")
    assert api.call("owner", "GET", P).status_code == 404  # nothing half-created


def test_a_server_that_cannot_start_fails_with_its_log_and_leaves_nothing(
    env: Env, monkeypatch: pytest.MonkeyPatch
):
    api = env.api
    command = service._command
    monkeypatch.setattr(service, "_command", lambda *a: [*command(*a), BAD_PORT])
    assert api.call("owner", "POST", P, json={}).status_code == 201
    failed = until_state(api, "owner", "FAILED", "STOPPED")
    assert failed["state"] == "FAILED" and "not-a-port" in failed["log_tail"]
    assert failed["stop_reason"].startswith("the server did not start")
    # no process and no run directory left: only the scientist's server runs
    rt = env.app.state.runtime
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if BAD_PORT in (p.info["cmdline"] or [])
    ]
    (scientists,) = [rt.notebooks.get(i) for i in rt.notebooks.running()]
    runs = rt.settings.backends_dir / "runs"
    assert [p for p in runs.iterdir() if p.name.startswith("notebook-")] == [
        scientists.handle.run_dir
    ]


def test_a_member_stops_their_server_while_it_starts(env: Env):
    api = env.api
    assert api.call("owner", "POST", P, json={}).status_code == 201
    assert api.call("owner", "DELETE", P).status_code == 204
    stopped = api.call("owner", "GET", P).json()
    assert (stopped["state"], stopped["stop_reason"]) == ("STOPPED", "stopped by its member")
    assert len(env.app.state.runtime.notebooks.running()) == 1


def test_a_server_does_not_outlive_its_members_membership(env: Env):
    api = env.api
    api.register("analyst")
    api.add_member("owner", "demo", "analyst", "data_scientist")
    assert api.call("analyst", "POST", P, json={}).status_code == 201
    removed = api.call("owner", "DELETE", "/api/projects/demo/members/analyst@example.org")
    assert removed.status_code == 204
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        servers = api.call("owner", "GET", f"{P}/servers").json()["items"]
        (analysts,) = [s for s in servers if s["user"] == "analyst@example.org"]
        if analysts["state"] in ("STOPPED", "FAILED"):
            break
        time.sleep(0.1)
    assert analysts["state"] == "STOPPED", analysts
    assert analysts["stop_reason"] == "its member may no longer run work in the project"
    assert len(env.app.state.runtime.notebooks.running()) == 1  # the scientist's only


def test_servers_of_a_dead_instance_are_ended_those_of_a_live_one_kept(env: Env):
    rt = env.app.state.runtime
    gone, alive = "elsewhere:1:gone", "elsewhere:2:alive"
    with rt.sessions() as session:
        session.add(RunnerInstance(id=alive, heartbeat_at=naive_utc(env.clock.now())))
        rows = session.scalars(
            select(NotebookServer).where(NotebookServer.state.in_(("STOPPED", "FAILED")))
        ).all()
        assert len(rows) >= 2
        for row, instance in zip(rows, (gone, alive), strict=False):
            row.state, row.instance = "RUNNING", instance
        ids = [row.id for row in rows[:2]]
        session.commit()
    assert service.fail_orphans(rt) == 1
    with rt.read_sessions() as session:
        ended, kept = (session.get(NotebookServer, i) for i in ids)
        assert (ended.state, ended.stop_reason) == ("STOPPED", service.RESTARTED)
        assert kept.state == "RUNNING"
    # a stop asked of the live instance's server cannot be done here
    with rt.sessions() as session:
        member = session.get(User, kept.user_id)
    reply = env.api.call("owner", "DELETE", f"{P}/servers/{member.email}")
    assert (reply.status_code, reply.json()["error"]["code"]) == (503, "notebook_elsewhere")
    with rt.sessions() as session:  # as its instance would have recorded it
        session.get(NotebookServer, kept.id).state = "STOPPED"
        session.commit()


def test_an_idle_server_is_culled_and_its_time_charged(env: Env):
    api = env.api
    before = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    used_before = before["compute_seconds"]["usage"]
    env.clock.advance(6 * 60)  # past the 5 minutes the scientist's server may idle
    culled = until_state(api, "scientist", "STOPPED", "FAILED")
    assert culled["state"] == "STOPPED" and "idle" in culled["stop_reason"]
    assert culled["usage"]["credits"] >= 1 and culled["usage"]["core_seconds"] > 0
    after = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert after["compute_seconds"]["usage"] > used_before
    assert env.app.state.runtime.notebooks.running() == set()
    assert api.call("scientist", "GET", f"{PROXY}/api/contents").status_code == 404
    feed = api.call("owner", "GET", "/api/projects/demo/activity?limit=500").json()["items"]
    assert {"jupyter.start", "jupyter.stop"} <= {i["action"] for i in feed}


def test_the_cluster_pod_and_network_policy_are_valid_and_bounded():
    spec = cluster.NotebookPodSpec(
        project="demo",
        username="scientist",
        image="registry.example.org/hops/jupyter:4.6",
        base_url=service.base_url("demo"),
        cores=2,
        memory_mb=4096,
        datasets_claim="demo-datasets",
        writable=["Jupyter", "Resources"],
        readable=["Logs", "Models"],
    )
    quota = KubeQuota(cpu="4", memory="16Gi")
    pod, policy = cluster.manifests(spec, quota, [("10.0.0.5", 8181), ("10.0.1.0/24", 9092)])
    container = pod["spec"]["containers"][0]
    assert pod["metadata"]["namespace"] == "demo"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4096Mi"}
    read_only = {m["mountPath"]: m.get("readOnly") for m in container["volumeMounts"]}
    assert read_only["/hopsfs/Jupyter"] is False and read_only["/hopsfs/Logs"] is True
    assert pod["spec"]["volumes"][1]["secret"]["secretName"] == "hops-cert-scientist"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [rule["to"][0].get("ipBlock") for rule in policy["spec"]["egress"]][:2] == [
        {"cidr": "10.0.0.5/32"},
        {"cidr": "10.0.1.0/24"},
    ]
    # strict validation is on: a misspelt field is refused, not dropped
    pod["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(BadRequest):
        validate_manifest(pod)
    too_big = cluster.NotebookPodSpec(**{**spec.__dict__, "cores": 8})
    with pytest.raises(PayloadTooLarge):
        cluster.manifests(too_big, quota, [])
    with pytest.raises(BadRequest):
        cluster.manifests(spec, quota, [("kafka.example.org", 9092)])
