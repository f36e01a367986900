"""Benchmark predictions through the platform next to the same model server called directly.

A scikit-learn model (logistic regression on 4 features, trained here with the model
server's own scikit-learn) is registered and served with one instance through a real
`hops serve` on loopback (SQLite, temporary data dir): each prediction goes through
authentication, authorization, the audit record, the proxy and the unix socket into the
bubblewrap sandbox. The same program (`servings/launcher.py`, KServe's model server) is
also started outside the platform on a unix socket of its own, loaded from the same file,
and called directly. Both are driven by 1 and by 8 concurrent clients (threads, one HTTP
connection each) for `--seconds` each, alternating, with the same body (one row per
request); it prints predictions per second, median and p99 latency, and the ratios.

    .venv/bin/python bench/serving.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobs import PASSWORD, ok, serve

from hopsworks_api.config import Settings
from hopsworks_api.servings import model_server_env

console = Console()
PROJECT = "servebench"
BODY = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode()
TRAIN = """
import sys, joblib
from sklearn.linear_model import LogisticRegression
X = [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.8, 2.7, 5.1, 1.9]]
joblib.dump(LogisticRegression().fit(X, [0, 0, 1, 1]), sys.argv[1])
"""


@dataclass
class Result:
    rate: float
    p50_ms: float
    p99_ms: float


def drive(
    make_client: Callable[[], httpx.Client],
    path: str,
    headers: dict[str, str],
    clients: int,
    seconds: float,
) -> Result:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def worker(i: int) -> None:
        with make_client() as c:
            c.post(path, content=BODY, headers=headers)  # connection up before timing
            start.wait()
            mine = latencies[i]
            while time.perf_counter() < stop_at[0]:
                t = time.perf_counter()
                reply = c.post(path, content=BODY, headers=headers)
                mine.append(time.perf_counter() - t)
                if reply.status_code != 200:
                    raise SystemExit(f"{path}: {reply.status_code} {reply.text}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at.append(time.perf_counter() + seconds + 0.5)
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for mine in latencies for x in mine)
    return Result(
        rate=len(every) / elapsed,
        p50_ms=statistics.median(every) * 1000,
        p99_ms=every[int(len(every) * 0.99) - 1] * 1000,
    )


def until_running(c: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        body = ok(c.get(url)).json()
        if body["state"] == "RUNNING":
            return
        if body["state"] == "FAILED":
            raise SystemExit(f"the serving FAILED: {body['stop_reason']}\n{body['log_tail']}")
        time.sleep(0.1)
    raise SystemExit("the serving did not start")


def direct_server(python: Path, model: Path, sock: Path) -> subprocess.Popen[bytes]:
    config = {
        "name": "iris",
        "socket": str(sock),
        "framework": "sklearn",
        "directory": str(model.parent),
        "file": model.name,
        "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
    }
    launcher = model_server_env.launcher(python)
    proc = subprocess.Popen(
        [str(python), "-I", str(launcher), json.dumps(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            transport = httpx.HTTPTransport(uds=str(sock))
            with httpx.Client(transport=transport, base_url="http://localhost") as c:
                if c.get("/v1/models/iris").status_code == 200:
                    return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the direct model server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    python = model_server_env.ensure(Settings())
    console.print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="hops-bench-serving-") as tmp:
        base = Path(tmp)
        model = base / "model" / "model.joblib"
        model.parent.mkdir()
        subprocess.run([str(python), "-c", TRAIN, str(model)], check=True)
        url, proc = serve(base / "served")
        direct = None
        try:
            with httpx.Client(base_url=url, timeout=60) as c:
                ok(
                    c.post(
                        "/api/auth/register", json={"email": "b@example.org", "password": PASSWORD}
                    ),
                    201,
                )
                login = {"email": "b@example.org", "password": PASSWORD}
                token = ok(c.post("/api/auth/login", json=login)).json()["access_token"]
                c.headers["Authorization"] = f"Bearer {token}"
                ok(c.post("/api/projects", json={"name": PROJECT}), 201)
                files = f"/api/projects/{PROJECT}/datasets/Models/files/iris/model.joblib"
                ok(c.put(files, content=model.read_bytes()), 201)
                registered = {"name": "iris", "framework": "sklearn", "path": "Models/iris"}
                ok(c.post(f"/api/projects/{PROJECT}/models", json=registered), 201)
                servings = f"/api/projects/{PROJECT}/servings"
                ok(c.post(servings, json={"name": "iris", "model": "iris", "version": 1}), 201)
                until_running(c, f"{servings}/iris")
            direct = direct_server(python, model, base / "direct.sock")
            auth = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
            platform_path = f"/api/projects/{PROJECT}/servings/iris:predict"

            def platform_client() -> httpx.Client:
                return httpx.Client(base_url=url, timeout=60)

            def direct_client() -> httpx.Client:
                transport = httpx.HTTPTransport(uds=str(base / "direct.sock"))
                return httpx.Client(transport=transport, base_url="http://localhost", timeout=60)

            table = Table(title=f"sklearn predictions, {args.seconds:g} s per row")
            for column in ("clients", "path", "pred/s", "p50 ms", "p99 ms", "platform/direct"):
                table.add_column(column)
            for clients in (1, 8):
                d = drive(
                    direct_client,
                    "/v1/models/iris:predict",
                    {"content-type": "application/json"},
                    clients,
                    args.seconds,
                )
                p = drive(platform_client, platform_path, auth, clients, args.seconds)
                table.add_row(
                    str(clients),
                    "direct",
                    f"{d.rate:.0f}",
                    f"{d.p50_ms:.2f}",
                    f"{d.p99_ms:.2f}",
                    "",
                )
                table.add_row(
                    str(clients),
                    "platform",
                    f"{p.rate:.0f}",
                    f"{p.p50_ms:.2f}",
                    f"{p.p99_ms:.2f}",
                    f"{p.rate / d.rate:.2f}x rate, {p.p99_ms / d.p99_ms:.2f}x p99",
                )
            console.print(table)
        finally:
            if direct is not None:
                direct.terminate()
                direct.wait()
            proc.terminate()
            proc.wait()
    console.print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
