"""Projects: lifecycle, names, pagination, and deletion that leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.support.api import Api


def test_creator_is_data_owner_with_default_datasets(api: Api, settings):
    project = api.call("owner", "GET", "/api/projects/demo").json()
    assert project["role"] == "data_owner"
    datasets = {
        d["name"] for d in api.call("owner", "GET", "/api/projects/demo/datasets").json()["items"]
    }
    assert datasets == {"Resources", "Jupyter", "Logs", "Models"}
    for name in datasets:
        assert (settings.storage_root / "Projects" / "demo" / name).is_dir()


@pytest.mark.parametrize(
    "name",
    ["ab", "Demo", "1abc", "a" * 64, "has__double", "with-dash", "spa ce", "ünï", ""],
)
def test_bad_project_names_are_422(api: Api, name):
    reply = api.call("owner", "POST", "/api/projects", json={"name": name})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "validation_error"


def test_duplicate_project_is_409(api: Api):
    reply = api.call("outsider", "POST", "/api/projects", json={"name": "demo"})
    assert reply.status_code == 409
    assert "already exists" in reply.json()["error"]["message"]


def test_list_is_mine_for_users_and_all_for_admins_paginated(api: Api):
    for i in range(5):
        api.call("outsider", "POST", "/api/projects", json={"name": f"proj_{i}"})
    mine = api.call("owner", "GET", "/api/projects").json()
    assert [p["name"] for p in mine["items"]] == ["demo"] and mine["total"] == 1
    page = api.call("admin", "GET", "/api/projects?limit=2&offset=1").json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 1
    assert [p["name"] for p in page["items"]] == ["proj_0", "proj_1"]
    assert page["items"][0]["role"] is None
    assert api.call("admin", "GET", "/api/projects?limit=0").status_code == 422
    assert api.call("admin", "GET", "/api/projects?limit=abc").status_code == 422


def test_update_description(api: Api):
    reply = api.call("owner", "PATCH", "/api/projects/demo", json={"description": "churn"})
    assert reply.status_code == 200 and reply.json()["description"] == "churn"
    too_long = api.call("owner", "PATCH", "/api/projects/demo", json={"description": "x" * 2001})
    assert too_long.status_code == 422
    unknown = api.call("owner", "PATCH", "/api/projects/demo", json={"name": "other"})
    assert unknown.status_code == 422


def test_delete_leaves_nothing_orphaned(api: Api, app, settings):
    api.call("outsider", "POST", "/api/projects", json={"name": "partner"})
    api.call("owner", "POST", "/api/projects/demo/datasets", json={"name": "sales"})
    api.upload("owner", "demo", "sales", "q1/data.csv", b"1,2,3")
    api.call(
        "owner",
        "POST",
        "/api/projects/demo/datasets/sales/shares",
        json={"project": "partner", "permission": "read_only"},
    )
    api.call("outsider", "POST", "/api/projects/partner/shared/demo::sales/accept")
    api.call("outsider", "POST", "/api/projects/partner/datasets", json={"name": "own"})
    api.call(
        "outsider", "POST", "/api/projects/partner/datasets/own/shares", json={"project": "demo"}
    )

    assert api.call("owner", "DELETE", "/api/projects/demo").status_code == 204

    assert api.call("owner", "GET", "/api/projects/demo").status_code == 404
    assert not (settings.storage_root / "Projects" / "demo").exists()
    assert list((settings.storage_root / ".trash").iterdir()) == []
    with app.state.runtime.engine.connect() as conn:
        for table in ("memberships", "datasets", "dataset_shares", "project_quotas"):
            rows = conn.execute(
                text(
                    f"SELECT COUNT(*) FROM {table} WHERE "
                    + ("target_project_id" if table == "dataset_shares" else "project_id")
                    + " NOT IN (SELECT id FROM projects)"
                )
            ).scalar()
            assert rows == 0, table
        shares = conn.execute(text("SELECT COUNT(*) FROM dataset_shares")).scalar()
    assert shares == 0  # shares out of demo and shares into demo are both gone
    listed = api.call("outsider", "GET", "/api/projects/partner/datasets").json()["items"]
    assert {d["name"] for d in listed} == {"Resources", "Jupyter", "Logs", "Models", "own"}
    # the name is free again
    assert api.call("owner", "POST", "/api/projects", json={"name": "demo"}).status_code == 201


@pytest.mark.parametrize("url", ["/api/projects", "/api/projects/demo/activity"])
def test_huge_offsets_are_422_not_500(api: Api, url):
    assert api.call("owner", "GET", f"{url}?offset={2**64}").status_code == 422
    assert api.call("owner", "GET", f"{url}?offset=1000000000").status_code == 200
