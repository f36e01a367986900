"""The Account and Administration pages in a real browser: an API key shown once and
usable until it is deleted, a password change that ends the session, and an admin who
approves, deletes accounts and sets a project's quotas (others are refused)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from hopsworks_api.main import create_app
from tests.browser.conftest import UI_TIMEOUT_MS, WIDTHS, Platform, sign_in
from tests.conftest import _serve_in_thread
from tests.support.api import PASSWORD, Api
from tests.support.settings import test_settings

NEW_PASSWORD = "a brand new passphrase"


def test_an_api_key_is_shown_once_works_and_ends_when_deleted(
    platform: Platform, open_as: Callable[[str | None], Page], shoot
):
    platform.api.register("acct_keys")
    page = open_as("acct_keys")
    page.goto("/account")
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(page.get_by_text(Api.email("acct_keys")).first).to_be_visible()
    expect(page.get_by_text("You have no API keys.")).to_be_visible()

    page.get_by_label("Key name").fill("laptop-sdk")
    page.get_by_role("button", name="Create API key").click()
    secret_field = page.get_by_label("Your new API key")
    expect(secret_field).to_have_value(re.compile(r".{20,}"))
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    secret = secret_field.input_value()
    keys = page.get_by_role("table", name="Your API keys")
    expect(keys.get_by_role("row", name=re.compile("laptop-sdk"))).to_be_visible()
    shoot(page, "account-key-created")

    headers = {"Authorization": f"ApiKey {secret}"}
    me = httpx.get(f"{platform.url}/api/users/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == Api.email("acct_keys")

    # once: not after the person says it is stored, nor on the next visit
    page.get_by_role("button", name="I have stored it").click()
    expect(page.get_by_label("Your new API key")).to_have_count(0)
    page.reload()
    expect(keys.get_by_role("row", name=re.compile("laptop-sdk"))).to_be_visible()
    assert secret not in page.content()
    shoot(page, "account")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete laptop-sdk").click()
    expect(page.get_by_role("status")).to_contain_text("laptop-sdk was deleted")
    expect(page.get_by_text("You have no API keys.")).to_be_visible()
    assert httpx.get(f"{platform.url}/api/users/me", headers=headers).status_code == 401


def test_a_password_change_ends_the_session_and_the_new_one_signs_in(
    platform: Platform, open_as: Callable[[str | None], Page]
):
    platform.api.register("acct_pw")
    page = open_as("acct_pw")
    page.goto("/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD + "x")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("differ")

    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("current password is wrong")

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    page.get_by_role("button", name="Sign in again").click()
    expect(page).to_have_url(re.compile("/login"))

    old = platform.api.client.post(
        "/api/auth/login", json={"email": Api.email("acct_pw"), "password": PASSWORD}
    )
    assert old.status_code == 401
    sign_in(page, "acct_pw", NEW_PASSWORD)


def test_an_admin_deletes_an_account_and_sets_quotas(
    platform: Platform, open_as: Callable[[str | None], Page], shoot
):
    api = platform.api
    api.register("acct_gone")
    assert (
        api.call("owner", "POST", "/api/projects", json={"name": "acct_quota"}).status_code == 201
    )
    page = open_as("admin")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/admin")
    accounts = page.get_by_role("table", name="Accounts")
    gone = accounts.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=Api.email("acct_gone"))
    )
    expect(gone).to_contain_text("active")
    # no one deletes their own account here
    expect(page.get_by_role("button", name=f"Delete {Api.email('admin')}")).to_have_count(0)
    shoot(page, "admin-users")
    gone.get_by_role("button", name=f"Delete {Api.email('acct_gone')}").click()
    expect(page.get_by_role("status")).to_contain_text("acct_gone@example.org was deleted")
    expect(gone).to_have_count(0)
    listed = api.call("admin", "GET", "/api/users", params={"limit": 500}).json()["items"]
    assert Api.email("acct_gone") not in {u["email"] for u in listed}

    page.get_by_role("link", name="Projects & quotas").click()
    expect(page).to_have_url(re.compile("/admin/quotas$"))
    page.get_by_role("link", name="Quotas of acct_quota").click()
    # one quota form, on the project's overview (tested there: test_ui_overview.py)
    expect(page).to_have_url(re.compile("/p/acct_quota#project-quotas$"))
    expect(page.get_by_role("button", name="Save quotas")).to_be_visible()
    shoot(page, "admin-quotas")


def test_others_are_refused_the_administration_page(open_as: Callable[[str | None], Page]):
    page = open_as("scientist")
    page.goto("/admin/users")
    expect(page.get_by_text("platform administrators only")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)


@dataclass
class ApprovalPlatform:
    url: str
    client: httpx.Client


@pytest.fixture(scope="module")
def approval(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApprovalPlatform]:
    """A second, small platform whose new accounts wait for an admin's approval."""
    data = tmp_path_factory.mktemp("ui-approval")
    settings = test_settings(
        data / "data", f"sqlite:///{data / 'hops.db'}", registration="approval"
    )
    app = create_app(settings)
    served = _serve_in_thread(app)
    url = next(served)
    with httpx.Client(base_url=url, timeout=30) as client:
        for who in ("admin", "newcomer"):  # the first account is always an active admin
            body = {"email": Api.email(who), "password": PASSWORD}
            assert client.post("/api/auth/register", json=body).status_code == 201
        yield ApprovalPlatform(url, client)
    next(served, None)
    app.state.runtime.engine.dispose()


def test_an_admin_approves_a_pending_account_which_then_signs_in(
    approval: ApprovalPlatform, browser: Browser
):
    login = {"email": Api.email("newcomer"), "password": PASSWORD}
    assert approval.client.post("/api/auth/login", json=login).status_code == 403
    contexts = []
    try:
        for _ in range(2):
            context = browser.new_context(base_url=approval.url, viewport=WIDTHS["desktop"])
            context.set_default_timeout(UI_TIMEOUT_MS)
            contexts.append(context)
        admin, newcomer = (c.new_page() for c in contexts)
        sign_in(admin, "admin")
        admin.goto("/admin/users")
        rows = admin.get_by_role("table", name="Accounts").get_by_role("row")
        expect(rows.nth(1)).to_contain_text("waiting for approval")  # pending first
        expect(rows.nth(1)).to_contain_text(Api.email("newcomer"))
        admin.get_by_role("button", name=f"Approve {Api.email('newcomer')}").click()
        expect(admin.get_by_role("status")).to_contain_text("may sign in now")
        expect(admin.get_by_text("waiting for approval")).to_have_count(0)
        sign_in(newcomer, "newcomer")
    finally:
        for context in contexts:
            context.close()
