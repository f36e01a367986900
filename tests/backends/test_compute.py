"""The compute backends: the embedded record and YARN (against the ResourceManager fake).

The shared tests run on both implementations, so the embedded default behaves like the
cluster one; the YARN tests then check the wire contract, the rules the ResourceManager
enforces, error mapping and bounded time when the ResourceManager is down or hung.
"""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.backends.compute import (
    ComputeBackend,
    ComputeQuota,
    LocalCompute,
    QueueInfo,
    YarnCompute,
)
from hopsworks_api.backends.compute.yarn import parse_resources, sched_conf_xml
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.errors import BadRequest, Conflict, NotFound
from tests.support.yarn_fake import DEFAULT_CONF, YarnFake, blackhole, dead_url, serve

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
        return LocalCompute(tmp_path / "state")
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


def test_local_state_is_one_json_file_replaced_atomically(tmp_path: Path) -> None:
    local = LocalCompute(tmp_path)
    local.create_project_queue("demo", 12.5, 40)
    state = json.loads((tmp_path / "compute-queues.json").read_text())
    assert state["queues"]["demo"] == {
        "capacity": "12.5",
        "max_capacity": "40",
        "state": "RUNNING",
        "quota": None,
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert LocalCompute(tmp_path).queue_info("demo").capacity_percent == 12.5  # persisted


def test_local_refused_change_writes_nothing(tmp_path: Path) -> None:
    local = LocalCompute(tmp_path)
    local.create_project_queue("demo", 100, 100)
    before = (tmp_path / "compute-queues.json").stat().st_mtime_ns
    with pytest.raises(Conflict):
        local.create_project_queue("other", 1, 1)
    assert (tmp_path / "compute-queues.json").stat().st_mtime_ns == before


def test_local_concurrent_creates_never_over_promise(tmp_path: Path) -> None:
    local = LocalCompute(tmp_path)
    results: list[str] = []

    def create(i: int) -> None:
        try:
            LocalCompute(tmp_path).create_project_queue(f"proj{i:02d}", 10, 10)
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


def test_queue_info_type_is_plain_data() -> None:
    info = QueueInfo("demo", "root.projects.demo", "RUNNING", 1.0, 2.0, None)
    assert info.running_applications == 0
