"""The embedded backends' state on disk: one document per project.

`EmbeddedHive`, `EmbeddedCompute`, `EmbeddedKafka` and `EmbeddedKubernetes` each keep one
JSON document per project (see `hopsworks_api.backends.jsonstate.ProjectDocuments`). What
is checked here, across the four:

- the layout: per-project files, listings correct, nothing of a deleted project left;
- no lost update: threads and processes, each with its own instances, changing the same
  and different projects at once;
- the cost of a project-creation step does not depend on the number of projects: counted
  in files and bytes written and documents read (deterministic), never in wall-clock time.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hopsworks_api.backends.compute.embedded import EmbeddedCompute
from hopsworks_api.backends.hive.embedded import EmbeddedHive
from hopsworks_api.backends.jsonstate import ProjectDocuments
from hopsworks_api.backends.kafka import member_acls, share_acls
from hopsworks_api.backends.kafka.base import AclEntry
from hopsworks_api.backends.kafka.embedded import EmbeddedKafka
from hopsworks_api.backends.kubernetes.base import KubeQuota, fingerprint
from hopsworks_api.backends.kubernetes.embedded import EmbeddedKubernetes
from hopsworks_api.errors import Conflict

QUOTA = KubeQuota(cpu="2", memory="4Gi", gpus=0)


def pem(kind: str, body: str) -> str:
    return f"-----BEGIN {kind}-----\n{base64.b64encode(body.encode()).decode()}\n-----END {kind}-----\n"


CERT, KEY, CA = pem("CERTIFICATE", "owner"), pem("PRIVATE KEY", "secret"), pem("CERTIFICATE", "ca")


@dataclass
class Embedded:
    """The four embedded backends laid out as `backends.registry.build_backends` does."""

    root: Path
    hive: EmbeddedHive
    compute: EmbeddedCompute
    kafka: EmbeddedKafka
    kube: EmbeddedKubernetes

    @classmethod
    def at(cls, root: Path) -> Embedded:
        return cls(
            root,
            EmbeddedHive(root / "hive-warehouse"),
            EmbeddedCompute(root / "compute"),
            EmbeddedKafka(root / "kafka"),
            EmbeddedKubernetes(root / "kubernetes"),
        )

    def stores(self) -> list[ProjectDocuments]:
        return [
            self.hive.documents,
            self.compute.documents,
            self.kafka.documents,
            self.kube.documents,
        ]

    def create_project(self, project: str, capacity: float = 1) -> None:
        """The backend steps of the project-creation saga (`backends.steps.create_project`
        and `add_member` for the owner), in its order."""
        self.hive.create_database(project)
        self.compute.create_project_queue(project, capacity, 100)
        self.kafka.grant_member(project, "owner")
        self.hive.grant_member(project, "owner", "data_owner")
        with self.kube.batch():  # as provisioning.systems.kubernetes converges a project
            self.kube.ensure_project(project, QUOTA)
            self.kube.grant_member(project, "owner", "data_owner")
            self.kube.store_member_certificate(project, "owner", CERT, KEY, CA)


@pytest.fixture
def embedded(tmp_path: Path) -> Embedded:
    return Embedded.at(tmp_path / "backends")


def documents(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.json")}


# --- layout -----------------------------------------------------------------------------


def test_each_project_has_its_own_documents(embedded: Embedded) -> None:
    embedded.create_project("proj_a", 10)
    embedded.create_project("proj_b", 20)
    assert documents(embedded.root) == {
        "hive-warehouse/.hive-catalog/proj_a.json",
        "hive-warehouse/.hive-catalog/proj_b.json",
        "compute/projects/proj_a.json",
        "compute/projects/proj_b.json",
        "compute/compute-capacity.json",
        "kafka/projects/proj_a.json",
        "kafka/projects/proj_b.json",
        "kubernetes/projects/proj_a.json",
        "kubernetes/projects/proj_b.json",
    }
    index = json.loads((embedded.root / "compute" / "compute-capacity.json").read_text())
    assert index == {"version": 1, "allocated": "30"}
    assert not list(embedded.root.rglob(".*.tmp")), "no temporary file is left behind"

    # listings see every project; a fresh instance (another process) sees the same
    again = Embedded.at(embedded.root)
    assert again.hive.list_project_databases() == ["proj_a", "proj_b"]
    assert [q.project for q in again.compute.list_project_queues()] == ["proj_a", "proj_b"]
    assert again.kube.list_projects() == ["proj_a", "proj_b"]
    assert set(again.kafka.describe_acls()) == member_acls("proj_a", "owner") | member_acls(
        "proj_b", "owner"
    )
    assert again.kube.describe_project("proj_b").certificates == {"owner": fingerprint(CERT)}

    # deleting a project removes its documents and gives its capacity back
    again.hive.drop_database("proj_a")
    again.compute.delete_project_queue("proj_a")
    again.kafka.delete_project("proj_a")
    again.kube.delete_project("proj_a")
    assert not {d for d in documents(embedded.root) if "proj_a" in d}
    with pytest.raises(Conflict, match="80 %"):
        embedded.compute.create_project_queue("proj_c", 81, 100)
    embedded.compute.create_project_queue("proj_c", 80, 100)
    embedded.compute.delete_project_queue("proj_b")
    embedded.compute.delete_project_queue("proj_c")
    assert not (embedded.root / "compute" / "compute-capacity.json").exists()  # 0 % left


def test_kafka_shares_cross_projects_through_the_hint(tmp_path: Path) -> None:
    kafka = EmbeddedKafka(tmp_path)
    kafka.create_topic("owner_p", "events")
    kafka.grant_member("owner_p", "olga")
    kafka.grant_member("target_p", "tom")
    kafka.share_topic("owner_p", "events", "target_p", ["tom"], writable=True)

    def doc(project: str) -> dict[str, Any]:
        return json.loads((tmp_path / "projects" / f"{project}.json").read_text())

    shared = share_acls("owner_p", "events", "target_p", "tom", True)
    # the share is kept with the topic; the target's document points to it
    assert {AclEntry(*row) for row in doc("owner_p")["acls"]} >= shared
    assert doc("target_p")["held_in"] == ["owner_p"]
    assert set(kafka.describe_acls("target_p")) == member_acls("target_p", "tom") | shared

    # revoking the member finds the share in the owner's document, and drops the hint
    kafka.revoke_member("target_p", "tom")
    assert kafka.describe_acls("target_p") == []
    assert set(kafka.describe_acls("owner_p")) == member_acls("owner_p", "olga")
    assert not (tmp_path / "projects" / "target_p.json").exists()

    # an undone share leaves the documents byte for byte as they were
    kafka.grant_member("target_p", "tom")
    before = {p.name: p.read_bytes() for p in (tmp_path / "projects").iterdir()}
    kafka.share_topic("owner_p", "events", "target_p", ["tom"], writable=False)
    kafka.unshare_topic("owner_p", "events", "target_p", ["tom"])
    assert {p.name: p.read_bytes() for p in (tmp_path / "projects").iterdir()} == before


def test_kafka_collision_check_reads_only_the_candidate_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = EmbeddedKafka(tmp_path)
    for i in range(30):
        kafka.create_topic(f"proj_{i:02d}", "t")
    kafka.create_topic("abc", "x_t")
    loads = count_loads(monkeypatch)
    with pytest.raises(Conflict, match="clash"):
        kafka.create_topic("abc_x", "t")
    # the key "abc_x_t" can only be "abc.x_t" or "abc_x.t": only those projects are read
    assert set(loads) == {"abc", "abc_x"}
    loads.clear()
    kafka.create_topic("abc_x", "u")  # "abc.x_u" is a candidate, the 30 others are not
    assert set(loads) == {"abc", "abc_x", "0-other"}


def test_compute_index_recovers_from_a_crash_between_its_writes(tmp_path: Path) -> None:
    """The total is written with a note before the project's file; a crash right after it
    (simulated: the note is left, the project's file never written) is corrected by the
    next operation, which reads just the noted project."""
    compute = EmbeddedCompute(tmp_path)
    compute.create_project_queue("proj_a", 40, 100)
    index = tmp_path / "compute-capacity.json"
    index.write_text(
        json.dumps(
            {"version": 1, "allocated": "90", "pending": {"project": "proj_b", "capacity": "50"}}
        )
    )
    compute.create_project_queue("proj_c", 60, 100)  # 40 + 60: only possible if corrected
    assert json.loads(index.read_text()) == {"version": 1, "allocated": "100"}
    # and the other way round: the project's file was written, the note not yet cleared
    compute.delete_project_queue("proj_c")
    compute.create_project_queue("proj_b", 50, 100)
    index.write_text(
        json.dumps(
            {"version": 1, "allocated": "90", "pending": {"project": "proj_b", "capacity": "50"}}
        )
    )
    with pytest.raises(Conflict, match="only 10 %"):
        compute.create_project_queue("proj_d", 11, 100)
    assert json.loads(index.read_text()) == {"version": 1, "allocated": "90"}


# --- no lost updates ----------------------------------------------------------------------


def hammer(root: str, worker: int, rounds: int) -> None:
    """One worker's changes: its own projects, and members of one shared project, each
    change through a fresh set of instances (as another process would)."""
    for i in range(rounds):
        b = Embedded.at(Path(root))
        b.create_project(f"w{worker}_p{i:02d}", capacity=0.5)
        b.kube.grant_member("shared", f"u{worker}-{i}", "data_scientist")
        b.kafka.grant_member("shared", f"u{worker}-{i}")
        b.hive.grant_member("shared", f"u{worker}-{i}", "data_scientist")


def check_nothing_lost(root: Path, workers: int, rounds: int) -> None:
    b = Embedded.at(root)
    projects = sorted([f"w{w}_p{i:02d}" for w in range(workers) for i in range(rounds)])
    assert b.kube.list_projects() == sorted([*projects, "shared"])
    assert b.hive.list_project_databases() == sorted([*projects, "shared"])
    assert [q.project for q in b.compute.list_project_queues()] == sorted([*projects, "shared"])
    users = {"owner"} | {f"u{w}-{i}" for w in range(workers) for i in range(rounds)}
    assert set(b.kube.describe_project("shared").members) == users
    assert set(b.kafka.describe_acls("shared")) == set().union(
        *(member_acls("shared", u) for u in users)
    )
    assert set(b.hive.list_grants("shared") or {}) == {f"shared__{u}" for u in users}
    index = json.loads((root / "compute" / "compute-capacity.json").read_text())
    assert index["allocated"] == str(0.5 * len(projects) + 1).removesuffix(".0")


def setup_shared(root: Path) -> None:
    Embedded.at(root).create_project("shared", capacity=1)


def test_a_batch_writes_each_document_once_and_keeps_each_operation_whole(
    tmp_path: Path,
) -> None:
    store = ProjectDocuments(tmp_path / "docs", tmp_path / "docs.lock")
    with store.transaction() as tx:
        tx.get("b", dict)["n"] = 0  # type: ignore[index]
    store.stats.reset()
    with store.batch():
        for step in range(3):
            with store.transaction() as tx:
                tx.get("a", dict)[f"step{step}"] = True  # type: ignore[index]
        assert store.read("a") is None  # nothing on disk until the batch ends
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.get("a")["half"] = True  # type: ignore[index]
            tx.get("b")["n"] = 1  # type: ignore[index]
            raise RuntimeError("an operation that fails writes nothing, in a batch too")
        with store.transaction() as tx:
            assert "half" not in tx.get("a")  # type: ignore[operator]
    assert store.read("a") == {"step0": True, "step1": True, "step2": True}
    assert store.read("b") == {"n": 0}
    assert store.stats.files_written == 1

    with pytest.raises(RuntimeError), store.batch():  # a batch that ends by an exception
        with store.transaction() as tx:
            tx.set("a", {"kept": True})
        raise RuntimeError("what the operations before it did is written")
    assert store.read("a") == {"kept": True}


def test_a_batch_holds_the_lock_and_flush_writes_in_order(tmp_path: Path) -> None:
    store = ProjectDocuments(tmp_path / "docs", tmp_path / "docs.lock")
    entered, waited = threading.Event(), []

    def other() -> None:
        entered.wait()
        with store.transaction() as tx:
            waited.append(tx.get("a"))

    thread = threading.Thread(target=other)
    thread.start()
    with store.batch():
        with store.transaction() as tx:
            tx.set("a", {"first": True})
            tx.flush(["a"])  # written now, inside the batch: an order a backend relies on
        assert store.read("a") == {"first": True}
        entered.set()
        thread.join(0.2)
        assert thread.is_alive() and waited == []  # the other thread waits for the batch
        with store.transaction() as tx:
            tx.set("a", {"second": True})
    thread.join(10)
    assert waited == [{"second": True}]


def test_concurrent_threads_lose_nothing(tmp_path: Path) -> None:
    setup_shared(tmp_path)
    threads = [threading.Thread(target=hammer, args=(str(tmp_path), w, 6)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check_nothing_lost(tmp_path, 6, 6)


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    setup_shared(tmp_path)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=hammer, args=(str(tmp_path), w, 5)) for w in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    check_nothing_lost(tmp_path, 3, 5)


# --- the cost of a step does not grow with the number of projects ------------------------


def count_loads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the documents read from disk, by name, from now on."""
    loads: Counter[str] = Counter()
    original = ProjectDocuments._load

    def counting(self: ProjectDocuments, key: str) -> dict[str, Any] | None:
        loads[key] += 1
        return original(self, key)

    monkeypatch.setattr(ProjectDocuments, "_load", counting)
    return loads


@contextmanager
def measured(b: Embedded, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Files written / removed, bytes written and documents read by the block, and which
    files on disk it replaced (by inode and mtime)."""

    def files() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(b.root)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in b.root.rglob("*")
            if p.is_file()
        }

    for store in b.stores():
        store.stats.reset()
    before = files()
    result: dict[str, Any] = {}
    with monkeypatch.context() as patch:
        loads = count_loads(patch)
        yield result
    after = files()
    result["files_written"] = sum(s.stats.files_written for s in b.stores())
    result["bytes_written"] = sum(s.stats.bytes_written for s in b.stores())
    result["files_removed"] = sum(s.stats.files_removed for s in b.stores())
    result["documents_read"] = sum(loads.values())
    result["touched"] = sorted(name for name, stat in after.items() if before.get(name) != stat)
    result["untouched_others"] = all(
        after.get(name) == stat
        for name, stat in before.items()
        if "probe" not in name and not name.endswith(("compute-capacity.json", ".lock"))
    )


def test_creation_step_cost_does_not_depend_on_the_project_count(
    embedded: Embedded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Create a project among 10, then among 60: the same files, bytes and reads."""
    runs = []
    existing = 0
    for size, probe in ((10, "probe_a"), (60, "probe_b")):
        while existing < size:
            embedded.create_project(f"fill_{existing:03d}", capacity=1)
            existing += 1
        with measured(embedded, monkeypatch) as cost:
            embedded.create_project(probe, capacity=1)
        existing += 1
        runs.append(cost)
    small, large = runs
    for key in ("files_written", "bytes_written", "files_removed", "documents_read"):
        assert small[key] == large[key], key
    # per project: its Hive, compute, Kafka and Kubernetes documents, the capacity total
    # (twice: with the crash note, then settled) -- and no other project's file
    assert [t.replace("probe_b", "probe_a") for t in large["touched"]] == small["touched"]
    assert small["touched"] == [
        "compute/compute-capacity.json",
        "compute/projects/probe_a.json",
        "hive-warehouse/.hive-catalog/probe_a.json",
        "kafka/projects/probe_a.json",
        "kubernetes/projects/probe_a.json",
    ]
    assert small["untouched_others"] and large["untouched_others"]
    assert large["files_written"] == 7  # hive 2, compute 1 + index 2, kafka 1, kube 1
