"""Reads after a lock wait see what committed during the wait, not the transaction's
snapshot. On MariaDB (REPEATABLE READ) a transaction's plain reads all see the snapshot
taken at its first plain read, so a check that runs after waiting for a lock must read with
a lock itself, or the snapshot must start after the lock (docs/decisions.md, "Deletion vs
work in flight"). SQLite serialises writers, so there the race cannot happen; the test runs
on both anyway."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from hopsworks_api.projects import service as project_service
from tests.support.api import Api

P = "/api/projects"
WAIT = 60  # seconds: a bound on waiting for an event, never a synchronisation by sleep


def test_a_topic_creation_waiting_for_another_counts_the_topic_it_created(
    api: Api, app, live_server, monkeypatch
):
    """Two creations against a limit of one topic: the second waits for the first's lock on
    the quota row, then must count the first's topic, and be refused by the DB check (the
    broker is never asked), not by the broker's backstop or not at all."""
    q = api.call("admin", "PUT", f"{P}/demo/quotas", json={"kafka_topics": 1})
    assert q.status_code == 200, q.text
    kafka = app.state.runtime.backends.kafka
    asked: list[str] = []
    creating, release = threading.Event(), threading.Event()
    real_create = kafka.create_topic

    def create_topic(project, name, *args, **kwargs):
        asked.append(name)
        if name == "first":
            creating.set()
            assert release.wait(WAIT)
        return real_create(project, name, *args, **kwargs)

    monkeypatch.setattr(kafka, "create_topic", create_topic)
    # On MariaDB let the second creation read (its authorization) while the first is held
    # inside its transaction, so that any snapshot it takes predates the first's commit.
    authorized = threading.Event()
    real_access = project_service.access

    def access(*args, **kwargs):
        resolved = real_access(*args, **kwargs)
        if creating.is_set():
            authorized.set()
        return resolved

    monkeypatch.setattr(project_service, "access", access)
    interleave = app.state.runtime.engine.dialect.name != "sqlite"
    headers = api.headers("owner")

    def create(name: str) -> int:
        with httpx.Client(base_url=live_server, timeout=WAIT) as client:
            return client.post(f"{P}/demo/topics", json={"name": name}, headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(create, "first")
        assert creating.wait(WAIT)
        second = pool.submit(create, "second")
        if interleave:
            assert authorized.wait(WAIT)
        release.set()
        assert first.result(WAIT) == 201
        assert second.result(WAIT) == 413
    monkeypatch.undo()
    assert asked == ["first"]
    topics = api.call("owner", "GET", f"{P}/demo/topics").json()["items"]
    assert [t["name"] for t in topics] == ["first"]
    assert len(kafka.list_topics("demo")) == 1
