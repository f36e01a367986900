"""Compute credits, GPUs and Hive size, end to end: the service charges what the compute
system reports, stops a PREPAID project's queue when its credits are spent, pushes GPU
limits to YARN and Kubernetes, and narrows Hive grants over the size quota.

Compute runs against the ResourceManager contract fake (tests/support/yarn_fake.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.config import Settings
from hopsworks_api.errors import PayloadTooLarge
from hopsworks_api.projects.models import Project
from hopsworks_api.provisioning.converge import reconcile
from hopsworks_api.quotas.accounting import account, admit_compute
from tests.support.api import Api
from tests.support.settings import test_settings
from tests.support.yarn_fake import Refused, YarnFake, serve

Q = "/api/projects/demo/quotas"
QUEUE = "root.projects.demo"


@pytest.fixture
def fake() -> YarnFake:
    return YarnFake()


@pytest.fixture
def settings(tmp_path: Path, db_url: str, fake: YarnFake) -> Iterator[Settings]:
    with serve(fake.build_app()) as url:
        yield test_settings(
            tmp_path / "data",
            db_url,
            compute_backend="yarn",
            yarn_url=url,
            yarn_user="yarn",
            project_container_vcores=4,
            project_container_memory_mb=8192,
            gpu_credit_multiplier=4.0,
        )


def quotas(api: Api) -> dict:
    reply = api.call("owner", "GET", Q)
    assert reply.status_code == 200, reply.text
    return reply.json()


def put(api: Api, **limits) -> dict:
    reply = api.call("admin", "PUT", Q, json=limits)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_credits_are_charged_per_application_delta_with_the_gpu_multiplier(
    api: Api, app, fake: YarnFake
):
    rt = app.state.runtime
    first = fake.submit_application(QUEUE, vcore_seconds=100, gpu_seconds=10)
    fake.submit_application("root.default", vcore_seconds=10_000)  # another tenant's work
    assert account(rt).charged == {"demo": 100 + 4 * 10}
    assert account(rt).charged == {}  # nothing grew: nothing charged twice
    fake.update_application(first, vcore_seconds=150, gpu_seconds=10, state="FINISHED")
    assert account(rt).charged == {"demo": 50}
    fake.forget_application(first)  # the RM forgets finished work; the charge stays
    assert account(rt).charged == {}
    q = quotas(api)
    assert q["compute_seconds"] == {"limit": None, "usage": 190, "enforced": False}
    assert q["compute_payment"] == "NOLIMIT" and q["gpu_credit_multiplier"] == 4.0


def test_prepaid_project_is_stopped_when_its_credits_are_spent_and_resumed_on_top_up(
    api: Api, app, fake: YarnFake
):
    rt = app.state.runtime
    q = put(api, compute_payment="PREPAID", compute_seconds=500)
    assert q["compute_seconds"]["enforced"] is True and q["compute_stopped"] is False
    running = fake.submit_application(QUEUE, vcore_seconds=400)
    account(rt)
    assert rt.backends.compute.queue_info("demo").state == "RUNNING"
    fake.update_application(running, vcore_seconds=600)
    assert account(rt).stopped == ["demo"]
    assert rt.backends.compute.queue_info("demo").state == "DRAINING"  # running work finishes
    with pytest.raises(Refused):
        fake.submit_application(QUEUE)  # the ResourceManager refuses new work
    with rt.read_sessions() as session:
        project_id = session.query(Project.id).filter_by(name="demo").scalar()
        with pytest.raises(PayloadTooLarge, match="spent its 500 compute credits"):
            admit_compute(session, project_id=project_id, project="demo")
    assert quotas(api)["compute_stopped"] is True

    q = put(api, compute_seconds=5000)  # top-up: enforced at once
    assert q["compute_stopped"] is False and q["compute_seconds"]["usage"] == 600
    assert rt.backends.compute.queue_info("demo").state == "RUNNING"
    fake.submit_application(QUEUE)


def test_nolimit_counts_but_never_stops(api: Api, app, fake: YarnFake):
    rt = app.state.runtime
    put(api, compute_payment="NOLIMIT", compute_seconds=10)
    fake.submit_application(QUEUE, vcore_seconds=1_000)
    assert account(rt).stopped == []
    assert quotas(api)["compute_seconds"]["usage"] == 1_000
    assert rt.backends.compute.queue_info("demo").state == "RUNNING"


def test_gpu_limit_reaches_yarn_and_kubernetes_and_the_admission_check(
    api: Api, app, fake: YarnFake
):
    rt = app.state.runtime
    assert quotas(api)["gpus"] == {"limit": 0, "usage": 0, "enforced": True}  # opt-in
    put(api, gpus=2)
    assert rt.backends.kubernetes.describe_project("demo").quota.gpus == 2
    assert rt.backends.compute.queue_info("demo").quota.gpus == 2
    with rt.read_sessions() as session:
        project_id = session.query(Project.id).filter_by(name="demo").scalar()
        admit_compute(session, project_id=project_id, project="demo", gpus=2)
        with pytest.raises(PayloadTooLarge, match="at most 2 GPUs"):
            admit_compute(session, project_id=project_id, project="demo", gpus=3)
    put(api, gpus=None)  # unlimited: no namespace limit, the container ceiling of the cluster
    assert rt.backends.kubernetes.describe_project("demo").quota.gpus is None
    assert rt.backends.compute.queue_info("demo").quota.gpus == 8


def test_a_failing_gpu_step_leaves_every_system_and_the_db_as_they_were(api: Api, app, monkeypatch):
    rt = app.state.runtime
    put(api, gpus=1)

    def down(*_args, **_kwargs):
        raise BackendUnavailable("yarn", "set_quota timed out (injected)")

    monkeypatch.setattr(rt.backends.compute, "set_quota", down)
    reply = api.call("admin", "PUT", Q, json={"gpus": 3})
    assert reply.status_code == 503 and reply.json()["error"]["system"] == "yarn"
    monkeypatch.undo()
    assert quotas(api)["gpus"]["limit"] == 1
    assert rt.backends.kubernetes.describe_project("demo").quota.gpus == 1
    assert rt.backends.compute.queue_info("demo").quota.gpus == 1


def test_hive_over_its_size_quota_keeps_only_select_until_back_under(
    api: Api, app, settings: Settings
):
    rt = app.state.runtime
    hive = rt.backends.hive
    location = Path(hive.describe("demo").location.removeprefix("file:"))
    (location / "part-0000.parquet").write_bytes(b"x" * 4096)
    q = put(api, hive_bytes=1024)
    assert q["hive_bytes"] == {"limit": 1024, "usage": 4096, "enforced": True}
    grants = hive.list_grants("demo")
    assert grants["demo__owner"] == ("SELECT",) and grants["demo__scientist"] == ("SELECT",)
    assert [d for d in reconcile(rt, dry_run=True).drift if d.system == "hive"] == []
    put(api, hive_bytes=1024 * 1024)
    grants = hive.list_grants("demo")
    assert set(grants["demo__owner"]) == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert set(grants["demo__scientist"]) == {"SELECT", "INSERT"}


def test_reconcile_keeps_quota_enforcement_in_place(api: Api, app, fake: YarnFake):
    """Enforcement is desired state too: reconcile neither undoes it nor lets it drift."""
    rt = app.state.runtime
    put(api, compute_payment="PREPAID", compute_seconds=10)
    fake.submit_application(QUEUE, vcore_seconds=50, state="FINISHED")
    assert account(rt).stopped == ["demo"]
    assert reconcile(rt, dry_run=True).drift == []
    rt.backends.compute.set_queue_state("demo", running=True)  # someone restarts it by hand
    report = reconcile(rt)
    assert [(d.system, d.problem) for d in report.drift] == [
        ("yarn", "queue should be stopped (credits spent)")
    ]
    assert rt.backends.compute.queue_info("demo").state == "STOPPED"


@pytest.fixture
def local_settings(tmp_path: Path, db_url: str) -> Settings:
    return test_settings(tmp_path / "local", db_url)


def test_embedded_compute_is_charged_and_stopped_the_same_way(local_settings: Settings):
    """The embedded backend records what local jobs report; the same accounting applies."""
    from fastapi.testclient import TestClient

    from hopsworks_api.errors import Conflict
    from hopsworks_api.main import create_app

    app = create_app(local_settings)
    with TestClient(app) as client:
        api = Api.with_actors(client)
        rt = app.state.runtime
        compute = rt.backends.compute
        put(api, compute_payment="PREPAID", compute_seconds=100, gpus=1)
        compute.record_application("demo", "local-1", vcore_seconds=30, gpu_seconds=10)
        assert account(rt).charged == {"demo": 30 + 4 * 10}
        compute.record_application("demo", "local-1", vcore_seconds=70, gpu_seconds=10)
        assert account(rt).stopped == ["demo"]
        assert compute.queue_info("demo").state == "DRAINING"
        with pytest.raises(Conflict, match="stopped"):
            compute.record_application("demo", "local-2", vcore_seconds=1)
        compute.record_application(
            "demo", "local-1", vcore_seconds=70, gpu_seconds=10, state="FINISHED"
        )
        assert compute.queue_info("demo").state == "STOPPED"
        assert put(api, compute_payment="NOLIMIT")["compute_stopped"] is False
        compute.record_application("demo", "local-2", vcore_seconds=1)
    app.state.runtime.engine.dispose()


def test_an_application_id_charged_to_one_project_is_never_charged_to_another(
    local_settings: Settings,
):
    """The embedded backend's job ids are its caller's to choose; `compute_charges` is keyed
    by id alone, so a second project reporting the same id must not be charged (or
    credited) against the first one's record."""
    from fastapi.testclient import TestClient

    from hopsworks_api.main import create_app

    app = create_app(local_settings)
    with TestClient(app) as client:
        api = Api.with_actors(client)
        rt = app.state.runtime
        compute = rt.backends.compute
        reply = api.call("owner", "POST", "/api/projects", json={"name": "other"})
        assert reply.status_code == 201, reply.text
        compute.record_application("demo", "job-1", vcore_seconds=100)
        compute.record_application("other", "job-1", vcore_seconds=250)
        assert account(rt).charged == {"demo": 100}
        compute.record_application("demo", "job-1", vcore_seconds=120)
        compute.record_application("other", "job-1", vcore_seconds=300)
        assert account(rt).charged == {"demo": 20}
        assert quotas(api)["compute_seconds"]["usage"] == 120
    app.state.runtime.engine.dispose()
