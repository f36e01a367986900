"""Kafka topics owned by projects: the DB row and the broker's topic go together."""

from __future__ import annotations

import pytest

from hopsworks_api.backends.errors import BackendUnavailable
from tests.support.api import Api

T = "/api/projects/demo/topics"


def test_create_list_delete_reaches_the_broker(api: Api, app):
    kafka = app.state.runtime.backends.kafka
    reply = api.call("owner", "POST", T, json={"name": "clicks", "partitions": 3})
    assert reply.status_code == 201 and reply.json()["partitions"] == 3
    assert kafka.topic_exists("demo", "clicks")
    listed = api.call("scientist", "GET", T).json()["items"]
    assert [(t["name"], t["partitions"]) for t in listed] == [("clicks", 3)]
    assert api.call("owner", "POST", T, json={"name": "clicks"}).status_code == 409
    assert api.call("owner", "DELETE", f"{T}/clicks").status_code == 204
    assert not kafka.topic_exists("demo", "clicks")
    assert api.call("owner", "DELETE", f"{T}/clicks").status_code == 404


def test_roles_and_outsiders(api: Api):
    assert api.call("scientist", "POST", T, json={"name": "x"}).status_code == 403
    assert api.call("outsider", "POST", T, json={"name": "x"}).status_code == 404
    assert api.call("outsider", "GET", T).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bad name"},
        {"name": ".hidden"},
        {"name": "x", "partitions": 0},
        {"name": "x" * 202},
        {"name": "x", "replication": "two"},
    ],
)
def test_bad_topics_are_422(api: Api, body):
    assert api.call("owner", "POST", T, json=body).status_code == 422


def test_max_topics_quota(api: Api):
    assert (
        api.call("admin", "PUT", "/api/projects/demo/quotas", json={"kafka_topics": 2}).status_code
        == 200
    )
    for name in ("a1", "a2"):
        assert api.call("owner", "POST", T, json={"name": name}).status_code == 201
    third = api.call("owner", "POST", T, json={"name": "a3"})
    assert third.status_code == 413 and "at most 2 Kafka topics" in third.json()["error"]["message"]
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()["kafka_topics"]
    assert quota == {"limit": 2, "usage": 2, "enforced": True}


def test_broker_failure_leaves_no_row(api: Api, app, monkeypatch):
    def fail(*_a, **_k):
        raise BackendUnavailable("kafka", "broker did not answer (injected)")

    monkeypatch.setattr(app.state.runtime.backends.kafka, "create_topic", fail)
    reply = api.call("owner", "POST", T, json={"name": "lost"})
    assert reply.status_code == 503 and reply.json()["error"]["system"] == "kafka"
    monkeypatch.undo()
    assert api.call("owner", "GET", T).json()["items"] == []
    assert api.call("owner", "POST", T, json={"name": "lost"}).status_code == 201


def test_project_deletion_removes_its_topics(api: Api, app):
    api.call("owner", "POST", T, json={"name": "gone"})
    api.call("owner", "DELETE", "/api/projects/demo")
    assert app.state.runtime.backends.kafka.list_topics("demo") == []
