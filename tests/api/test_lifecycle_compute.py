"""Issue 11 item 2 for compute credits: a project deleted and re-created under the same name
starts with nothing to pay.

Compute systems know a project only by its queue name and keep applications after the
project is gone (YARN keeps finished ones; a local job may report after the deletion),
while the service's record of what it already charged goes with the deleted project. An
application belongs to the project that existed when it was submitted: the new project is
charged nothing for the old one's and its queue is not stopped for them, while its own
applications are charged as before. Run with the embedded backend and with the
ResourceManager contract fake (tests/support/yarn_fake.py), on both DBs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.config import Settings
from hopsworks_api.quotas.accounting import account
from tests.support.api import Api
from tests.support.settings import test_settings
from tests.support.yarn_fake import YarnFake, serve

P = "/api/projects"
Q = f"{P}/demo/quotas"
QUEUE = "root.projects.demo"


@pytest.fixture
def fake() -> YarnFake:
    return YarnFake()


@pytest.fixture(params=["local", "yarn"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, db_url: str, fake: YarnFake
) -> Iterator[Settings]:
    if request.param == "local":
        yield test_settings(tmp_path / "data", db_url)
        return
    with serve(fake.build_app()) as url:
        yield test_settings(
            tmp_path / "data", db_url, compute_backend="yarn", yarn_url=url, yarn_user="yarn"
        )


def ok(reply, status: int = 200):  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    return reply


def usage(api: Api, who: str) -> dict:
    return ok(api.call(who, "GET", Q)).json()


class Jobs:
    """Submits work to `demo`'s queue the way each compute system sees it."""

    def __init__(self, app, fake: YarnFake) -> None:  # type: ignore[no-untyped-def]
        self.rt = app.state.runtime
        self.fake = fake
        self.yarn = self.rt.settings.compute_backend == "yarn"

    def run(self, app_id: str, vcore_seconds: int, *, state: str = "RUNNING") -> str:
        if self.yarn:
            return self.fake.submit_application(QUEUE, vcore_seconds=vcore_seconds, state=state)
        compute = self.rt.backends.compute
        compute.record_application("demo", app_id, vcore_seconds=vcore_seconds, state=state)
        return app_id

    def grow(self, app_id: str, vcore_seconds: int, *, state: str) -> None:
        if self.yarn:
            self.fake.update_application(app_id, vcore_seconds=vcore_seconds, state=state)
        else:
            self.rt.backends.compute.record_application(
                "demo", app_id, vcore_seconds=vcore_seconds, state=state
            )


def test_a_recreated_project_is_not_charged_for_the_old_ones_applications(
    api: Api, app, fake: YarnFake
):
    rt = app.state.runtime
    jobs = Jobs(app, fake)
    compute = rt.backends.compute
    old = jobs.run("local-1", 40)
    assert account(rt).charged == {"demo": 40}
    jobs.grow(old, 10_000, state="FINISHED")  # grew after the last poll...
    untouched = jobs.run("local-2", 500, state="FINISHED")  # ...and one never polled
    (before,) = [a for a in compute.application_usage("demo") if a.app_id == old]

    ok(api.call("owner", "DELETE", f"{P}/demo"), 204)
    api.register("newcomer")
    ok(api.call("newcomer", "POST", P, json={"name": "demo"}), 201)
    body = {"compute_payment": "PREPAID", "compute_seconds": 100}
    ok(api.call("admin", "PUT", Q, json=body))

    if jobs.yarn:  # the ResourceManager still lists the old project's applications
        assert {a.app_id for a in compute.application_usage("demo")} == {old, untouched}
    else:  # the embedded state went with the queue, but an old job may report late
        assert compute.application_usage("demo") == []
        compute.record_application(
            "demo", old, vcore_seconds=10_000, state="FINISHED", started_at=before.started_at
        )
    report = account(rt)
    assert (report.charged, report.stopped, report.unreachable) == ({}, [], [])
    quotas = usage(api, "newcomer")
    assert quotas["compute_seconds"]["usage"] == 0 and quotas["compute_stopped"] is False
    assert compute.queue_info("demo").state == "RUNNING"
    assert account(rt).charged == {}  # skipped, not recorded: nothing on the next poll either

    # The new project's own work is charged as ever, and stops it when its credits are spent.
    mine = jobs.run("local-3", 60)
    assert account(rt).charged == {"demo": 60}
    jobs.grow(mine, 150, state="FINISHED")
    report = account(rt)
    assert (report.charged, report.stopped) == ({"demo": 90}, ["demo"])
    assert usage(api, "newcomer")["compute_seconds"]["usage"] == 150
