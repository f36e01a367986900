"""The UI's frame in a real browser: signing in and out, the way back after signing in,
projects created from the list page, and /p/{id} (the address the SDK prints)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.api import PASSWORD


def test_signed_out_visitors_sign_in_and_come_back(open_as, platform, shoot):
    # signing out ends every session of the account, the arranging API's tokens too: so
    # an account of this test's own, a member of `demo`
    platform.api.register("visitor")
    platform.api.add_member("owner", "demo", "visitor", "data_scientist")
    page = open_as(None)
    page.goto("/p/demo/members")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "sign-in")
    page.get_by_label("Email").fill("visitor@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/p/demo/members$"))  # back where they were going
    expect(page.get_by_role("heading", name="demo", exact=True)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "hops_session"]


def test_a_data_owner_creates_a_project_and_reaches_it_by_its_id(open_as, shoot):
    page = open_as("owner")
    page.get_by_label("Name").fill("ui_shell")
    page.get_by_label("Description").fill("made in a browser")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/p/ui_shell$"))
    expect(page.get_by_role("heading", name="ui_shell", exact=True)).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("link", name="ui_shell")).to_be_visible()
    shoot(page, "projects")
    project_id = page.evaluate(
        "fetch('/api/projects/ui_shell').then(r => r.json()).then(p => p.id)"
    )
    page.goto(f"/p/{project_id}")
    expect(page.get_by_role("heading", name="ui_shell", exact=True)).to_be_visible()


def test_a_bad_project_name_is_explained(open_as, platform):
    page = open_as("owner")
    page.get_by_label("Name").fill("Bad-Name")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("alert")).to_contain_text("project names are")
    expect(page.get_by_role("alert")).not_to_contain_text("Value error")
    assert page.url == f"{platform.url}/"


def test_a_newcomer_registers_and_signs_in(open_as, shoot):
    page = open_as(None)
    page.goto("/login")
    page.get_by_role("link", name="Register").click()
    page.get_by_label("First name").fill("Nova")
    page.get_by_label("Last name").fill("Comer")
    page.get_by_label("Email").fill("newcomer@example.org")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Register")).to_be_visible()  # the browser's own check
    page.get_by_label("Password").fill(PASSWORD)
    shoot(page, "register")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("You can sign in now")
    page.get_by_label("Email").fill("newcomer@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("link", name="newcomer")).to_be_visible()
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()
