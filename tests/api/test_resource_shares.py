"""Topic and Hive database shares, and dataset shares reaching storage: every accept,
unshare, member change and project deletion reaches the system that enforces access."""

from __future__ import annotations

import pytest

from hopsworks_api.backends.kafka.base import share_acls
from tests.support.api import Api

P = "/api/projects"


@pytest.fixture
def partner(api: Api) -> Api:
    """`demo` (owner, scientist) owns topic `events`; the admin owns project `partner`."""
    assert api.call("admin", "POST", P, json={"name": "partner"}).status_code == 201
    reply = api.call("owner", "POST", f"{P}/demo/topics", json={"name": "events"})
    assert reply.status_code == 201, reply.text
    return api


def offer(api: Api, path: str, permission: str = "read_only", who: str = "owner"):
    return api.call(
        who, "POST", f"{P}/demo/{path}", json={"project": "partner", "permission": permission}
    )


def holders(backends, writable: bool) -> set[str]:
    acls = set(backends.kafka.describe_acls("partner"))
    return {
        user
        for user in ("admin", "outsider")
        if share_acls("demo", "events", "partner", user, writable) <= acls
    }


def test_topic_share_grants_kafka_acls_to_every_target_member(partner: Api, app):
    b = app.state.runtime.backends
    reply = offer(partner, "topics/events/shares", "editable")
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "pending" and reply.json()["kind"] == "topic"
    assert holders(b, writable=False) == set()  # an offer grants nothing
    incoming = partner.call("admin", "GET", f"{P}/partner/shared/topics").json()["items"]
    assert [(s["owner_project"], s["resource"]) for s in incoming] == [("demo", "events")]

    reply = partner.call("admin", "POST", f"{P}/partner/shared/topics/demo::events/accept")
    assert reply.status_code == 200, reply.text
    assert holders(b, writable=True) == {"admin"}

    partner.add_member("admin", "partner", "outsider", "data_scientist")
    assert holders(b, writable=True) == {"admin", "outsider"}
    reply = partner.call("admin", "DELETE", f"{P}/partner/members/{Api.email('outsider')}")
    assert reply.status_code == 204
    assert holders(b, writable=False) == {"admin"}

    reply = partner.call("owner", "DELETE", f"{P}/demo/topics/events/shares/partner")
    assert reply.status_code == 204
    assert holders(b, writable=False) == set()
    assert partner.call("owner", "GET", f"{P}/demo/topics/events/shares").json()["items"] == []


def test_hive_share_grants_select_and_editable_adds_insert(partner: Api, app):
    hive = app.state.runtime.backends.hive
    assert offer(partner, "hive/shares", "editable").status_code == 201
    assert "partner__admin" not in (hive.list_grants("demo") or {})
    reply = partner.call("admin", "POST", f"{P}/partner/shared/hive/demo/accept")
    assert reply.status_code == 200, reply.text
    assert set(hive.list_grants("demo")["partner__admin"]) == {"SELECT", "INSERT"}
    partner.add_member("admin", "partner", "outsider", "data_scientist")
    assert set(hive.list_grants("demo")["partner__outsider"]) == {"SELECT", "INSERT"}
    # the target rejecting an accepted share ends it too
    assert partner.call("admin", "POST", f"{P}/partner/shared/hive/demo/reject").status_code == 204
    grants = hive.list_grants("demo")
    assert "partner__admin" not in grants and "partner__outsider" not in grants


def test_dataset_share_is_an_acl_for_the_target_group(partner: Api, app):
    storage = app.state.runtime.backends.storage
    assert offer(partner, "datasets/Logs/shares", "editable").status_code == 201
    assert storage.share_groups("demo", "Logs") == {}
    reply = partner.call("admin", "POST", f"{P}/partner/shared/demo::Logs/accept")
    assert reply.status_code == 200, reply.text
    assert storage.share_groups("demo", "Logs") == {"partner": True}
    # the grant record is not data: invisible in listings and usage
    listing = partner.call("owner", "GET", f"{P}/demo/datasets/Logs/files")
    assert listing.status_code == 200 and listing.json()["items"] == []
    assert storage.usage("demo", "Logs") == (0, 0)
    reply = partner.call("owner", "DELETE", f"{P}/demo/datasets/Logs/shares/partner")
    assert reply.status_code == 204
    assert storage.share_groups("demo", "Logs") == {}


def test_deleting_the_target_project_revokes_what_it_was_given(partner: Api, app):
    b = app.state.runtime.backends
    for path in ("datasets/Logs/shares", "topics/events/shares", "hive/shares"):
        assert offer(partner, path).status_code == 201
    for path in ("demo::Logs", "topics/demo::events", "hive/demo"):
        reply = partner.call("admin", "POST", f"{P}/partner/shared/{path}/accept")
        assert reply.status_code == 200, reply.text
    assert partner.call("admin", "DELETE", f"{P}/partner").status_code == 204
    assert b.storage.share_groups("demo", "Logs") == {}
    assert "partner__admin" not in (b.hive.list_grants("demo") or {})
    assert b.kafka.describe_acls("partner") == []


def test_deleting_a_topic_ends_its_shares(partner: Api):
    assert offer(partner, "topics/events/shares").status_code == 201
    assert partner.call("owner", "DELETE", f"{P}/demo/topics/events").status_code == 204
    assert partner.call("admin", "GET", f"{P}/partner/shared/topics").json()["items"] == []


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status"),
    [
        ("owner", "POST", "topics/missing/shares", {"project": "partner"}, 404),
        ("owner", "POST", "topics/events/shares", {"project": "demo"}, 400),
        ("owner", "POST", "topics/events/shares", {"project": "nowhere"}, 404),
        ("owner", "POST", "hive/shares", {"project": "partner", "permission": "all"}, 422),
        ("scientist", "POST", "topics/events/shares", {"project": "partner"}, 403),
        ("scientist", "POST", "hive/shares", {"project": "partner"}, 403),
        ("outsider", "POST", "hive/shares", {"project": "partner"}, 404),
        ("owner", "DELETE", "hive/shares/partner", None, 404),
    ],
)
def test_bad_share_requests_get_clear_errors(partner: Api, who, method, path, body, status):
    reply = partner.call(who, method, f"{P}/demo/{path}", json=body)
    assert reply.status_code == status, reply.text
    assert "message" in reply.json()["error"]


def test_offers_are_answered_once_and_addressed_exactly(partner: Api):
    assert offer(partner, "topics/events/shares").status_code == 201
    assert offer(partner, "topics/events/shares").status_code == 409
    shared = f"{P}/partner/shared/topics"
    assert partner.call("admin", "POST", f"{shared}/events/accept").status_code == 400
    assert partner.call("admin", "POST", f"{shared}/demo::other/accept").status_code == 404
    assert partner.call("admin", "POST", f"{shared}/demo::events/accept").status_code == 200
    assert partner.call("admin", "POST", f"{shared}/demo::events/accept").status_code == 409
    # only the target's data owners answer offers
    partner.add_member("admin", "partner", "outsider", "data_scientist")
    assert partner.call("outsider", "POST", f"{shared}/demo::events/reject").status_code == 403
