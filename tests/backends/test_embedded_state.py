"""The embedded backends' state on disk: one document per project.

`LocalHive`, `LocalCompute`, `NoKafka` and `NoKubernetes` each keep one JSON document per
project (see `hopsworks_api.backends.compute.jsonstate.ProjectDocuments`). What is checked
here, across the four:

- the layout: per-project files, listings correct, nothing of a deleted project left;
- migration: a data directory in the old single-file layout keeps working;
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

from hopsworks_api.backends.compute import LocalCompute
from hopsworks_api.backends.compute.jsonstate import ProjectDocuments
from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.hive import LocalHive
from hopsworks_api.backends.hive.base import default_location
from hopsworks_api.backends.kafka import NoKafka, member_acls, share_acls
from hopsworks_api.backends.kafka.base import AclEntry
from hopsworks_api.backends.kubernetes.base import KubeQuota, fingerprint
from hopsworks_api.backends.kubernetes.none import NoKubernetes
from hopsworks_api.errors import Conflict

QUOTA = KubeQuota(cpu="2", memory="4Gi", gpus=0)


def pem(kind: str, body: str) -> str:
    return f"-----BEGIN {kind}-----\n{base64.b64encode(body.encode()).decode()}\n-----END {kind}-----\n"


CERT, KEY, CA = pem("CERTIFICATE", "owner"), pem("PRIVATE KEY", "secret"), pem("CERTIFICATE", "ca")


@dataclass
class Embedded:
    """The four embedded backends laid out as `backends.registry.build_backends` does."""

    root: Path
    hive: LocalHive
    compute: LocalCompute
    kafka: NoKafka
    kube: NoKubernetes

    @classmethod
    def at(cls, root: Path) -> Embedded:
        return cls(
            root,
            LocalHive(root / "hive-warehouse"),
            LocalCompute(root / "compute"),
            NoKafka(root / "kafka"),
            NoKubernetes(root / "kubernetes"),
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
        self.kube.ensure_project(project, QUOTA)
        self.hive.grant_member(project, "owner", "data_owner")
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
    kafka = NoKafka(tmp_path)
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
    kafka = NoKafka(tmp_path)
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


# --- migration from the single-file layout ------------------------------------------------


def write_old_layout(root: Path) -> None:
    """A data directory as the single-file versions left it."""
    (root / "compute").mkdir(parents=True)
    (root / "compute" / "compute-queues.json").write_text(
        json.dumps(
            {
                "version": 1,
                "queues": {
                    "old_a": {"capacity": "60", "max_capacity": "100", "state": "RUNNING",
                              "quota": {"vcores": 4, "memory_mb": 8192, "gpus": 0}},
                    "old_b": {"capacity": "30", "max_capacity": "50", "state": "RUNNING",
                              "quota": None},
                },
            }
        )
    )  # fmt: skip
    (root / "kubernetes").mkdir()
    (root / "kubernetes" / "kubernetes-desired.json").write_text(
        json.dumps(
            {
                "version": 1,
                "projects": {
                    "old_a": {"quota": QUOTA.hard(), "members": {"ann": "data_owner"},
                              "certificates": {"ann": "ab" * 32}},
                },
            }
        )
    )  # fmt: skip
    warehouse = (root / "hive-warehouse").resolve()
    (warehouse / "old_a.db").mkdir(parents=True)
    (warehouse / "old_b.db").mkdir()
    (warehouse / ".hive-catalog.json").write_text(
        json.dumps(
            {
                "version": 1,
                "databases": {
                    "old_a": {"location": default_location(str(warehouse), "old_a"),
                              "grants": {"old_a__ann": ["SELECT"], "old_b__bob": ["SELECT"]}},
                    "old_b": {"location": default_location(str(warehouse), "old_b"),
                              "grants": {"old_b__bob": ["SELECT", "INSERT"]}},
                },
            }
        )
    )  # fmt: skip
    share = share_acls("old_a", "events", "old_b", "bob", writable=False)
    acls = member_acls("old_a", "ann") | member_acls("old_b", "bob") | share
    (root / "kafka").mkdir()
    (root / "kafka" / "kafka-state.json").write_text(
        json.dumps(
            {
                "version": 1,
                "topics": {"old_a.events": {"partitions": 3, "replication": 1}},
                "acls": [
                    [a.resource_type, a.resource_name, a.pattern_type, a.principal,
                     a.operation, a.host, a.permission]
                    for a in sorted(acls)
                ],
            }
        )
    )  # fmt: skip


def test_old_single_files_are_split_once(tmp_path: Path) -> None:
    root = tmp_path / "backends"
    write_old_layout(root)
    b = Embedded.at(root)

    # everything reads as before
    assert [(q.project, q.capacity_percent) for q in b.compute.list_project_queues()] == [
        ("old_a", 60.0),
        ("old_b", 30.0),
    ]
    assert b.compute.queue_info("old_a").quota is not None
    assert b.kube.list_projects() == ["old_a"]
    assert b.kube.describe_project("old_a").members == {"ann": "data_owner"}
    assert b.hive.list_project_databases() == ["old_a", "old_b"]
    assert b.hive.list_grants("old_a") == {"old_a__ann": ("SELECT",), "old_b__bob": ("SELECT",)}
    assert [t.physical for t in b.kafka.list_topics("old_a")] == ["old_a.events"]
    share = share_acls("old_a", "events", "old_b", "bob", writable=False)
    assert set(b.kafka.describe_acls("old_b")) == member_acls("old_b", "bob") | share

    # split into per-project files; the old files are kept, renamed, and not read again
    assert documents(root) == {
        "compute/projects/old_a.json",
        "compute/projects/old_b.json",
        "compute/compute-capacity.json",
        "kubernetes/projects/old_a.json",
        "hive-warehouse/.hive-catalog/old_a.json",
        "hive-warehouse/.hive-catalog/old_b.json",
        "kafka/projects/old_a.json",
        "kafka/projects/old_b.json",
    }
    assert {p.name for p in root.rglob("*.migrated")} == {
        "compute-queues.json.migrated",
        "kubernetes-desired.json.migrated",
        ".hive-catalog.json.migrated",
        "kafka-state.json.migrated",
    }

    # and keeps working: the 90 % already promised count, cross-project state is found
    with pytest.raises(Conflict, match="only 10 %"):
        b.compute.create_project_queue("new_c", 11, 100)
    b.compute.create_project_queue("new_c", 10, 100)
    b.kafka.revoke_member("old_b", "bob")  # its share lives in old_a's document
    assert b.kafka.describe_acls("old_b") == []
    b.hive.drop_database("old_b")  # its member's grant on old_a goes with it
    assert b.hive.list_grants("old_a") == {"old_a__ann": ("SELECT",)}
    again = Embedded.at(root)
    assert [q.project for q in again.compute.list_project_queues()] == ["new_c", "old_a", "old_b"]
    assert again.hive.list_project_databases() == ["old_a"]


def test_migration_happens_once_with_racing_instances(tmp_path: Path) -> None:
    write_old_layout(tmp_path)
    results: list[list[str]] = []

    def worker() -> None:
        results.append(
            [q.project for q in LocalCompute(tmp_path / "compute").list_project_queues()]
        )

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [["old_a", "old_b"]] * 6
    index = json.loads((tmp_path / "compute" / "compute-capacity.json").read_text())
    assert index == {"version": 1, "allocated": "90"}


def test_a_corrupt_old_file_is_reported_not_ignored(tmp_path: Path) -> None:
    (tmp_path / "hive").mkdir()
    (tmp_path / "hive" / ".hive-catalog.json").write_text("{not json")
    hive = LocalHive(tmp_path / "hive")
    for _ in range(2):  # every operation, until it is repaired
        with pytest.raises(BackendUnavailable, match="unreadable"):
            hive.list_project_databases()
    (tmp_path / "hive" / ".hive-catalog.json").write_text('{"version": 1, "databases": {}}')
    assert hive.list_project_databases() == []


def test_compute_index_recovers_from_a_crash_between_its_writes(tmp_path: Path) -> None:
    """The total is written with a note before the project's file; a crash right after it
    (simulated: the note is left, the project's file never written) is corrected by the
    next operation, which reads just the noted project."""
    compute = LocalCompute(tmp_path)
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
    assert large["files_written"] == 9  # hive 2, compute 1 + index 2, kafka 1, kube 3
