"""Benchmark jobs through the platform next to running the same program directly:

1. start latency of a `python` execution, from `POST .../executions` to the first line of
   its log, next to starting the same interpreter on the same hello-world script and
   reading its first line of output (median of `--python-runs`);
2. wall time of a `pyspark` job, from `POST .../executions` until the API reports it
   FINISHED, next to a bare `spark-submit --master local[N] --driver-memory M` of the same
   script with the same N and M (median of `--spark-runs`).

The platform's runs go through everything a real one does: authorization, admission
against the project's credits, the member's certificate bundle and client configurations
materialised, the bubblewrap sandbox with its cgroup and network forwarder, logs kept in
the `Logs` dataset. The two kinds of run alternate, so a change in the machine's load
(printed before and after) hits both.

Everything runs on this machine: a real `hops serve` on loopback in a temporary data dir,
SQLite. No assertions: it prints the figures and their ratios.

    .venv/bin/python bench/jobs.py [--python-runs 20] [--spark-runs 3] [--cores 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from hopsworks_api.jobs.spark import driver_memory_mb

console = Console(width=120)  # the table stays one row per measure when piped
PASSWORD = "bench password 123"
PROJECT = "jobbench"
POLL_S = 0.005
"""For the first log line: short, and a python run is over soon."""
WALL_POLL_S = 0.05
"""For a Spark run's end: polling the API is CPU the run does not get on a small machine."""
RUN_TIMEOUT_S = 600
SERVE = [sys.executable, "-m", "hopsworks_api.cli", "serve"]
HELLO = b"print('hello', flush=True)\n"
# the same work whichever way it starts: no input, so both runs read nothing
SPARK_SCRIPT = b"""
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("bench").getOrCreate()
rows = spark.range(2_000_000).selectExpr("id % 100 AS k", "id AS v") \\
    .groupBy("k").sum("v").orderBy("k").collect()
print(len(rows), rows[0][1], flush=True)
spark.stop()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(data: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    proc = subprocess.Popen(
        [*SERVE, "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOPS_PASSWORD_TIME_COST": "1", "HOPS_PASSWORD_MEMORY_KIB": "64"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("hops serve did not start")


def ok(reply: httpx.Response, status: int = 200) -> httpx.Response:
    if reply.status_code != status:
        raise SystemExit(
            f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text}"
        )
    return reply


def setup(c: httpx.Client) -> None:
    ok(c.post("/api/auth/register", json={"email": "b@example.org", "password": PASSWORD}), 201)
    login = {"email": "b@example.org", "password": PASSWORD}
    c.headers["Authorization"] = (
        f"Bearer {ok(c.post('/api/auth/login', json=login)).json()['access_token']}"
    )
    ok(c.post("/api/projects", json={"name": PROJECT}), 201)


def create_job(c: httpx.Client, name: str, script: bytes, **body: object) -> str:
    files = f"/api/projects/{PROJECT}/datasets/Resources/files/jobs/{name}.py"
    ok(c.put(files, content=script), 201)
    job = {"name": name, "app_path": f"Resources/jobs/{name}.py", **body}
    ok(c.post(f"/api/projects/{PROJECT}/jobs", json=job), 201)
    return f"/api/projects/{PROJECT}/jobs/{name}/executions"


def until(
    c: httpx.Client, url: str, done: Callable[[httpx.Response], bool], poll_s: float = POLL_S
) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        if done(c.get(url)):
            return
        time.sleep(poll_s)
    raise SystemExit(f"{url}: nothing within {RUN_TIMEOUT_S}s")


def finished(c: httpx.Client, url: str) -> None:
    def ended(reply: httpx.Response) -> bool:
        state = ok(reply).json()["state"]
        if state in ("FAILED", "KILLED"):
            log = c.get(f"{url}/log?stream=stderr").text[-2000:]
            raise SystemExit(f"{url} ended {state}:\n{log}")
        return state == "FINISHED"

    until(c, url, ended, WALL_POLL_S)


def platform_first_line(c: httpx.Client, executions: str) -> float:
    start = time.perf_counter()
    url = f"{executions}/{ok(c.post(executions, json={}), 201).json()['id']}"
    until(c, f"{url}/log", lambda reply: bool(reply.text))
    elapsed = time.perf_counter() - start
    finished(c, url)
    return elapsed


def direct_first_line(script: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.wait()
    return elapsed


def platform_wall(c: httpx.Client, executions: str) -> float:
    start = time.perf_counter()
    url = f"{executions}/{ok(c.post(executions, json={}), 201).json()['id']}"
    finished(c, url)
    return time.perf_counter() - start


def direct_wall(script: Path, cores: int, memory_mb: int, scratch: Path) -> float:
    submit = Path(sys.executable).parent / "spark-submit"
    command = [str(submit), "--master", f"local[{cores}]", "--driver-memory", f"{memory_mb}m"]
    start = time.perf_counter()
    subprocess.run(
        [*command, str(script)],
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    return time.perf_counter() - start


def row(table: Table, label: str, platform: list[float], direct: list[float]) -> None:
    p, d = statistics.median(platform), statistics.median(direct)
    spread = f"{min(platform):.2f}-{max(platform):.2f} / {min(direct):.2f}-{max(direct):.2f}"
    table.add_row(label, f"{p:.3f}", f"{d:.3f}", f"{p / d:.2f}x", f"{p - d:+.3f}", spread)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-runs", type=int, default=20)
    parser.add_argument("--spark-runs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2, help="the pyspark job's local[N]")
    args = parser.parse_args()
    console.print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="hops-bench-jobs-") as tmp:
        base = Path(tmp)
        url, proc = serve(base / "served")
        try:
            with httpx.Client(base_url=url, timeout=60) as c:
                setup(c)
                hello = create_job(c, "hello", HELLO)
                resources = {"cores": args.cores, "memory_mb": 1024, "executor_memory_mb": 1024}
                spark = create_job(c, "spark", SPARK_SCRIPT, type="pyspark", resources=resources)
                (base / "hello.py").write_bytes(HELLO)
                (base / "spark.py").write_bytes(SPARK_SCRIPT)
                (base / "scratch").mkdir()
                # the platform's run holds memory_mb + executor_memory_mb in local mode
                heap = driver_memory_mb(resources["memory_mb"] + resources["executor_memory_mb"])

                platform_first_line(c, hello)  # warm-up: page cache, the first bundle
                direct_first_line(base / "hello.py")
                starts: tuple[list[float], list[float]] = ([], [])
                for _ in range(args.python_runs):
                    starts[0].append(platform_first_line(c, hello))
                    starts[1].append(direct_first_line(base / "hello.py"))
                walls: tuple[list[float], list[float]] = ([], [])
                for _ in range(args.spark_runs):
                    walls[0].append(platform_wall(c, spark))
                    walls[1].append(
                        direct_wall(base / "spark.py", args.cores, heap, base / "scratch")
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    table = Table(title="Jobs: through the platform vs. the same program started directly")
    for column in ("measure (median)", "platform s", "direct s", "ratio", "overhead s", "range"):
        table.add_column(column, justify="left" if column.startswith("measure") else "right")
    row(table, f"python: request to first log line ({args.python_runs} runs)", *starts)
    row(
        table,
        f"pyspark local[{args.cores}], driver {heap}m: wall ({args.spark_runs} runs)",
        *walls,
    )
    console.print(table)
    console.print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
