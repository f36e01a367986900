"""Several `hops serve` instances on one metadata DB (SQLite file or MariaDB), as two hosts
would run them: each its own data dir, the CA directory and the secrets shared.

They start at the same moment (migrations, CA creation and secrets race), one of them runs
the periodic jobs under the DB lease, and when it is killed with SIGKILL (no release) the
other takes the work over. Tokens and certificates work across instances.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography import x509
from sqlalchemy import create_engine, text

from tests.support.api import Api
from tests.support.processes import die_with_parent, free_port

LEASE_SECONDS = 3
STARTUP_SECONDS = 120
T = TypeVar("T")


@dataclass
class Instance:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> set[int]:
        """The serving process and, with --workers, its worker processes."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        found = {int(p) for p in children.read_text().split()} if children.exists() else set()
        return {self.proc.pid, *found}

    def records(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _eventually(probe: Callable[[], T | None], what: str, timeout: float) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _start(tmp: Path, name: str, db_url: str, env: dict[str, str], workers: int) -> Instance:
    port = free_port()
    log = tmp / f"{name}.log"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hopsworks_api.cli", "serve"),
            *("--port", str(port), "--data-dir", str(tmp / name), "--db", db_url),
            *("--workers", str(workers)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        preexec_fn=die_with_parent,
    )
    return Instance(f"http://127.0.0.1:{port}", proc, log)


def _healthy(instance: Instance) -> bool:
    if instance.proc.poll() is not None:
        raise AssertionError(f"instance exited: {instance.log.read_text()[-3000:]}")
    try:
        return httpx.get(f"{instance.base}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def instances(tmp_path: Path, db_url: str) -> Iterator[tuple[Instance, Instance]]:
    env = {
        **os.environ,
        "HOPS_LOG_JSON": "true",
        "HOPS_CA_DIR": str(tmp_path / "shared-ca"),
        "HOPS_CA_PASSPHRASE": "one passphrase for every instance",
        "HOPS_JWT_SECRET": "one-jwt-secret-" + "j" * 32,
        "HOPS_AUDIT_KEY": "one-audit-key-" + "a" * 32,
        "HOPS_PASSWORD_TIME_COST": "1",
        "HOPS_PASSWORD_MEMORY_KIB": "64",
        "HOPS_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
        "HOPS_LEASE_RENEW_SECONDS": "0.5",
        "HOPS_RECONCILE_INTERVAL_SECONDS": "0.5",
        "HOPS_ACCOUNTING_INTERVAL_SECONDS": "0.5",
        "HOPS_UPLOAD_IDLE_TIMEOUT_SECONDS": "1",
    }
    started = [
        _start(tmp_path, "a", db_url, env, workers=2),
        _start(tmp_path, "b", db_url, env, workers=1),
    ]
    try:
        for instance in started:
            _eventually(lambda i=instance: _healthy(i), f"{instance.log.name} up", STARTUP_SECONDS)
        yield started[0], started[1]
    finally:
        for instance in started:
            instance.proc.terminate()
        for instance in started:
            try:
                instance.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                instance.proc.kill()
                instance.proc.wait()


def _lease(db_url: str) -> tuple[str, int] | None:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT holder, token FROM leases WHERE name = 'periodic'")
            ).first()
    finally:
        engine.dispose()
    return (row[0], int(row[1])) if row else None


def _runs(instances: tuple[Instance, ...]) -> list[dict[str, Any]]:
    return [r for i in instances for r in i.records() if r.get("msg") == "periodic task ran"]


def _crl_serials(base: str) -> set[int]:
    pem = httpx.get(f"{base}/api/ca/crl").content
    return {r.serial_number for crl in _crls(pem) for r in crl}


def _crls(pem: bytes) -> list[x509.CertificateRevocationList]:
    end = b"-----END X509 CRL-----"
    return [x509.load_pem_x509_crl(block + end + b"\n") for block in pem.split(end)[:-1]]


def test_tokens_and_certificates_work_across_instances(instances):
    a, b = instances
    with httpx.Client(base_url=a.base) as on_a, httpx.Client(base_url=b.base) as on_b:
        via_a = Api.with_actors(on_a)  # accounts, project and member made through `a`
        via_b = Api(on_b, tokens=via_a.tokens)  # the tokens `a` issued, presented to `b`
        assert via_b.call("owner", "GET", "/api/projects/demo").status_code == 200
        issued = via_b.call("scientist", "GET", "/api/projects/demo/credentials")
        serial = int(issued.json()["serial"], 16)
        chain = x509.load_pem_x509_certificates(on_a.get("/api/ca/chain").content)
        cert = x509.load_pem_x509_certificate(issued.json()["certificate"].encode())
        assert cert.issuer == chain[0].subject  # `b` signs with the CA `a` serves
        removed = via_a.call("owner", "DELETE", "/api/projects/demo/members/scientist@example.org")
        assert removed.status_code == 204
        assert serial in _crl_serials(b.base)  # revoked through `a`, published by `b` too
        assert serial in _crl_serials(a.base)


def test_one_instance_runs_the_periodic_jobs_and_another_takes_over(instances, db_url):
    a, b = instances
    _eventually(lambda: _runs(instances), "a periodic job run", 60)
    holder, token = _eventually(lambda: _lease(db_url), "the lease row", 10)
    pid = int(holder.rsplit(":", 2)[1])
    owners = a.pids() | {b.proc.pid}
    assert pid in owners, (holder, owners)  # one of ours: the only process the test kills

    os.kill(pid, signal.SIGKILL)  # no release: the lease has to expire

    def taken_over() -> tuple[str, int] | None:
        now = _lease(db_url)
        return now if now and now[1] > token and now[0] != holder else None

    new_holder, new_token = _eventually(taken_over, "a peer to take the lease", 20 * LEASE_SECONDS)
    _eventually(
        lambda: [r for r in _runs(instances) if r["holder"] == new_holder],
        "the new holder to run the periodic jobs",
        60,
    )
    assert int(new_holder.rsplit(":", 2)[1]) in (a.pids() | {b.proc.pid}) - {pid}
    # Once per cluster: every run names the term (fencing token) it ran under, and no term
    # ever had two instances running jobs.
    terms: dict[int, set[str]] = {}
    for run in _runs(instances):
        terms.setdefault(run["fencing_token"], set()).add(run["holder"])
    assert all(len(holders) == 1 for holders in terms.values()), terms
    assert terms.get(token, {holder}) == {holder} and terms[new_token] == {new_holder}
