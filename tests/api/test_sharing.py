"""Sharing without copying: offer -> accept | reject -> use as owner::dataset -> unshare."""

from __future__ import annotations

import os

import pytest

from tests.support.api import Api

DEMO = "/api/projects/demo"
PARTNER = "/api/projects/partner"


@pytest.fixture
def shared(api: Api) -> Api:
    """`demo` (owner) offers dataset `sales` to `partner` (outsider is its data owner)."""
    api.call("outsider", "POST", "/api/projects", json={"name": "partner"})
    api.register("analyst")
    api.add_member("outsider", "partner", "analyst", "data_scientist")
    api.call("owner", "POST", f"{DEMO}/datasets", json={"name": "sales"})
    assert (
        api.upload("owner", "demo", "sales", "2026/q1.csv", b"region,amount\n").status_code == 201
    )
    return api


def offer(api: Api, permission: str = "read_only") -> None:
    reply = api.call(
        "owner",
        "POST",
        f"{DEMO}/datasets/sales/shares",
        json={"project": "partner", "permission": permission},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "pending"


def test_offer_is_not_usable_until_accepted(shared: Api):
    offer(shared)
    incoming = shared.call("outsider", "GET", f"{PARTNER}/shared").json()["items"]
    assert [(s["owner_project"], s["dataset"], s["status"]) for s in incoming] == [
        ("demo", "sales", "pending")
    ]
    assert shared.download("outsider", "partner", "demo::sales", "2026/q1.csv").status_code == 404
    accepted = shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    names = [
        d["name"] for d in shared.call("analyst", "GET", f"{PARTNER}/datasets").json()["items"]
    ]
    assert "demo::sales" in names
    got = shared.download("outsider", "partner", "demo::sales", "2026/q1.csv")
    assert got.status_code == 200 and got.content == b"region,amount\n"
    # a data scientist of partner may list but not export
    listing = shared.call("analyst", "GET", f"{PARTNER}/datasets/demo::sales/files/2026")
    assert listing.status_code == 200
    assert shared.download("analyst", "partner", "demo::sales", "2026/q1.csv").status_code == 403


def test_read_only_share_refuses_writes_and_deletes(shared: Api, settings):
    offer(shared, "read_only")
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    write = shared.upload("outsider", "partner", "demo::sales", "2026/q2.csv", b"x")
    assert write.status_code == 403 and "read-only" in write.json()["error"]["message"]
    delete = shared.call("outsider", "DELETE", f"{PARTNER}/datasets/demo::sales/files/2026/q1.csv")
    assert delete.status_code == 403
    assert (settings.storage_root / "Projects/demo/sales/2026/q1.csv").exists()


def test_editable_share_writes_land_in_the_owner_dataset_and_quota(shared: Api, settings):
    offer(shared, "editable")
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    assert (
        shared.upload("outsider", "partner", "demo::sales", "2026/q2.csv", b"12345").status_code
        == 201
    )
    assert (settings.storage_root / "Projects/demo/sales/2026/q2.csv").read_bytes() == b"12345"
    assert shared.download("owner", "demo", "sales", "2026/q2.csv").content == b"12345"
    demo_quota = shared.call("owner", "GET", f"{DEMO}/quotas").json()["storage_bytes"]["usage"]
    partner_quota = shared.call("outsider", "GET", f"{PARTNER}/quotas").json()
    assert demo_quota == len(b"region,amount\n") + 5
    assert partner_quota["storage_bytes"]["usage"] == 0
    # data scientists of partner still may not write into a non-Resources dataset
    assert shared.upload("analyst", "partner", "demo::sales", "x.csv", b"1").status_code == 403


def test_sharing_copies_no_bytes(shared: Api, settings):
    """The partner reads the very inode the owner wrote; the store grows by nothing."""
    offer(shared)
    store = settings.storage_root

    def footprint() -> tuple[int, int]:
        """Data bytes and files; the share's grant record (`.hops-acl.json`, the embedded
        form of an HDFS ACL entry) is metadata, not a copy, and is checked apart."""
        size = files = 0
        for dirpath, _, names in os.walk(store):
            for name in names:
                if name == ".hops-acl.json":
                    continue
                size += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
        return size, files

    before = footprint()
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    assert shared.download("outsider", "partner", "demo::sales", "2026/q1.csv").status_code == 200
    assert footprint() == before
    assert not any((store / "Projects" / "partner").rglob("q1.csv"))
    grant = store / "Projects" / "demo" / "sales" / ".hops-acl.json"
    assert grant.stat().st_size < 100 and "partner" in grant.read_text()
    # a write through the owner is seen by the partner at once: same bytes
    shared.upload("owner", "demo", "sales", "2026/q1.csv", b"changed")
    assert (
        shared.download("outsider", "partner", "demo::sales", "2026/q1.csv").content == b"changed"
    )


def test_reject_and_unshare(shared: Api):
    offer(shared)
    assert (
        shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/reject").status_code == 204
    )
    assert shared.call("outsider", "GET", f"{PARTNER}/shared").json()["items"] == []
    offer(shared)
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    listed = shared.call("owner", "GET", f"{DEMO}/datasets/sales/shares").json()["items"]
    assert [(s["project"], s["status"]) for s in listed] == [("partner", "accepted")]
    assert (
        shared.call("owner", "DELETE", f"{DEMO}/datasets/sales/shares/partner").status_code == 204
    )
    assert shared.download("outsider", "partner", "demo::sales", "2026/q1.csv").status_code == 404
    assert (
        shared.call("owner", "DELETE", f"{DEMO}/datasets/sales/shares/partner").status_code == 404
    )


def test_receiver_can_leave_a_share(shared: Api):
    offer(shared)
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    assert shared.call("outsider", "DELETE", f"{PARTNER}/datasets/demo::sales").status_code == 204
    assert shared.call("owner", "GET", f"{DEMO}/datasets/sales/shares").json()["items"] == []
    assert shared.download("owner", "demo", "sales", "2026/q1.csv").status_code == 200


def test_bad_share_requests(shared: Api):
    def share(body):
        return shared.call("owner", "POST", f"{DEMO}/datasets/sales/shares", json=body)

    assert share({"project": "demo"}).status_code == 400
    assert share({"project": "ghost"}).status_code == 404
    assert share({"project": "partner", "permission": "everything"}).status_code == 422
    assert share({"project": "Bad Name"}).status_code == 422
    offer(shared)
    assert share({"project": "partner"}).status_code == 409
    assert (
        shared.call(
            "owner", "POST", f"{DEMO}/datasets/nope/shares", json={"project": "partner"}
        ).status_code
        == 404
    )
    accept = shared.call("outsider", "POST", f"{PARTNER}/shared/nonsense/accept")
    assert accept.status_code == 400
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    again = shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    assert again.status_code == 409
    onward = shared.call(
        "outsider", "POST", f"{PARTNER}/datasets/demo::sales/shares", json={"project": "demo"}
    )
    assert onward.status_code == 400


def test_a_share_is_only_visible_to_the_project_it_was_offered_to(shared: Api):
    offer(shared)
    shared.call("outsider", "POST", f"{PARTNER}/shared/demo::sales/accept")
    shared.call("scientist", "POST", "/api/projects", json={"name": "third"})
    assert shared.download("scientist", "third", "demo::sales", "2026/q1.csv").status_code == 404
    assert (
        shared.call(
            "scientist", "POST", "/api/projects/third/shared/demo::sales/accept"
        ).status_code
        == 404
    )
