"""Every page of the UI passes axe-core's WCAG 2 A/AA rules, at desktop and phone width,
and the keyboard reaches the content first.

axe-core (Deque's engine, the one browsers' own audits use) comes from the UI's npm
dev-dependencies; it is injected into the page, which needs the page's Content-Security-
Policy bypassed for this test only (the policy forbids injected scripts, as it should).
A violation of impact "serious" or "critical" fails the test, naming the rule and elements.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import REPO, UI_TIMEOUT_MS, WIDTHS, Platform, sign_in

AXE = REPO / "ui" / "node_modules" / "axe-core" / "axe.min.js"
PROJECT = "a11y"
PROJECT_PAGES = (
    "",
    "/members",
    "/datasets",
    "/datasets/Resources",
    "/shares",
    "/topics",
    "/jobs",
    "/jupyter",
    "/models",
    "/servings",
    "/activity",
)
PAGES = {
    None: ("/login", "/register"),
    "owner": ("/", "/account", *(f"/p/{PROJECT}{suffix}" for suffix in PROJECT_PAGES)),
    "scientist": (f"/p/{PROJECT}/datasets/Resources",),
    "admin": ("/admin",),
}


@pytest.fixture(scope="module")
def furnished(platform: Platform) -> Platform:
    """A project with something on every page: a member, files, a topic, a job."""
    api = platform.api
    assert api.call("owner", "POST", "/api/projects", json={"name": PROJECT}).status_code == 201
    api.add_member("owner", PROJECT, "scientist", "data_scientist")
    assert (
        api.upload("owner", PROJECT, "Resources", "hello.py", b"print('hi')\n").status_code == 201
    )
    topic = api.call("owner", "POST", f"/api/projects/{PROJECT}/topics", json={"name": "events"})
    assert topic.status_code == 201, topic.text
    job = {"name": "hello", "type": "python", "app_path": "Resources/hello.py"}
    assert api.call("owner", "POST", f"/api/projects/{PROJECT}/jobs", json=job).status_code == 201
    return platform


@pytest.fixture
def audited_page(browser: Browser, furnished: Platform) -> Iterator[Any]:
    contexts = []

    def open_page(who: str | None) -> Page:
        context = browser.new_context(base_url=furnished.url, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        if who is not None:
            sign_in(page, who)
        return page

    yield open_page
    for context in contexts:
        context.close()


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: "tag", values:
              ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def settled(page: Page, path: str) -> None:
    page.goto(path)
    expect(page.locator("main")).to_be_visible()
    expect(page.locator("[aria-busy=true]")).to_have_count(0)


@pytest.mark.parametrize("who", list(PAGES), ids=lambda w: w or "signed-out")
def test_every_page_passes_axe_at_both_widths(audited_page, who: str | None):
    page = audited_page(who)
    failures = {}
    for path in PAGES[who]:
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            settled(page, path)
            found = serious_violations(page)
            if found:
                failures[f"{path} at {label}"] = found
    assert not failures, failures


def test_the_keyboard_reaches_the_content_first(audited_page):
    page = audited_page("owner")
    settled(page, f"/p/{PROJECT}/datasets")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_no_page_scrolls_sideways_on_a_phone(audited_page):
    page = audited_page("owner")
    page.set_viewport_size(WIDTHS["phone"])
    for path in PAGES["owner"]:
        settled(page, path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= WIDTHS["phone"]["width"], f"{path} is {width} px wide"
