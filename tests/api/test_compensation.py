"""Fault injection: a multi-step change either completes or is undone, nothing orphaned."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.support.api import Api

# An undone creation keeps its owner's certificate as a revoked record (it was signed and
# may have reached a system, so it must be on the CRL), never as a valid one.
VALID_CERTS = "certificates WHERE status = 'valid'"


def count(app, table: str) -> int:
    with app.state.runtime.engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()


def fail(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("step", ["create_project", "create_dataset"])
def test_project_creation_failing_in_storage_leaves_nothing(
    api: Api, app, settings, monkeypatch, step
):
    before = {t: count(app, t) for t in ("projects", "memberships", "datasets", VALID_CERTS)}
    monkeypatch.setattr(app.state.runtime.backends.storage, step, fail)
    reply = api.call("owner", "POST", "/api/projects", json={"name": "doomed"})
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "storage_unavailable"
    assert {t: count(app, t) for t in before} == before
    assert not (settings.storage_root / "Projects" / "doomed").exists()
    monkeypatch.undo()
    assert api.call("owner", "POST", "/api/projects", json={"name": "doomed"}).status_code == 201


def test_project_creation_failing_at_commit_removes_its_directories(
    api: Api, app, settings, monkeypatch
):
    storage = app.state.runtime.backends.storage
    real_commit, real_create = Session.commit, storage.create_dataset
    armed = {"on": False}

    def create_and_arm(project, dataset):
        real_create(project, dataset)
        armed["on"] = True  # the next commit is the project's own

    def failing_commit(self):
        if armed["on"]:
            armed["on"] = False
            raise OSError(errno.EIO, "Input/output error")
        return real_commit(self)

    monkeypatch.setattr(storage, "create_dataset", create_and_arm)
    monkeypatch.setattr(Session, "commit", failing_commit)
    reply = api.call("owner", "POST", "/api/projects", json={"name": "halfway"})
    monkeypatch.undo()
    assert reply.status_code == 503
    assert not (settings.storage_root / "Projects" / "halfway").exists()
    assert api.call("admin", "GET", "/api/projects/halfway").status_code == 404


def test_dataset_deletion_failing_at_commit_restores_the_files(
    api: Api, app, settings, monkeypatch
):
    api.call("owner", "POST", "/api/projects/demo/datasets", json={"name": "keep"})
    api.upload("owner", "demo", "keep", "a.csv", b"precious")
    real_commit = Session.commit

    def failing_commit(self):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Session, "commit", failing_commit)
    reply = api.call("owner", "DELETE", "/api/projects/demo/datasets/keep")
    monkeypatch.setattr(Session, "commit", real_commit)
    assert reply.status_code == 503
    assert (settings.storage_root / "Projects/demo/keep/a.csv").read_bytes() == b"precious"
    assert api.download("owner", "demo", "keep", "a.csv").content == b"precious"


def test_upload_failing_in_storage_releases_its_reservation(api: Api, app, settings, monkeypatch):
    monkeypatch.setattr(app.state.runtime.backends.storage, "begin_write", fail)
    reply = api.upload("owner", "demo", "Logs", "x.bin", b"x" * 1000)
    assert reply.status_code == 503
    monkeypatch.undo()
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (0, 0)
    assert list((settings.storage_root / ".uploads").iterdir()) == []
