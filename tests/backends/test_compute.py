"""The compute backends: the embedded record and YARN (against the ResourceManager fake).

The shared tests run on both implementations, so the embedded default behaves like the
cluster one; the YARN tests then check the wire contract, the rules the ResourceManager
enforces, error mapping and bounded time when the ResourceManager is down or hung.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from hopsworks_api.backends.compute import ComputeBackend, ComputeQuota, QueueInfo
from hopsworks_api.backends.compute.base import AppUsage, from_epoch_ms
from hopsworks_api.backends.compute.embedded import EmbeddedCompute
from hopsworks_api.backends.compute.yarn import (
    YarnCompute,
    parse_resources,
    resource_seconds,
    sched_conf_xml,
)
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from tests.support.yarn_fake import (
    DEFAULT_CONF,
    Refused,
    YarnFake,
    blackhole,
    dead_url,
    serve,
)

BOUND_SECONDS = 15


@pytest.fixture
def fake() -> YarnFake:
    return YarnFake()


@pytest.fixture
def rm_url(fake: YarnFake) -> Iterator[str]:
    with serve(fake.build_app()) as url:
        yield url


@pytest.fixture
def yarn(rm_url: str) -> Iterator[YarnCompute]:
    backend = YarnCompute(rm_url, user="yarn", timeout=2.0, connect_timeout=1.0)
    yield backend
    backend.close()


@pytest.fixture(params=["local", "yarn"])
def compute(request: pytest.FixtureRequest, tmp_path: Path) -> ComputeBackend:
    if request.param == "local":
        return EmbeddedCompute(tmp_path / "state")
    return request.getfixturevalue("yarn")


# -- the contract, on both implementations ---------------------------------------------


def test_create_is_idempotent_and_reported(compute: ComputeBackend) -> None:
    compute.create_project_queue("demo", 10, 50)
    compute.create_project_queue("demo", 10, 50)
    info = compute.queue_info("demo")
    assert info.project == "demo"
    assert info.queue == "root.projects.demo"
    assert info.state == "RUNNING"
    assert (info.capacity_percent, info.max_capacity_percent) == (10.0, 50.0)
    assert info.quota is None
    assert [q.project for q in compute.list_project_queues()] == ["demo"]


def test_create_again_converges_shares(compute: ComputeBackend) -> None:
    compute.create_project_queue("demo", 10, 50)
    compute.create_project_queue("demo", 25.5, 75)
    info = compute.queue_info("demo")
    assert (info.capacity_percent, info.max_capacity_percent) == (25.5, 75.0)


def test_guaranteed_shares_never_exceed_the_parent(compute: ComputeBackend) -> None:
    compute.create_project_queue("alpha", 60, 100)
    compute.create_project_queue("beta", 40, 100)
    with pytest.raises(Conflict) as refused:
        compute.create_project_queue("gamma", 0.01, 100)
    assert refused.value.code == "compute_capacity_exhausted"
    with pytest.raises(Conflict):
        compute.create_project_queue("alpha", 61, 100)  # growing also needs room
    compute.create_project_queue("gamma", 0, 100)  # a queue with no guarantee is fine
    compute.delete_project_queue("beta")
    compute.create_project_queue("alpha", 100, 100)
    assert [q.project for q in compute.list_project_queues()] == ["alpha", "gamma"]


def test_quota_set_changed_and_idempotent(compute: ComputeBackend) -> None:
    compute.create_project_queue("demo", 10, 50)
    compute.set_quota("demo", vcores=4, memory_mb=8192, gpus=1)
    compute.set_quota("demo", vcores=4, memory_mb=8192, gpus=1)
    assert compute.queue_info("demo").quota == ComputeQuota(4, 8192, 1)
    compute.set_quota("demo", vcores=8, memory_mb=16384, gpus=2)  # raise
    assert compute.queue_info("demo").quota == ComputeQuota(8, 16384, 2)
    compute.set_quota("demo", vcores=2, memory_mb=4096, gpus=0)  # lower
    info = compute.queue_info("demo")
    assert info.quota == ComputeQuota(2, 4096, 0)
    assert (info.capacity_percent, info.max_capacity_percent, info.state) == (10, 50, "RUNNING")


def test_delete_is_idempotent_and_undoes_create(compute: ComputeBackend) -> None:
    compute.delete_project_queue("demo")  # absent: nothing to do
    compute.create_project_queue("demo", 10, 50)
    compute.set_quota("demo", 1, 1024, 0)
    compute.delete_project_queue("demo")
    compute.delete_project_queue("demo")
    assert compute.list_project_queues() == []
    with pytest.raises(NotFound):
        compute.queue_info("demo")
    with pytest.raises(NotFound):
        compute.set_quota("demo", 1, 1024, 0)
    compute.create_project_queue("demo", 100, 100)  # all capacity was given back


@pytest.mark.parametrize(
    ("capacity", "maximum"),
    [(-1, 50), (10, 101), (60, 50), (float("nan"), 50), (True, 50), ("10", 50)],
)
def test_invalid_shares_are_refused(
    compute: ComputeBackend, capacity: float, maximum: float
) -> None:
    with pytest.raises(BadRequest):
        compute.create_project_queue("demo", capacity, maximum)
    assert compute.list_project_queues() == []


@pytest.mark.parametrize("quota", [(-1, 1024, 0), (1, -5, 0), (1, 1024, -1), (1.5, 1024, 0)])
def test_invalid_quota_is_refused(compute: ComputeBackend, quota: tuple) -> None:
    compute.create_project_queue("demo", 10, 50)
    with pytest.raises(BadRequest):
        compute.set_quota("demo", *quota)
    assert compute.queue_info("demo").quota is None


@pytest.mark.parametrize("name", ["", "ab", "Demo", "a.b", "root.x", "x" * 64, "1abc"])
def test_invalid_queue_names_are_refused(compute: ComputeBackend, name: str) -> None:
    with pytest.raises(BadRequest):
        compute.create_project_queue(name, 1, 1)


# -- the embedded record -------------------------------------------------------------


def test_embedded_state_is_one_json_file_per_project_replaced_atomically(tmp_path: Path) -> None:
    local = EmbeddedCompute(tmp_path)
    local.create_project_queue("demo", 12.5, 40)
    state = json.loads((tmp_path / "projects" / "demo.json").read_text())
    assert state == {
        "version": 1,
        "capacity": "12.5",
        "max_capacity": "40",
        "state": "RUNNING",
        "quota": None,
    }
    assert [p.name for p in tmp_path.rglob(".*")] == []
    assert EmbeddedCompute(tmp_path).queue_info("demo").capacity_percent == 12.5  # persisted


def test_embedded_refused_change_writes_nothing(tmp_path: Path) -> None:
    local = EmbeddedCompute(tmp_path)
    local.create_project_queue("demo", 100, 100)

    def files() -> dict[str, tuple[int, int]]:
        return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")}

    before = files()
    with pytest.raises(Conflict):
        local.create_project_queue("other", 1, 1)
    assert files() == before


def test_embedded_concurrent_creates_never_over_promise(tmp_path: Path) -> None:
    local = EmbeddedCompute(tmp_path)
    results: list[str] = []

    def create(i: int) -> None:
        try:
            EmbeddedCompute(tmp_path).create_project_queue(f"proj{i:02d}", 10, 10)
            results.append("ok")
        except Conflict:
            results.append("full")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 10
    assert sum(q.capacity_percent for q in local.list_project_queues()) == 100


# -- YARN: the wire contract and the ResourceManager's rules ---------------------------


def test_yarn_create_is_one_atomic_mutation_taking_from_the_spare(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    assert fake.mutations() == 1
    conf = fake.conf
    assert conf["yarn.scheduler.capacity.root.projects.queues"] == "hops__unallocated,demo"
    assert conf["yarn.scheduler.capacity.root.projects.demo.capacity"] == "30"
    assert conf["yarn.scheduler.capacity.root.projects.demo.maximum-capacity"] == "60"
    assert conf["yarn.scheduler.capacity.root.projects.hops__unallocated.capacity"] == "70"
    yarn.create_project_queue("demo", 30, 60)
    assert fake.mutations() == 1  # nothing to change: nothing sent


def test_yarn_mutation_body_is_the_documented_sched_conf() -> None:
    body = sched_conf_xml(
        add=[("root.projects.demo", {"capacity": "10"})],
        update=[("root.projects.hops__unallocated", {"capacity": "90"})],
        remove=["root.projects.old"],
    )
    root = ET.fromstring(body)
    assert root.tag == "sched-conf"
    add = root.find("add-queue")
    assert add is not None and add.findtext("queue-name") == "root.projects.demo"
    entry = add.find("params/entry")
    assert entry is not None and (entry.findtext("key"), entry.findtext("value")) == (
        "capacity",
        "10",
    )
    assert root.findtext("update-queue/queue-name") == "root.projects.hops__unallocated"
    assert root.findtext("remove-queue") == "root.projects.old"


def test_yarn_delete_stops_then_removes_and_leaves_nothing(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    yarn.set_quota("demo", 4, 8192, 1)
    yarn.delete_project_queue("demo")
    assert fake.conf == DEFAULT_CONF  # the undo restores the configuration exactly
    assert fake.queue_paths() == ["root", "root.default", "root.projects",
                                  "root.projects.hops__unallocated"]  # fmt: skip


def test_yarn_fake_refuses_removing_a_running_queue(yarn: YarnCompute, fake: YarnFake) -> None:
    """The rule the two-step delete exists for: the RM refuses to remove a RUNNING queue."""
    yarn.create_project_queue("demo", 30, 60)
    before = dict(fake.conf)
    refused = yarn._put(
        sched_conf_xml(
            remove=["root.projects.demo"],
            update=[("root.projects.hops__unallocated", {"capacity": "100"})],
        )
    )
    assert refused.status_code == 400
    assert "STOPPED" in refused.text
    assert fake.conf == before


@pytest.mark.parametrize(
    "body",
    [
        sched_conf_xml(add=[("root.projects.hops__unallocated", {"capacity": "0"})]),
        sched_conf_xml(add=[("root.nowhere.demo", {"capacity": "0"})]),
        sched_conf_xml(update=[("root.projects.ghost", {"capacity": "0"})]),
        sched_conf_xml(remove=["root.projects.ghost"]),
        sched_conf_xml(update=[("root.default", {"capacity": "50"})]),
        sched_conf_xml(update=[("root.default", {"maximum-capacity": "10"})]),
        sched_conf_xml(update=[("root.default", {"capacity": "140"}), ("root.projects", {"capacity": "-40"})]),
        sched_conf_xml(update=[("root.default", {"maximum-allocation": "foo=1"})]),
        sched_conf_xml(update=[("root.default", {"state": "PAUSED"})]),
        b"<sched-conf><add-queue>",
    ],
    ids=["add-existing", "no-parent", "update-unknown", "remove-unknown", "sum-not-100",
         "max-below-capacity", "out-of-range", "unknown-resource", "bad-state", "malformed"],
)  # fmt: skip
def test_yarn_fake_refuses_invalid_mutations(
    yarn: YarnCompute, fake: YarnFake, body: bytes
) -> None:
    """The ResourceManager rules the fake enforces (400, configuration unchanged)."""
    refused = yarn._put(body)
    assert refused.status_code == 400, refused.text
    assert fake.conf == DEFAULT_CONF


def test_yarn_delete_with_running_applications_drains_and_conflicts(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    fake.set_applications("root.projects.demo", 2, memory_mb=3072, vcores=3, gpus=1)
    info = yarn.queue_info("demo")
    assert (info.running_applications, info.used_memory_mb, info.used_vcores, info.used_gpus) == (
        2,
        3072,
        3,
        1,
    )
    with pytest.raises(Conflict) as refused:
        yarn.delete_project_queue("demo")
    assert refused.value.code == "queue_busy"
    assert yarn.queue_info("demo").state == "DRAINING"
    fake.set_applications("root.projects.demo", 0)
    yarn.delete_project_queue("demo")  # repeated once drained: completes
    assert fake.conf == DEFAULT_CONF


def test_yarn_create_restarts_a_stopped_queue(yarn: YarnCompute, fake: YarnFake) -> None:
    yarn.create_project_queue("demo", 30, 60)
    fake.set_applications("root.projects.demo", 1)
    with pytest.raises(Conflict):
        yarn.delete_project_queue("demo")  # left STOPPED (draining)
    yarn.create_project_queue("demo", 30, 60)  # the saga's compensation: running again
    assert yarn.queue_info("demo").state == "RUNNING"


def test_yarn_quota_is_the_queue_maximum_allocation(yarn: YarnCompute, fake: YarnFake) -> None:
    yarn.create_project_queue("demo", 30, 60)
    yarn.set_quota("demo", 4, 8192, 1)
    key = "yarn.scheduler.capacity.root.projects.demo.maximum-allocation"
    assert parse_resources(fake.conf[key]) == {"memory-mb": 8192, "vcores": 4, "yarn.io/gpu": 1}
    mutations = fake.mutations()
    yarn.set_quota("demo", 8, 8192, 2)  # a raise is one in-place update
    assert fake.mutations() == mutations + 1


def test_yarn_fake_refuses_lowering_a_live_maximum_allocation(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    refused = yarn._put(
        sched_conf_xml(
            update=[("root.projects.demo", {"maximum-allocation": "memory-mb=1024,vcores=1"})]
        )
    )
    assert refused.status_code == 400
    assert "can not be decreased" in refused.text


def test_yarn_lowering_quota_recreates_the_idle_queue(yarn: YarnCompute, fake: YarnFake) -> None:
    yarn.create_project_queue("demo", 30, 60)
    yarn.set_quota("demo", 8, 16384, 2)
    yarn.set_quota("demo", 2, 2048, 0)
    info = yarn.queue_info("demo")
    assert info.quota == ComputeQuota(2, 2048, 0)
    assert (info.capacity_percent, info.max_capacity_percent, info.state) == (30, 60, "RUNNING")
    assert fake.conf["yarn.scheduler.capacity.root.projects.hops__unallocated.capacity"] == "70"


def test_yarn_lowering_quota_of_a_busy_queue_conflicts_and_changes_nothing(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    yarn.set_quota("demo", 8, 16384, 2)
    fake.set_applications("root.projects.demo", 1)
    before = dict(fake.conf)
    with pytest.raises(Conflict):
        yarn.set_quota("demo", 2, 2048, 0)
    assert fake.conf == before


def test_yarn_application_arriving_during_recreation_keeps_the_queue_running(
    yarn: YarnCompute, fake: YarnFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    original_stop = yarn._stop

    def stop_then_app_arrives(path: str) -> bool:
        stopped = original_stop(path)
        fake.set_applications(path, 1)  # submitted just before the stop took effect
        return stopped

    monkeypatch.setattr(yarn, "_stop", stop_then_app_arrives)
    with pytest.raises(Conflict):
        yarn.set_quota("demo", 1, 1024, 0)
    fake.set_applications("root.projects.demo", 0)
    info = yarn.queue_info("demo")
    assert (info.state, info.quota) == ("RUNNING", None)


def test_yarn_quota_above_the_cluster_maximum_is_refused_and_queue_kept(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    before = dict(fake.conf)
    with pytest.raises(BadRequest) as refused:
        yarn.set_quota("demo", 4, 8192, 99)  # the cluster has 8 GPUs per container at most
    assert refused.value.code == "yarn_refused"
    assert fake.conf == before  # re-created as it was


def test_yarn_without_gpu_scheduling(rm_url: str, fake: YarnFake) -> None:
    fake.cluster_maximum = {"memory-mb": 65536, "vcores": 32}
    backend = YarnCompute(rm_url, user="yarn", gpu_resource=None)
    backend.create_project_queue("demo", 10, 10)
    backend.set_quota("demo", 2, 2048, 0)
    assert backend.queue_info("demo").quota == ComputeQuota(2, 2048, 0)
    with pytest.raises(BadRequest):
        backend.set_quota("demo", 2, 2048, 1)


def test_yarn_replans_when_another_writer_changed_the_configuration(
    yarn: YarnCompute, fake: YarnFake, rm_url: str
) -> None:
    """Two writers read the same spare capacity; the second PUT would break the 100 %
    rule. The RM answers 400, the client re-reads and plans again."""
    other = YarnCompute(rm_url, user="yarn")
    original_put = yarn._put
    raced = []

    def racing_put(body: bytes):  # type: ignore[no-untyped-def]
        if not raced:
            raced.append(True)
            other.create_project_queue("intruder", 20, 20)
        return original_put(body)

    yarn._put = racing_put  # type: ignore[method-assign]
    yarn.create_project_queue("demo", 30, 60)
    assert sorted(q.project for q in yarn.list_project_queues()) == ["demo", "intruder"]
    assert fake.conf["yarn.scheduler.capacity.root.projects.hops__unallocated.capacity"] == "50"


def test_yarn_missing_parent_queue_is_a_system_error(yarn: YarnCompute, fake: YarnFake) -> None:
    fake.conf = {
        "yarn.scheduler.capacity.root.queues": "default",
        "yarn.scheduler.capacity.root.default.capacity": "100",
    }
    with pytest.raises(BackendUnavailable) as failed:
        yarn.create_project_queue("demo", 10, 10)
    assert failed.value.system == "yarn"
    assert "root.projects" in failed.value.message


@pytest.mark.parametrize(("user", "status"), [(None, 401), ("mallory", 403)])
def test_yarn_refused_credentials_are_a_system_error(
    rm_url: str, user: str | None, status: int
) -> None:
    backend = YarnCompute(rm_url, user=user)
    with pytest.raises(BackendUnavailable) as failed:
        backend.create_project_queue("demo", 10, 10)
    assert str(status) in failed.value.message


def test_yarn_server_error_is_a_system_error(yarn: YarnCompute, fake: YarnFake) -> None:
    fake.fault = "error"
    with pytest.raises(BackendUnavailable) as failed:
        yarn.list_project_queues()
    assert failed.value.system == "yarn"
    assert failed.value.status_code == 503
    assert "500" in failed.value.message


def test_yarn_down_fails_fast() -> None:
    backend = YarnCompute(dead_url(), user="yarn")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        backend.create_project_queue("demo", 10, 10)
    assert time.monotonic() - started < BOUND_SECONDS


def test_yarn_hung_server_fails_within_the_bound() -> None:
    with blackhole() as url:
        backend = YarnCompute(url, user="yarn")  # default timeouts
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as failed:
            backend.queue_info("demo")
        elapsed = time.monotonic() - started
    assert "timed out" in failed.value.message
    assert elapsed < BOUND_SECONDS


def test_yarn_slow_server_fails_within_the_bound(yarn: YarnCompute, fake: YarnFake) -> None:
    fake.fault = "slow"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        yarn.set_quota("demo", 1, 1, 0)
    assert time.monotonic() - started < BOUND_SECONDS


# -- YARN: compute credits (usage per application, queue state) ------------------------

DEMO = "root.projects.demo"


def started(fake: YarnFake, app_id: str) -> datetime:
    """The application's `startedTime` as the fake reports it, as naive UTC."""
    return from_epoch_ms(fake.apps[app_id].started)


def test_yarn_usage_carries_the_documented_started_time(yarn: YarnCompute, fake: YarnFake) -> None:
    """`startedTime` (ms since the epoch) tells an application of this project from one of
    an earlier project of the same name; it is read exactly, to the millisecond."""
    yarn.create_project_queue("demo", 30, 60)
    app = fake.submit_application(DEMO, vcore_seconds=1, started=1_765_000_000_123)
    raw = httpx.get(f"{yarn._client.base_url}/ws/v1/cluster/apps").json()["apps"]["app"][0]
    assert raw["startedTime"] == 1_765_000_000_123
    (usage,) = yarn.application_usage("demo")
    assert usage.app_id == app
    assert usage.started_at == datetime(2025, 12, 6, 5, 46, 40, 123000)
    assert usage.started_at.tzinfo is None  # naive UTC, as the DB's created_at


@pytest.mark.parametrize("value", [None, "", 0, -5, "soon", True, 1.5, 10**30])
def test_yarn_application_without_a_readable_started_time_is_unreadable(
    yarn: YarnCompute, value: object
) -> None:
    """Without its start an application cannot be attributed to a project: the answer is a
    system error (the project is skipped this round), not a guess."""
    app: dict[str, object] = {"id": "application_1_0001", "queue": "demo", "vcoreSeconds": 1}
    if value is not None:
        app["startedTime"] = value
    body = json.dumps({"apps": {"app": [app]}})
    yarn._client = httpx.Client(
        base_url="http://rm.invalid",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, text=body)),
    )
    with pytest.raises(BackendUnavailable, match="startedTime"):
        yarn.application_usage("demo")


def test_yarn_started_time_as_a_decimal_string_is_read(yarn: YarnCompute) -> None:
    body = json.dumps(
        {"apps": {"app": [{"id": "a", "queue": "demo", "vcoreSeconds": 1, "startedTime": "1000"}]}}
    )
    yarn._client = httpx.Client(
        base_url="http://rm.invalid",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, text=body)),
    )
    assert yarn.application_usage("demo")[0].started_at == datetime(1970, 1, 1, 0, 0, 1)


def test_embedded_usage_keeps_the_first_reported_start(tmp_path: Path) -> None:
    """The embedded backend keeps the submission time from the first report on, as YARN
    keeps `startedTime`; a runner may give the job's real start."""
    local = EmbeddedCompute(tmp_path)
    local.create_project_queue("demo", 10, 20)
    begun = datetime(2026, 1, 2, 3, 4, 5, 678000)
    local.record_application("demo", "local-1", vcore_seconds=1, started_at=begun)
    local.record_application(
        "demo", "local-1", vcore_seconds=2, started_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    local.record_application("demo", "local-2", vcore_seconds=1)
    first, second = local.application_usage("demo")
    assert (first.app_id, first.vcore_seconds, first.started_at) == ("local-1", 2, begun)
    assert second.started_at is not None and second.started_at > begun
    aware = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    local.record_application("demo", "local-3", vcore_seconds=1, started_at=aware)
    assert local.application_usage("demo")[2].started_at == datetime(2026, 1, 2, 3, 4, 5)
    with pytest.raises(BadRequest):
        local.record_application("demo", "local-4", vcore_seconds=1, started_at="yesterday")  # type: ignore[arg-type]


def test_embedded_usage_of_an_earlier_version_has_no_start(tmp_path: Path) -> None:
    """Documents written before start times were kept: the applications are the current
    project's (the document goes with its project), so no start is reported."""
    local = EmbeddedCompute(tmp_path)
    local.create_project_queue("demo", 10, 20)
    local.record_application("demo", "local-1", vcore_seconds=3)
    path = local.documents.path("demo")
    document = json.loads(path.read_text())
    del document["applications"]["local-1"]["started_ms"]
    path.write_text(json.dumps(document))
    local = EmbeddedCompute(tmp_path)
    assert local.application_usage("demo")[0].started_at is None
    local.record_application("demo", "local-1", vcore_seconds=4)
    assert local.application_usage("demo")[0].started_at is None


def test_embedded_state_of_a_project_goes_with_its_queue(tmp_path: Path) -> None:
    """Why an embedded project re-created under the same name cannot see the old one's
    applications: they live in the queue's document, which deletion removes."""
    local = EmbeddedCompute(tmp_path)
    local.create_project_queue("demo", 10, 20)
    local.record_application("demo", "local-1", vcore_seconds=3, state="FINISHED")
    local.delete_project_queue("demo")
    local.create_project_queue("demo", 10, 20)
    assert local.application_usage("demo") == []


@pytest.mark.parametrize("resource_map", ["repeated", "list"])
@pytest.mark.parametrize("app_queue", ["leaf", "path"])
def test_yarn_usage_is_the_projects_queue_running_and_finished(
    yarn: YarnCompute, fake: YarnFake, resource_map: str, app_queue: str
) -> None:
    fake.resource_map, fake.app_queue = resource_map, app_queue
    yarn.create_project_queue("demo", 30, 60)
    yarn.create_project_queue("other", 30, 60)
    done = fake.submit_application(DEMO, vcore_seconds=100, memory_seconds=204800, gpu_seconds=50)
    fake.update_application(done, state="FINISHED")
    running = fake.submit_application(DEMO, vcore_seconds=7, memory_seconds=7168, state="ACCEPTED")
    fake.submit_application("root.projects.other", vcore_seconds=999)
    fake.submit_application("root.default", vcore_seconds=999)

    usage = yarn.application_usage("demo")

    assert usage == [
        AppUsage(done, "demo", vcore_seconds=100, gpu_seconds=50, memory_mb_seconds=204800,
                 state="FINISHED", finished=True, started_at=started(fake, done)),
        AppUsage(running, "demo", vcore_seconds=7, gpu_seconds=0, memory_mb_seconds=7168,
                 state="ACCEPTED", finished=False, started_at=started(fake, running)),
    ]  # fmt: skip
    assert [u.vcore_seconds for u in yarn.application_usage("other")] == [999]


def test_yarn_usage_is_cumulative_and_finished_apps_are_forgotten(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    """The contract the service's delta charging relies on: values only grow while the app
    runs, stay once it finished, and the app disappears after max-completed-applications."""
    fake.max_completed_applications = 1
    yarn.create_project_queue("demo", 30, 60)
    first = fake.submit_application(DEMO, vcore_seconds=10, gpu_seconds=1)
    assert yarn.application_usage("demo")[0].vcore_seconds == 10
    fake.update_application(first, vcore_seconds=25, gpu_seconds=4)
    (seen,) = yarn.application_usage("demo")
    assert (seen.vcore_seconds, seen.gpu_seconds, seen.finished) == (25, 4, False)
    fake.update_application(first, state="KILLED")
    assert yarn.application_usage("demo")[0] == AppUsage(
        first, "demo", 25, 4, 0, state="KILLED", finished=True, started_at=started(fake, first)
    )
    second = fake.submit_application(DEMO, vcore_seconds=3)
    fake.update_application(second, state="FAILED")
    assert [u.app_id for u in yarn.application_usage("demo")] == [second]  # first forgotten


def test_yarn_usage_reads_every_repeated_map_entry(yarn: YarnCompute, fake: YarnFake) -> None:
    """Jersey 1 renders resourceSecondsMap with the key "entry" repeated; a plain JSON
    parser keeps only the last entry."""
    yarn.create_project_queue("demo", 30, 60)
    fake.resource_map = "repeated"
    app = fake.submit_application(DEMO, vcore_seconds=5, memory_seconds=5120, gpu_seconds=2)
    raw = httpx.get(f"{yarn._client.base_url}/ws/v1/cluster/apps").text
    assert raw.count('"entry":') == 3
    naive = json.loads(raw)["apps"]["app"][0]["resourceSecondsMap"]
    assert naive == {"entry": {"key": "vcores", "value": "5"}}  # the GPU entry is lost
    assert yarn.application_usage("demo") == [
        AppUsage(app, "demo", 5, 2, 5120, "RUNNING", False, started(fake, app))
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"entry": {"key": "yarn.io/gpu", "value": "3"}}, {"yarn.io/gpu": 3}),
        (
            {"entry": [{"key": "vcores", "value": 4}, {"key": "yarn.io/gpu", "value": "1"}]},
            {"vcores": 4, "yarn.io/gpu": 1},
        ),
        ({"vcores": "8", "memory-mb": 1024}, {"vcores": 8, "memory-mb": 1024}),
        ({"entry": {"key": "vcores", "value": '"12"'}}, {"vcores": 12}),
        ({}, {}),
        ("", {}),
        (None, {}),
    ],
    ids=["one-entry", "list", "plain-object", "quoted", "empty", "jersey2-empty", "absent"],
)
def test_resource_seconds_map_shapes(raw: object, expected: dict[str, int]) -> None:
    assert resource_seconds(raw) == expected


@pytest.mark.parametrize("how", ["cluster-without-gpus", "hadoop2-no-map", "backend-without-gpus"])
def test_yarn_usage_without_a_gpu_entry_is_zero_gpu_seconds(
    rm_url: str, fake: YarnFake, how: str
) -> None:
    if how == "cluster-without-gpus":
        fake.cluster_maximum = {"memory-mb": 65536, "vcores": 32}
    if how == "hadoop2-no-map":
        fake.resource_map = "absent"
    backend = YarnCompute(
        rm_url, user="yarn", gpu_resource=None if how.startswith("backend") else "yarn.io/gpu"
    )
    backend.create_project_queue("demo", 30, 60)
    app = fake.submit_application(DEMO, vcore_seconds=9, memory_seconds=9216, gpu_seconds=6)
    assert backend.application_usage("demo") == [
        AppUsage(app, "demo", 9, 0, 9216, "RUNNING", False, started(fake, app))
    ]


def test_yarn_usage_of_a_project_without_applications_or_queue(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    assert yarn.application_usage("demo") == []  # the RM answers {"apps": null}
    yarn.create_project_queue("demo", 30, 60)
    app = fake.submit_application(DEMO, vcore_seconds=1)
    fake.update_application(app, state="FINISHED")
    yarn.delete_project_queue("demo")
    # Finished applications outlive their queue: their last usage can still be charged.
    assert [u.app_id for u in yarn.application_usage("demo")] == [app]
    with pytest.raises(BadRequest):
        yarn.application_usage("Not A Project")


def test_yarn_fake_queue_filter_omits_finished_apps_like_the_rm(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    """Why the client lists all applications and filters itself: the RM answers `?queue=`
    from the scheduler, which no longer holds finished applications."""
    yarn.create_project_queue("demo", 30, 60)
    done = fake.submit_application(DEMO, vcore_seconds=100)
    fake.update_application(done, state="FINISHED")
    live = fake.submit_application(DEMO, vcore_seconds=1)
    url = f"{yarn._client.base_url}/ws/v1/cluster/apps"
    for queue in ("demo", DEMO):
        body = httpx.get(url, params={"queue": queue}).json()
        assert [a["id"] for a in body["apps"]["app"]] == [live]
    assert httpx.get(url, params={"states": "finished"}).json()["apps"]["app"][0]["id"] == done
    assert httpx.get(url, params={"queue": "ghost"}).status_code == 400
    assert httpx.get(url, params={"states": "SLEEPING"}).status_code == 400
    assert [u.app_id for u in yarn.application_usage("demo")] == [done, live]


def test_yarn_set_queue_state_stops_admission_and_is_idempotent(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    before = fake.mutations()
    yarn.set_queue_state("demo", running=False)
    yarn.set_queue_state("demo", running=False)
    assert fake.mutations() == before + 1
    assert fake.conf[f"yarn.scheduler.capacity.{DEMO}.state"] == "STOPPED"
    assert yarn.queue_info("demo").state == "STOPPED"
    with pytest.raises(Refused):
        fake.submit_application(DEMO)
    yarn.set_queue_state("demo", running=True)
    yarn.set_queue_state("demo", running=True)
    assert fake.mutations() == before + 2
    assert yarn.queue_info("demo").state == "RUNNING"
    fake.submit_application(DEMO)


def test_yarn_stopped_queue_drains_running_applications(yarn: YarnCompute, fake: YarnFake) -> None:
    yarn.create_project_queue("demo", 30, 60)
    app = fake.submit_application(DEMO, vcore_seconds=1)
    yarn.set_queue_state("demo", running=False)
    info = yarn.queue_info("demo")
    assert (info.state, info.running_applications) == ("DRAINING", 1)
    fake.update_application(app, vcore_seconds=40)  # the running one continues...
    assert yarn.application_usage("demo")[0].vcore_seconds == 40  # ...and is still charged
    fake.update_application(app, state="FINISHED")
    assert yarn.queue_info("demo").state == "STOPPED"
    assert [q.state for q in yarn.list_project_queues()] == ["STOPPED"]


def test_yarn_set_queue_state_of_an_unknown_project(yarn: YarnCompute, fake: YarnFake) -> None:
    with pytest.raises(NotFound):
        yarn.set_queue_state("demo", running=False)
    yarn.create_project_queue("demo", 30, 60)
    with pytest.raises(BadRequest):
        yarn.set_queue_state("demo", running="no")  # type: ignore[arg-type]
    assert fake.conf.get(f"yarn.scheduler.capacity.{DEMO}.state") == "RUNNING"


def test_yarn_lowering_quota_keeps_a_stopped_queue_stopped(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    """Lowering re-creates the queue; a queue stopped for credits must not come back RUNNING."""
    yarn.create_project_queue("demo", 30, 60)
    yarn.set_quota("demo", 8, 16384, 2)
    yarn.set_queue_state("demo", running=False)
    yarn.set_quota("demo", 2, 2048, 0)
    info = yarn.queue_info("demo")
    assert (info.state, info.quota) == ("STOPPED", ComputeQuota(2, 2048, 0))


def test_yarn_busy_stopped_queue_stays_stopped_when_lowering_quota_conflicts(
    yarn: YarnCompute, fake: YarnFake
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    yarn.set_quota("demo", 8, 16384, 2)
    fake.submit_application(DEMO)
    yarn.set_queue_state("demo", running=False)
    with pytest.raises(Conflict):
        yarn.set_quota("demo", 2, 2048, 0)
    assert fake.conf[f"yarn.scheduler.capacity.{DEMO}.state"] == "STOPPED"


def test_yarn_unreadable_application_list_is_a_system_error(yarn: YarnCompute) -> None:
    for body in (
        "<html>proxy error</html>",
        '{"apps": {"app": ["x"]}}',
        '{"apps": {"app": [{"id": "a", "queue": "demo", "vcoreSeconds": "many"}]}}',
    ):
        yarn._client = httpx.Client(
            base_url="http://rm.invalid",
            transport=httpx.MockTransport(
                lambda request, body=body: httpx.Response(200, text=body)
            ),
        )
        with pytest.raises(BackendUnavailable) as failed:
            yarn.application_usage("demo")
        assert failed.value.system == "yarn"


@pytest.mark.parametrize("call", ["usage", "stop"])
def test_yarn_credit_calls_fail_as_system_errors(
    yarn: YarnCompute, fake: YarnFake, call: str
) -> None:
    yarn.create_project_queue("demo", 30, 60)
    fake.fault = "error"
    with pytest.raises(BackendUnavailable) as failed:
        yarn.application_usage("demo") if call == "usage" else yarn.set_queue_state("demo", False)
    assert "500" in failed.value.message


@pytest.mark.parametrize("call", ["usage", "stop"])
def test_yarn_credit_calls_to_a_dead_or_hung_rm_are_bounded(call: str) -> None:
    for make in (lambda: contextlib.nullcontext(dead_url()), blackhole):
        with make() as url:
            backend = YarnCompute(url, user="yarn", timeout=1.0, connect_timeout=1.0)
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                if call == "usage":
                    backend.application_usage("demo")
                else:
                    backend.set_queue_state("demo", running=False)
            assert time.monotonic() - started < BOUND_SECONDS


def test_queue_info_type_is_plain_data() -> None:
    info = QueueInfo("demo", "root.projects.demo", "RUNNING", 1.0, 2.0, None)
    assert info.running_applications == 0
