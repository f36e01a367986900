"""Python jobs run embedded in a bubblewrap sandbox: what a run sees, its outcome, its logs,
stopping it, and the refusals."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from hopsworks_api.backends.runner.unavailable import UnavailableRunner
from hopsworks_api.jobs import service
from hopsworks_api.jobs.models import Execution, ExecutionState, Job
from tests.api.test_environments import make_wheel, settled
from tests.support.api import Api
from tests.support.sandbox_probe import HELPERS

J = "/api/projects/demo/jobs"
DEADLINE_S = 20

PROBE = (
    HELPERS
    + """
print(json.dumps({
    "read": open(f"{d}/Resources/data/in.txt").read(),
    "write_resources": can_write("Resources"),
    "write_logs": can_write("Logs"),
    "sees_storage_root": os.path.exists(sys.argv[1]),
    "sees_other_project": os.path.exists(sys.argv[2]),
    "network": network(),
    "user": os.environ["HOPS_USER"],
    "account": getpass.getuser(),
    "project": os.environ["HOPS_PROJECT"],
    "credentials": sorted(os.listdir(os.environ["HOPS_CREDENTIALS_DIR"])),
}))
"""
).encode()
SLEEPER = b"import time\nprint('ready', flush=True)\ntime.sleep(120)\n"
FAILER = b"import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"


def until_done(api: Api, who: str, url: str) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        body = api.call(who, "GET", url).json()
        if body["state"] in ("FINISHED", "FAILED", "KILLED"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} did not end within {DEADLINE_S}s: {body}")


def until_logged(api: Api, who: str, url: str, text: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if text in api.call(who, "GET", f"{url}/log").text:
            return
        time.sleep(0.05)
    raise AssertionError(f"'{text}' never appeared in the log of {url}")


def make_job(api: Api, who: str, name: str, script: bytes, **extra) -> None:
    path = f"jobs/{name}.py"
    assert api.upload(who, "demo", "Resources", path, script).status_code == 201
    body = {"name": name, "type": "python", "app_path": f"Resources/{path}", **extra}
    reply = api.call(who, "POST", J, json=body)
    assert reply.status_code == 201, reply.text


def run(api: Api, who: str, name: str, **body) -> str:
    reply = api.call(who, "POST", f"{J}/{name}/executions", json=body)
    assert reply.status_code == 201, reply.text
    return f"{J}/{name}/executions/{reply.json()['id']}"


def test_a_python_job_runs_in_its_sandbox(api: Api, app):
    storage_root = app.state.runtime.settings.storage_root
    assert api.call("outsider", "POST", "/api/projects", json={"name": "other"}).status_code == 201
    assert api.upload("outsider", "other", "Resources", "secret.txt", b"no").status_code == 201
    other = storage_root / "Projects" / "other" / "Resources" / "secret.txt"
    assert other.exists()
    assert api.upload("scientist", "demo", "Resources", "data/in.txt", b"hello").status_code == 201
    make_job(api, "scientist", "probe", PROBE, args=[str(storage_root), str(other)])

    url = run(api, "scientist", "probe")
    done = until_done(api, "scientist", url)
    assert (done["state"], done["exit_code"]) == ("FINISHED", 0), api.call(
        "scientist", "GET", f"{url}/log?stream=stderr"
    ).text
    assert done["usage"]["core_seconds"] > 0 and done["duration_s"] is not None
    seen = json.loads(api.call("scientist", "GET", f"{url}/log").text)
    assert seen["read"] == "hello"
    assert seen["write_resources"] is True  # a data scientist may write Resources...
    assert seen["write_logs"] is False  # ...but not Logs (read-only in the sandbox)
    assert not seen["sees_storage_root"] and not seen["sees_other_project"]
    assert seen["network"] is False
    assert (seen["user"], seen["account"], seen["project"]) == (
        "demo__scientist",
        "demo__scientist",
        "demo",
    )
    assert {"certificate.pem", "private_key.pem", "ca_chain.pem", "keystore.p12"} <= set(
        seen["credentials"]
    )
    assert not (app.state.runtime.settings.backends_dir / "runs" / url.rsplit("/", 1)[1]).exists()
    kept = api.download("owner", "demo", "Logs", f"probe/{url.rsplit('/', 1)[1]}/stdout.log")
    assert kept.status_code == 200 and json.loads(kept.text) == seen
    listed = api.call("owner", "GET", f"{J}/probe/executions").json()
    assert listed["total"] == 1 and listed["items"][0]["state"] == "FINISHED"


def test_a_failing_script_fails_with_its_exit_code(api: Api):
    make_job(api, "owner", "failer", FAILER)
    first = run(api, "owner", "failer")
    second = run(api, "owner", "failer", args=["again"])
    for url in (first, second):
        done = until_done(api, "owner", url)
        assert (done["state"], done["exit_code"]) == ("FAILED", 3)
        assert "boom" in api.call("owner", "GET", f"{url}/log?stream=stderr").text
    huge = f"{J}/failer/executions/{2**81}"  # was a 500: past what SQLite can look up
    assert api.call("owner", "GET", huge).status_code == 422
    listed = api.call("owner", "GET", f"{J}/failer/executions?limit=1").json()
    assert listed["total"] == 2 and listed["items"][0]["args"] == ["again"]  # newest first
    feed = api.call("owner", "GET", "/api/projects/demo/activity?limit=500").json()["items"]
    # creations and runs are mutations; log reads are audited as data access
    assert {"job.create", "execution.start", "execution.log"} <= {i["action"] for i in feed}


def test_stopping_executions(api: Api):
    make_job(api, "owner", "sleeper", SLEEPER)
    owners = run(api, "owner", "sleeper")
    until_logged(api, "owner", owners, "ready")
    assert api.call("scientist", "POST", f"{owners}/stop").status_code == 403
    assert api.call("outsider", "POST", f"{owners}/stop").status_code == 404
    assert api.call("owner", "POST", f"{owners}/stop").status_code == 202
    assert until_done(api, "owner", owners)["state"] == "KILLED"

    own = run(api, "scientist", "sleeper")
    until_logged(api, "scientist", own, "ready")
    assert api.call("owner", "DELETE", f"{J}/sleeper").status_code == 409  # still running
    assert api.call("scientist", "POST", f"{own}/stop").status_code == 202
    assert until_done(api, "scientist", own)["state"] == "KILLED"
    assert api.call("owner", "DELETE", f"{J}/sleeper").status_code == 204
    assert api.call("owner", "GET", f"{J}/sleeper").status_code == 404


BAD_JOBS = [
    ({"app_path": "Resources/jobs/missing.py"}, 400),
    ({"app_path": "Nowhere/x.py"}, 400),
    ({"app_path": "Resources/../x.py"}, 400),
    ({"app_path": "Resources"}, 400),
    ({"type": "scala"}, 422),
    ({"name": "bad name"}, 422),
    ({"schedule": "every day"}, 422),
    ({"environment": "missing"}, 404),
    ({"type": "spark", "main_class": "x.Main"}, 400),
]


def test_bad_jobs_are_refused(api: Api):
    assert api.upload("owner", "demo", "Resources", "jobs/ok.py", b"pass").status_code == 201
    base = {"name": "bad", "type": "python", "app_path": "Resources/jobs/ok.py"}
    for body, status in BAD_JOBS:
        reply = api.call("owner", "POST", J, json={**base, **body})
        assert (reply.status_code, "error" in reply.json()) == (status, True), (body, reply.text)
    assert api.call("owner", "GET", J).json()["items"] == []


def test_pyspark_needs_pyspark_in_the_environment(api: Api, app, monkeypatch):
    # the system's interpreter, which has no pyspark, as the `default` environment
    monkeypatch.setattr(app.state.runtime.settings, "default_python", Path("/usr/bin/python3"))
    assert api.upload("owner", "demo", "Resources", "jobs/ok.py", b"pass").status_code == 201
    body = {"name": "s", "type": "pyspark", "app_path": "Resources/jobs/ok.py"}
    reply = api.call("owner", "POST", J, json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "pyspark is not installed in environment 'default'"


def test_job_crud_and_outsiders(api: Api):
    make_job(api, "owner", "crud", b"pass", schedule="0 3 * * *")
    assert (
        api.call(
            "owner", "POST", J, json={"name": "crud", "app_path": "Resources/jobs/crud.py"}
        ).status_code
        == 409
    )
    got = api.call("scientist", "GET", f"{J}/crud").json()
    assert (got["schedule"], got["environment"], got["args"]) == ("0 3 * * *", "default", [])
    reply = api.call(
        "scientist", "PUT", f"{J}/crud", json={"app_path": "Resources/jobs/crud.py", "args": ["a"]}
    )
    assert reply.status_code == 200 and reply.json()["args"] == ["a"]
    assert [j["name"] for j in api.call("scientist", "GET", J).json()["items"]] == ["crud"]
    for method, url in [
        ("GET", J),
        ("GET", f"{J}/crud"),
        ("POST", f"{J}/crud/executions"),
        ("GET", f"{J}/crud/executions"),
        ("DELETE", f"{J}/crud"),
    ]:
        assert api.call("outsider", method, url).status_code == 404
    assert api.call("owner", "GET", f"{J}/crud/executions/999").status_code == 404
    assert api.call("owner", "GET", f"{J}/nope/executions").status_code == 404


def test_executions_an_earlier_process_left_are_failed(api: Api, app):
    rt = app.state.runtime
    make_job(api, "owner", "old", b"pass")
    with rt.sessions() as session:
        job = session.query(Job).filter_by(name="old").one()
        row = Execution(
            job_id=job.id,
            project_id=job.project_id,
            state=ExecutionState.RUNNING.value,
            args_json="[]",
            submitted_at=datetime(2020, 1, 1),
            started_at=datetime(2020, 1, 1),
        )
        session.add(row)
        session.commit()
        execution_id = row.id
    assert service.fail_orphans(rt) == 1
    assert service.fail_orphans(rt) == 0
    url = f"{J}/old/executions/{execution_id}"
    assert api.call("owner", "GET", url).json()["state"] == "FAILED"
    assert "service restarted" in api.call("owner", "GET", f"{url}/log?stream=stderr").text


def test_without_a_runner_runs_are_refused_before_anything_is_recorded(api: Api, app, monkeypatch):
    runner = UnavailableRunner("jobs cannot run here: no runner for WebHDFS storage")
    monkeypatch.setattr(app.state.runtime.backends, "runner", runner)
    make_job(api, "owner", "nowhere", b"pass")
    reply = api.call("owner", "POST", f"{J}/nowhere/executions")
    assert reply.status_code == 503 and "WebHDFS" in reply.json()["error"]["message"]
    assert api.call("owner", "GET", f"{J}/nowhere/executions").json()["total"] == 0


def test_a_job_runs_on_its_projects_environment(api: Api, app, tmp_path: Path, monkeypatch):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    make_wheel(wheelhouse, "tinypkg", "1.0")
    monkeypatch.setattr(app.state.runtime.settings, "wheelhouse", wheelhouse)
    body = {"name": "ml", "requirements": "tinypkg==1.0\n"}
    assert (
        api.call("owner", "POST", "/api/projects/demo/environments", json=body).status_code == 202
    )
    assert settled(api, "ml")["state"] == "READY"
    make_job(api, "owner", "usepkg", b"import tinypkg\nprint(tinypkg.VERSION)\n", environment="ml")
    url = run(api, "owner", "usepkg")
    assert until_done(api, "owner", url)["state"] == "FINISHED"
    assert api.call("owner", "GET", f"{url}/log").text == "1.0\n"
