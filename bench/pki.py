"""Benchmark the platform CA: certificates issued per second (ECDSA P-256 and RSA-2048),
project-creation latency with and without issuing the owner's certificate, and requests
per second over mTLS next to plain HTTPS (token auth) against a real `hops serve --tls`.

Everything runs on this machine: a temporary data dir, SQLite, loopback only.

    .venv/bin/python bench/pki.py [--certs 200] [--projects 100] [--requests 500]
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import httpx
from rich.console import Console
from rich.table import Table

from hopsworks_api.config import Settings
from hopsworks_api.main import build_runtime
from hopsworks_api.pki import service as pki_service
from hopsworks_api.pki.ca import CertificateAuthority, resolve_passphrase
from hopsworks_api.pki.keys import KeyAlgorithm
from hopsworks_api.projects import service as project_service
from hopsworks_api.projects.models import ProjectCreate
from hopsworks_api.users import service as user_service
from hopsworks_api.users.models import UserCreate

console = Console()
PASSWORD = "bench password 123"


def rate(count: int, action: Callable[[int], object]) -> tuple[float, list[float]]:
    latencies = []
    start = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        action(i)
        latencies.append(time.perf_counter() - t0)
    return count / (time.perf_counter() - start), latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def issuing(base: Path, algorithm: KeyAlgorithm, count: int) -> float:
    directory = base / f"ca-{algorithm}"
    ca = CertificateAuthority(directory, resolve_passphrase(directory, None), algorithm=algorithm)
    ca.init()

    def issue(i: int) -> None:
        key = ca.new_key()
        ca.issue(common_name=f"p__u{i}", organization="p", public_key=key.public_key(), days=365)
        ca.encrypt(key)  # as the service does: the key is stored encrypted

    return rate(count, issue)[0]


def project_creation(base: Path, count: int) -> dict[str, list[float]]:
    rt = build_runtime(
        Settings(data_dir=base / "svc", password_time_cost=1, password_memory_kib=64)
    )
    user = user_service.create(rt, data=UserCreate(email="b@example.org", password=PASSWORD))
    results = {}
    with_cert = rate(
        count,
        lambda i: project_service.create(rt, user=user, data=ProjectCreate(name=f"with_cert_{i}")),
    )[1]
    with mock.patch.object(pki_service, "issue_project_user", lambda *a, **k: None):
        without = rate(
            count,
            lambda i: project_service.create(
                rt, user=user, data=ProjectCreate(name=f"no_cert_{i}")
            ),
        )[1]
    results["with certificate"] = with_cert
    results["without certificate"] = without
    rt.engine.dispose()
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_tls(url: str, ca_file: Path, proc: subprocess.Popen[bytes]) -> ssl.SSLContext:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            trust = ssl.create_default_context(cafile=str(ca_file))
            httpx.get(f"{url}/api/health", verify=trust, timeout=1)
            return trust
        except (httpx.HTTPError, ssl.SSLError, FileNotFoundError):
            time.sleep(0.2)
    raise RuntimeError("hops serve --tls did not start")


def tls_requests(base: Path, count: int) -> dict[str, float]:
    port = free_port()
    data = base / "served"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hopsworks_api.cli",
            "serve",
            "--tls",
            "--port",
            str(port),
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOPS_PASSWORD_TIME_COST": "1", "HOPS_PASSWORD_MEMORY_KIB": "64"},
    )
    url = f"https://127.0.0.1:{port}"
    try:
        trust = _wait_for_tls(url, data / "tls" / "ca.pem", proc)
        with httpx.Client(base_url=url, verify=trust, timeout=30) as c:
            c.post("/api/auth/register", json={"email": "t@example.org", "password": PASSWORD})
            token = c.post(
                "/api/auth/login", json={"email": "t@example.org", "password": PASSWORD}
            ).json()["access_token"]
            c.headers["Authorization"] = f"Bearer {token}"
            c.post("/api/projects", json={"name": "tlsbench"})
            bundle = c.get("/api/projects/tlsbench/credentials").json()
        (base / "id.crt").write_text(bundle["certificate"] + bundle["ca_chain"])
        (base / "id.key").write_text(bundle["private_key"])
        mutual = ssl.create_default_context(cafile=str(data / "tls" / "ca.pem"))
        mutual.load_cert_chain(str(base / "id.crt"), str(base / "id.key"))
        figures = {}
        for label, context, headers in (
            ("HTTPS + bearer token", trust, {"Authorization": f"Bearer {token}"}),
            ("mTLS (project certificate)", mutual, {}),
        ):
            with httpx.Client(base_url=url, verify=context, headers=headers, timeout=30) as c:
                assert c.get("/api/projects/tlsbench").status_code == 200
                figures[f"{label}, keep-alive"] = rate(
                    count, lambda i, c=c: c.get("/api/projects/tlsbench")
                )[0]

            def fresh(i: int, context=context, headers=headers) -> None:
                with httpx.Client(base_url=url, verify=context, headers=headers) as c:
                    assert c.get("/api/projects/tlsbench").status_code == 200

            figures[f"{label}, new connection each"] = rate(max(1, count // 5), fresh)[0]
        return figures
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=200)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hops-bench-pki-") as tmp:
        base = Path(tmp)
        table = Table(title="PKI")
        table.add_column("measure")
        table.add_column("value", justify="right")
        ecdsa = issuing(base, KeyAlgorithm.ECDSA_P256, args.certs)
        rsa = issuing(base, KeyAlgorithm.RSA_2048, max(1, args.certs // 4))
        table.add_row("certificates/s, ECDSA P-256 (key + sign + encrypt key)", f"{ecdsa:.0f}")
        table.add_row("certificates/s, RSA-2048", f"{rsa:.1f}")
        table.add_row("ECDSA / RSA", f"{ecdsa / rsa:.1f}x")
        creation = project_creation(base, args.projects)
        for label, values in creation.items():
            table.add_row(
                f"project creation {label}, p50 / p99 ms",
                f"{statistics.median(values) * 1000:.1f} / {pct(values, 0.99):.1f}",
            )
        ratio = statistics.median(creation["with certificate"]) / statistics.median(
            creation["without certificate"]
        )
        table.add_row("project creation, with / without issuing (p50)", f"{ratio:.2f}x")
        tls = tls_requests(base, args.requests)
        for label, value in tls.items():
            table.add_row(f"requests/s, {label}", f"{value:.0f}")
        keep = "keep-alive"
        plain = tls[f"HTTPS + bearer token, {keep}"]
        table.add_row(
            "mTLS / HTTPS, keep-alive", f"{tls[f'mTLS (project certificate), {keep}'] / plain:.2f}x"
        )
        console.print(table)


if __name__ == "__main__":
    main()
