"""The provisioning layer's promises beyond compensation (tests/api/test_sagas.py): no DB
write transaction is open while a system is called, changes that only roll forward are
finished by the journal worker once the system is back, and so is a compensation that
could not finish."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import create_engine, event, text
from typer.testing import CliRunner

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.cli import app as cli
from hopsworks_api.db.engine import READ_ONLY
from hopsworks_api.provisioning.converge import reconcile
from hopsworks_api.provisioning.worker import drain
from tests.support.api import Api

P = "/api/projects"
MUTATING = ("create", "delete", "drop", "grant", "revoke", "share", "unshare", "store", "ensure")
SYSTEMS = ("storage", "hive", "kafka", "compute", "kubernetes")


def journal_rows(app: Any) -> int:
    with app.state.runtime.engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM provisioning_changes")).scalar()


def write_transaction_open(app: Any) -> bool:
    """Asked from outside the service's connections, as another writer would."""
    url = app.state.runtime.engine.url
    if url.get_backend_name() == "sqlite":
        probe = sqlite3.connect(url.database, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return False
        except sqlite3.OperationalError:  # database is locked
            return True
        finally:
            probe.close()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                        "WHERE trx_rows_modified > 0 OR trx_rows_locked > 0"
                    )
                ).scalar()
            )
    finally:
        engine.dispose()


class WriteTransactions:
    """Which threads hold a write transaction on the service's engine. The instance's own
    background writers (its heartbeat, the lease renewal) write now and then: the DB-wide
    probe alone would blame a backend call for their transactions, so a transaction counts
    only when the DB sees one open *and* the calling thread holds one."""

    def __init__(self, engine: Any) -> None:
        self._threads: dict[int, int] = {}  # connection id -> thread ident
        self._lock = threading.Lock()
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _begin(self, conn: Any) -> None:
        if not conn.get_execution_options().get(READ_ONLY, False):
            with self._lock:
                self._threads[id(conn)] = threading.get_ident()

    def _end(self, conn: Any) -> None:
        with self._lock:
            self._threads.pop(id(conn), None)

    def held_here(self) -> bool:
        with self._lock:
            return threading.get_ident() in self._threads.values()


def test_no_write_transaction_is_open_while_a_system_is_called(api: Api, app, monkeypatch):
    backends = app.state.runtime.backends
    calls: list[str] = []
    held: list[str] = []
    writes = WriteTransactions(app.state.runtime.engine)
    for system in SYSTEMS:
        backend = getattr(backends, system)
        for name in dir(backend):
            if name.startswith(MUTATING) and callable(getattr(backend, name)):
                real = getattr(backend, name)

                def probe(*args: Any, _real: Any = real, _label: str = f"{system}.{name}") -> Any:
                    calls.append(_label)
                    if writes.held_here() and write_transaction_open(app):
                        held.append(_label)
                    return _real(*args)

                monkeypatch.setattr(backend, name, probe)
    assert api.call("admin", "POST", P, json={"name": "partner"}).status_code == 201
    assert api.call("owner", "POST", f"{P}/demo/topics", json={"name": "t"}).status_code == 201
    reply = api.call("owner", "POST", f"{P}/demo/datasets/Logs/shares", json={"project": "partner"})
    assert reply.status_code == 201, reply.text
    assert api.call("admin", "POST", f"{P}/partner/shared/demo::Logs/accept").status_code == 200
    api.add_member("admin", "partner", "scientist", "data_scientist")
    reply = api.call(
        "owner", "PUT", f"{P}/demo/members/scientist@example.org", json={"role": "data_owner"}
    )
    assert reply.status_code == 200, reply.text
    assert api.call("owner", "DELETE", f"{P}/demo").status_code == 204
    assert len(calls) > 10  # the probes saw the changes reach the systems
    assert held == []


def test_a_change_that_only_rolls_forward_is_finished_once_the_system_is_back(
    api: Api, app, monkeypatch
):
    kafka = app.state.runtime.backends.kafka

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise BackendUnavailable("kafka", "broker did not answer (injected)")

    monkeypatch.setattr(kafka, "revoke_member", down)
    # the account is gone at once; its grants go when Kafka answers
    assert api.call("admin", "DELETE", "/api/users/scientist@example.org").status_code == 204
    assert "User:demo__scientist" in {a.principal for a in kafka.describe_acls("demo")}
    assert journal_rows(app) == 1
    assert drain(app.state.runtime).failed  # still down: retried later, not lost
    settings = app.state.runtime.settings
    shown = CliRunner(env={"COLUMNS": "300"}).invoke(
        cli,
        [
            "reconcile",
            "--dry-run",
            "--db",
            settings.database_url,
            "--data-dir",
            str(settings.data_dir),
        ],
    )
    assert "changes the journal worker has not finished" in shown.output
    assert "delete user" in shown.output and "broker did not answer" in shown.output
    monkeypatch.undo()
    assert drain(app.state.runtime, everything=True).finished
    assert "User:demo__scientist" not in {a.principal for a in kafka.describe_acls("demo")}
    assert journal_rows(app) == 0
    assert reconcile(app.state.runtime, dry_run=True).drift == []


def test_a_compensation_cut_short_is_finished_by_the_worker(api: Api, app, monkeypatch):
    """Adding a member fails at the certificate Secret; the compensation must revoke the
    RoleBinding it already made, and cannot while Kubernetes keeps failing: the API still
    answers 503, and the worker removes the binding once Kubernetes is back."""
    kube = app.state.runtime.backends.kubernetes

    def down(*_args: Any, **_kwargs: Any) -> None:
        raise BackendUnavailable("kubernetes", "API server did not answer (injected)")

    monkeypatch.setattr(kube, "store_member_certificate", down)
    monkeypatch.setattr(kube, "revoke_member", down)
    reply = api.call(
        "owner",
        "POST",
        f"{P}/demo/members",
        json={"email": "outsider@example.org", "role": "data_scientist"},
    )
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["system"] == "kubernetes"
    assert journal_rows(app) == 1
    monkeypatch.undo()
    report = drain(app.state.runtime)  # released by the request: due at once
    assert report.finished and not report.failed
    description = kube.describe_project("demo")
    assert "outsider" not in description.members
    assert "outsider" not in description.certificates
    assert journal_rows(app) == 0
    assert reconcile(app.state.runtime, dry_run=True).drift == []
    members = api.call("owner", "GET", f"{P}/demo/members").json()["items"]
    assert "outsider@example.org" not in {m["email"] for m in members}
