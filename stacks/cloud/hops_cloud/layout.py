"""Which host runs which platform group: a pure function of the node counts.

The cloud stack names its hosts the way inventories/example does (head1, worker1, gpu1) and
gives them the same groups, so the playbook meets a familiar layout:

- the head services are spread over the heads: the first head keeps the control service,
  its metadata DB and Hive (they talk most), and runs the Spark master; the NameNode,
  ResourceManager and Kubernetes control plane go to the next heads in turn;
- workers are datanodes, nodemanagers, Kafka brokers and Spark workers; with no workers the
  heads carry those groups (the single-host layout);
- GPU workers are nodemanagers and datanodes with `gpu: true`, and Kubernetes workers
  (tainted so that only GPU pods land there);
- ZooKeeper runs on the first `zookeeper_count` (odd) of the heads, then the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hops_platform.host_groups import GROUPS

HEAD_SERVICES = (
    ("hopsworks_api", "metadata_db", "hive"),
    ("namenodes",),
    ("resourcemanagers",),
    ("kubernetes_control",),
)
"""Head service bundles, dealt to the heads in turn."""

WORKER_GROUPS = ("datanodes", "nodemanagers", "kafka", "spark")
GPU_WORKER_GROUPS = ("datanodes", "nodemanagers", "kubernetes_workers")

Role = Literal["head", "worker", "gpu-worker"]
ROLE_PREFIX: dict[Role, str] = {"head": "head", "worker": "worker", "gpu-worker": "gpu"}


@dataclass(frozen=True)
class PlannedHost:
    """A host before it exists: its inventory name, role, groups and place in its group."""

    name: str
    role: Role
    index: int
    groups: tuple[str, ...]

    @property
    def gpu(self) -> bool:
        return self.role == "gpu-worker"

    @property
    def datanode(self) -> bool:
        """Datanodes get the extra encrypted data volume."""
        return "datanodes" in self.groups


def plan_hosts(
    head_count: int, worker_count: int, gpu_worker_count: int, zookeeper_count: int
) -> tuple[PlannedHost, ...]:
    """Every host with its groups (see the module docstring); counts are validated by
    hops_cloud.config, this only asserts what it relies on."""
    if head_count < 1 or zookeeper_count % 2 == 0:
        raise ValueError("need at least one head and an odd ZooKeeper count")
    if zookeeper_count > head_count + worker_count:
        raise ValueError("more ZooKeeper members than head and worker hosts")

    names = {
        role: [f"{ROLE_PREFIX[role]}{i + 1}" for i in range(count)]
        for role, count in (
            ("head", head_count),
            ("worker", worker_count),
            ("gpu-worker", gpu_worker_count),
        )
    }
    groups: dict[str, set[str]] = {name: set() for role in names for name in names[role]}
    heads, workers = names["head"], names["worker"]

    for position, bundle in enumerate(HEAD_SERVICES):
        groups[heads[position % len(heads)]].update(bundle)
    groups[heads[0]].add("spark")  # the first host of `spark` runs the master
    for name in workers or heads:
        groups[name].update(WORKER_GROUPS)
    for name in names["gpu-worker"]:
        groups[name].update(GPU_WORKER_GROUPS)
    for name in (heads + workers)[:zookeeper_count]:
        groups[name].add("zookeeper")

    return tuple(
        PlannedHost(
            name=name,
            role=role,  # type: ignore[arg-type]
            index=index,
            groups=tuple(g for g in GROUPS if g in groups[name]),
        )
        for role in names
        for index, name in enumerate(names[role])
    )


def group_members(hosts: tuple[PlannedHost, ...]) -> dict[str, list[str]]:
    """{group: [host names]} in host order; the first host of a group is its leader
    (Spark master, CA host, first control plane)."""
    return {group: [h.name for h in hosts if group in h.groups] for group in GROUPS}
