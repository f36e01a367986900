"""A project's overview, members and activity pages in a real browser: the data owner
manages members through the form, the data scientist only sees them, a platform admin
sets a quota the members then see, a member leaves but the last data owner cannot, a project is
deleted from its page, and the activity feed pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Platform

TEAM = "ov_team"
SCIENTIST = "scientist@example.org"


@pytest.fixture(scope="module")
def team(platform: Platform) -> str:
    reply = platform.api.call(
        "owner", "POST", "/api/projects", json={"name": TEAM, "description": "overview tests"}
    )
    assert reply.status_code == 201, reply.text
    return TEAM


def _ensure_scientist(platform: Platform, project: str) -> None:
    reply = platform.api.call(
        "owner",
        "POST",
        f"/api/projects/{project}/members",
        json={"email": SCIENTIST, "role": "data_scientist"},
    )
    assert reply.status_code in (201, 409), reply.text


def _role(platform: Platform, project: str, email: str) -> str:
    reply = platform.api.call("owner", "GET", f"/api/projects/{project}/members")
    return next(m["role"] for m in reply.json()["items"] if m["email"] == email)


def _accept_next_dialog(page: Page) -> None:
    page.once("dialog", lambda dialog: dialog.accept())


def test_the_owner_manages_members_and_the_scientist_only_sees_them(open_as, platform, shoot, team):
    owner = open_as("owner")
    owner.goto(f"/p/{team}/members")
    expect(owner.get_by_role("heading", name="Members", level=2)).to_be_visible()
    owner.get_by_label("Email", exact=True).fill(SCIENTIST)
    owner.get_by_label("Role", exact=True).select_option("data_scientist")
    owner.get_by_role("button", name="Add member").click()
    expect(owner.get_by_role("rowheader", name=SCIENTIST)).to_be_visible()
    expect(owner.get_by_role("status")).to_contain_text(f"{SCIENTIST} is now a data scientist")
    assert _role(platform, team, SCIENTIST) == "data_scientist"
    expect(owner.get_by_label("Email", exact=True)).to_have_value("")
    expect(owner.get_by_label("Role", exact=True)).to_have_value("data_scientist")

    role = owner.get_by_label(f"Role of {SCIENTIST}")
    role.select_option("data_owner")
    expect(owner.get_by_role("status")).to_contain_text(f"{SCIENTIST} is now a data owner")
    assert _role(platform, team, SCIENTIST) == "data_owner"
    role.select_option("data_scientist")
    expect(owner.get_by_role("status")).to_contain_text(f"{SCIENTIST} is now a data scientist")
    expect(role).to_have_value("data_scientist")
    assert _role(platform, team, SCIENTIST) == "data_scientist"

    owner.get_by_label("Email", exact=True).fill("nobody@example.org")
    owner.get_by_role("button", name="Add member").click()
    alert = owner.get_by_role("alert")
    expect(alert).to_have_text("no account with email 'nobody@example.org'")
    expect(owner.get_by_role("rowheader", name="nobody@example.org")).to_have_count(0)
    expect(owner.get_by_role("button", name=f"Remove {SCIENTIST}")).to_be_visible()
    shoot(owner, "overview-members-owner")

    scientist = open_as("scientist")
    scientist.goto(f"/p/{team}/members")
    expect(scientist.get_by_role("rowheader", name="owner@example.org")).to_be_visible()
    expect(scientist.get_by_role("row", name=re.compile("Data scientist"))).to_be_visible()
    expect(scientist.get_by_role("button", name="Add member")).to_have_count(0)
    expect(scientist.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)
    expect(scientist.get_by_role("combobox")).to_have_count(0)
    shoot(scientist, "overview-members-scientist")

    owner.goto(f"/p/{team}/activity")
    expect(owner.get_by_role("heading", name="Activity", level=2)).to_be_visible()
    added = owner.get_by_role("row").filter(has_text=f"Added a member: {SCIENTIST}")
    expect(added.first).to_contain_text("owner@example.org")
    expect(added.first).to_contain_text("Done")
    refused = owner.get_by_role("row").filter(has_text="Added a member: nobody@example.org")
    expect(refused.first).to_contain_text("Refused")
    shoot(owner, "overview-activity")


def test_an_admin_sets_a_storage_quota_that_the_members_see(open_as, platform, shoot, team):
    _ensure_scientist(platform, team)
    admin = open_as("admin")
    admin.goto(f"/p/{team}")
    expect(admin.get_by_text("Platform administrator (not a member)")).to_be_visible()
    expect(admin.get_by_text("Storage: 0 B of 100.0 GiB")).to_be_visible()  # the default
    expect(admin.get_by_label("Storage limit", exact=True)).to_have_value("100")
    expect(admin.get_by_label("Unit of the storage limit")).to_have_value("GiB")
    admin.get_by_label("Storage limit", exact=True).fill("2")
    admin.get_by_label("Unit of the storage limit").select_option("GiB")
    admin.get_by_label("Kafka topics limit").fill("3")
    admin.get_by_role("button", name="Save quotas").click()
    expect(admin.get_by_role("status")).to_have_text("The quotas are saved.")
    expect(admin.get_by_text("Storage: 0 B of 2.0 GiB")).to_be_visible()
    shoot(admin, "overview-home-admin")
    quotas = platform.api.call("owner", "GET", f"/api/projects/{team}/quotas").json()
    assert quotas["storage_bytes"]["limit"] == 2 * 1024**3
    assert quotas["kafka_topics"]["limit"] == 3
    assert quotas["storage_files"]["limit"] == 1_000_000  # unchanged: the default

    admin.get_by_label("Kafka topics limit").fill("")  # empty: no limit
    admin.get_by_role("button", name="Save quotas").click()
    expect(admin.get_by_text("Kafka topics: 0 (no limit)")).to_be_visible()
    quotas = platform.api.call("owner", "GET", f"/api/projects/{team}/quotas").json()
    assert quotas["kafka_topics"]["limit"] is None
    assert quotas["storage_bytes"]["limit"] == 2 * 1024**3

    owner = open_as("owner")
    owner.goto(f"/p/{team}")
    expect(owner.get_by_text("Storage: 0 B of 2.0 GiB")).to_be_visible()
    expect(owner.get_by_role("progressbar", name="Storage")).to_be_visible()
    expect(owner.get_by_role("button", name="Save quotas")).to_have_count(0)
    expect(owner.get_by_role("button", name="Delete project")).to_be_visible()
    expect(owner.get_by_role("link", name="See and manage the members")).to_be_visible()
    shoot(owner, "overview-home-owner")

    scientist = open_as("scientist")
    scientist.goto(f"/p/{team}")
    expect(scientist.get_by_text("Data scientist", exact=True)).to_be_visible()
    expect(scientist.get_by_role("progressbar", name="Storage")).to_be_visible()
    expect(scientist.get_by_text("Kafka topics: 0 (no limit)")).to_be_visible()
    expect(scientist.get_by_role("button", name="Leave project")).to_be_visible()
    expect(scientist.get_by_role("button", name="Delete project")).to_have_count(0)
    expect(scientist.get_by_role("button", name="Edit description")).to_have_count(0)
    expect(scientist.get_by_role("button", name="Save quotas")).to_have_count(0)
    shoot(scientist, "overview-home-scientist")


def test_the_description_is_edited_a_member_leaves_the_last_owner_cannot_and_deletes(
    open_as, platform, shoot
):
    reply = platform.api.call("owner", "POST", "/api/projects", json={"name": "ov_gone"})
    assert reply.status_code == 201, reply.text
    owner = open_as("owner")
    owner.goto("/p/ov_gone")
    expect(owner.get_by_text("No description yet.")).to_be_visible()
    owner.get_by_role("button", name="Edit description").click()
    owner.get_by_label("Description").fill("short-lived")
    owner.get_by_role("button", name="Save description").click()
    expect(owner.get_by_role("status")).to_have_text("The description is saved.")
    expect(owner.get_by_text("short-lived")).to_be_visible()
    reply = platform.api.call("owner", "GET", "/api/projects/ov_gone")
    assert reply.json()["description"] == "short-lived"
    expect(owner.get_by_text("1 member: 1 data owner, 0 data scientists.")).to_be_visible()

    _accept_next_dialog(owner)
    owner.get_by_role("button", name="Leave project").click()
    expect(owner.get_by_role("alert")).to_have_text(
        "project 'ov_gone' must keep at least one data owner"
    )
    assert owner.url.endswith("/p/ov_gone")

    _ensure_scientist(platform, "ov_gone")
    scientist = open_as("scientist")
    scientist.goto("/p/ov_gone")
    _accept_next_dialog(scientist)
    scientist.get_by_role("button", name="Leave project").click()
    expect(scientist.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    expect(scientist.get_by_role("link", name="ov_gone")).to_have_count(0)
    members = platform.api.call("owner", "GET", "/api/projects/ov_gone/members").json()
    assert [m["email"] for m in members["items"]] == ["owner@example.org"]

    _accept_next_dialog(owner)
    owner.get_by_role("button", name="Delete project").click()
    expect(owner).to_have_url(re.compile(r"/$"))
    expect(owner.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    expect(owner.get_by_role("link", name="ov_gone")).to_have_count(0)
    assert platform.api.call("owner", "GET", "/api/projects/ov_gone").status_code == 404


def test_the_activity_feed_loads_more_pages(open_as, platform):
    reply = platform.api.call("owner", "POST", "/api/projects", json={"name": "ov_feed"})
    assert reply.status_code == 201, reply.text
    for n in range(55):
        reply = platform.api.call(
            "owner", "PATCH", "/api/projects/ov_feed", json={"description": f"v{n}"}
        )
        assert reply.status_code == 200, reply.text
    owner = open_as("owner")
    owner.goto("/p/ov_feed/activity")
    rows = owner.get_by_role("row")
    expect(rows).to_have_count(51)  # the header and the first 50, newest first
    expect(rows.nth(1)).to_contain_text("Changed the project's description")
    expect(rows.nth(1)).not_to_contain_text("/api/projects")  # the path says nothing more
    expect(rows.nth(1)).to_contain_text("owner@example.org")
    expect(owner.get_by_text("Created the project")).to_have_count(0)
    owner.get_by_role("button", name="Load more").click()
    expect(owner.get_by_text("Created the project")).to_have_count(1)
    expect(owner.get_by_role("button", name="Load more")).to_have_count(0)
    # the 55 changes and the creation, each once (the page's own reading is newer than
    # the first page it read)
    expect(rows).to_have_count(1 + 56)
