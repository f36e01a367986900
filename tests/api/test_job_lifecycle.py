"""Runs never outlive their member, project or account, and several instances on one DB
share executions: a stop reaches the instance that runs it, and only the executions of an
instance that is gone are failed (issue 13, item 3)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hopsworks_api.clock import naive_utc
from hopsworks_api.jobs import service
from hopsworks_api.jobs.models import Execution, ExecutionState, Job, RunnerInstance
from hopsworks_api.main import create_app
from hopsworks_api.projects.models import Project
from hopsworks_api.users.models import User
from tests.api.test_jobs import SLEEPER, J, make_job, run, until_done, until_logged
from tests.support.api import Api

DEADLINE_S = 20


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _started(api: Api, who: str) -> str:
    url = run(api, who, "sleeper")
    until_logged(api, who, url, "ready")
    return url


@pytest.mark.parametrize(
    "end",
    [
        lambda api: api.call("owner", "DELETE", "/api/projects/demo/members/scientist@example.org"),
        lambda api: api.call("admin", "DELETE", "/api/users/scientist@example.org"),
    ],
    ids=["member-removed", "account-deleted"],
)
def test_runs_of_a_member_who_left_are_killed_with_their_logs_kept(api: Api, end):
    make_job(api, "owner", "sleeper", SLEEPER)
    theirs, owners = _started(api, "scientist"), _started(api, "owner")
    assert end(api).status_code == 204
    done = until_done(api, "owner", theirs)
    assert done["state"] == "KILLED"
    kept = api.download("owner", "demo", "Logs", f"sleeper/{theirs.rsplit('/', 1)[1]}/stdout.log")
    assert kept.text == "ready\n"
    # the member who stays keeps running
    assert api.call("owner", "GET", owners).json()["state"] == "RUNNING"
    assert api.call("owner", "POST", f"{owners}/stop").status_code == 202
    assert until_done(api, "owner", owners)["state"] == "KILLED"


def test_runs_of_a_deleted_project_end_with_it(api: Api, app):
    rt = app.state.runtime
    make_job(api, "owner", "sleeper", SLEEPER)
    url = _started(api, "owner")
    handle = rt.executions.handle(int(url.rsplit("/", 1)[1]))
    assert handle is not None and _alive(handle.pid)
    assert api.call("owner", "DELETE", "/api/projects/demo").status_code == 204
    _eventually(lambda: not rt.executions.running(), "the run to end")
    assert not _alive(handle.pid)


@pytest.fixture
def second(app, client) -> Iterator[tuple[TestClient, object]]:
    """Another instance of the service on the same DB (and, like two instances on one
    host, the same data directory), with its own instance id, watcher and heartbeat."""
    other = create_app(app.state.runtime.settings.model_copy())
    with TestClient(other, raise_server_exceptions=False) as other_client:
        yield other_client, other
    other.state.runtime.engine.dispose()


def test_a_stop_reaches_the_instance_that_runs_the_execution(api: Api, app, second):
    other_client, other = second
    assert other.state.runtime.executions.instance != app.state.runtime.executions.instance
    on_b = Api(other_client, tokens=api.tokens)
    make_job(api, "owner", "sleeper", SLEEPER)
    url = _started(api, "owner")  # runs on the first instance
    # the other instance leads: the run of a live instance is not its orphan
    assert service.fail_orphans(other.state.runtime) == 0
    assert on_b.call("owner", "POST", f"{url}/stop").status_code == 202
    assert until_done(on_b, "owner", url)["state"] == "KILLED"
    assert not app.state.runtime.executions.running()


def test_only_executions_of_gone_instances_are_failed(api: Api, app):
    rt = app.state.runtime
    make_job(api, "owner", "sleeper", SLEEPER)
    now = naive_utc(rt.clock.now())
    stale = now - timedelta(seconds=10 * rt.settings.instance_heartbeat_seconds)
    finished = subprocess.Popen(["true"])
    finished.wait()  # a process of this host that is gone
    instances = {
        "live": ("otherhost:1:aaaa", now),
        "stale": ("otherhost:2:bbbb", stale),
        "dead-here": (f"{os.uname().nodename}:{finished.pid}:cccc", now),
        "unrecorded": (None, None),
    }
    ids: dict[str, int] = {}
    with rt.sessions() as session:
        job = session.query(Job).filter_by(name="sleeper").one()
        for key, (instance, beat) in instances.items():
            if instance is not None:
                session.add(RunnerInstance(id=instance, heartbeat_at=beat))
            row = Execution(
                job_id=job.id,
                project_id=job.project_id,
                state=ExecutionState.RUNNING.value,
                args_json="[]",
                submitted_at=datetime(2026, 1, 1),
                started_at=datetime(2026, 1, 1),
                submitted_by=None,
                instance=instance,
            )
            session.add(row)
            session.flush()
            ids[key] = row.id
        session.commit()

    def state(key: str) -> str:
        return api.call("owner", "GET", f"{J}/sleeper/executions/{ids[key]}").json()["state"]

    # a stop of a run whose instance is gone ends it at once; of a live one, asks it
    assert (
        api.call("owner", "POST", f"{J}/sleeper/executions/{ids['stale']}/stop").status_code == 202
    )
    assert state("stale") == "KILLED"
    assert (
        api.call("owner", "POST", f"{J}/sleeper/executions/{ids['live']}/stop").status_code == 202
    )
    with rt.sessions() as session:
        asked = session.get(Execution, ids["live"])
        assert asked is not None and asked.stop_requested_at is not None
    assert state("live") == "RUNNING"

    assert service.fail_orphans(rt) == 2
    assert {key: state(key) for key in ids} == {
        "live": "RUNNING",
        "stale": "KILLED",
        "dead-here": "FAILED",
        "unrecorded": "FAILED",
    }
    with rt.sessions() as session:  # the stale heartbeat row went, the live one stays
        assert session.get(RunnerInstance, "otherhost:2:bbbb") is None
        assert session.get(RunnerInstance, "otherhost:1:aaaa") is not None


@dataclass
class FakeServer:
    """Stands in for a live notebook or model server: what the watcher looks at."""

    project_id: int
    user_id: int
    stop: threading.Event = field(default_factory=threading.Event)
    reason: str = ""
    done: threading.Event = field(default_factory=threading.Event)


def test_servers_of_a_member_who_left_are_asked_to_stop_at_once(settings):
    """Not at the next heartbeat (600 s here): the removal wakes the instance's watcher."""
    slow = create_app(settings.model_copy(update={"instance_heartbeat_seconds": 600}))
    with TestClient(slow, raise_server_exceptions=False) as client:
        api = Api.with_actors(client)
        rt = slow.state.runtime
        with rt.read_sessions() as session:
            project_id = session.scalar(select(Project.id).where(Project.name == "demo"))
            ids = dict(session.execute(select(User.email, User.id)).all())
        theirs = FakeServer(project_id, ids[api.email("scientist")])
        owners = FakeServer(project_id, ids[api.email("owner")])
        rt.notebooks.add(1, theirs)
        rt.servings.add(1, owners)
        rt.servings.add(2, theirs_too := FakeServer(project_id, theirs.user_id))
        removed = api.call("owner", "DELETE", "/api/projects/demo/members/scientist@example.org")
        assert removed.status_code == 204
        _eventually(lambda: theirs.stop.is_set() and theirs_too.stop.is_set(), "the stops")
        assert theirs.reason == "its member may no longer run work in the project"
        assert not owners.stop.is_set()
        for key in (1, 2):
            rt.servings.forget(key)
        rt.notebooks.forget(1)
    slow.state.runtime.engine.dispose()
