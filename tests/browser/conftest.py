"""One served platform and one headless Chromium for every browser test of the web UI.

The server is the app behind a real uvicorn (SQLite, embedded backends), started once per
session with the four actors of `tests.support.api.Api` (admin, owner, scientist, outsider;
project `demo`). Each test module works in projects of its own names, so modules do not
depend on each other's order; signing out ends every session and token of an account, so a
test signs out only accounts of its own (never the four actors). Screenshots go under the run's artefacts
(`$HOPS_TEST_ARTEFACTS`, by default `build/test-artefacts`), at 1280 and 390 px wide.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hopsworks_api.main import create_app
from tests.conftest import _serve_in_thread
from tests.support.api import PASSWORD, Api
from tests.support.settings import test_settings

UI_TIMEOUT_MS = 30_000
# Assertions wait as long as actions: a page's set_default_timeout does not reach
# Playwright's expect(), whose own default (5 s) a JupyterLab page loading on a busy 2-core
# machine exceeded (its launcher appeared late: the flaky test_jupyter_browser of stop 26).
expect.set_options(timeout=UI_TIMEOUT_MS)
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Platform:
    url: str
    app: FastAPI
    api: Api  # the REST API as the four actors, for arranging what a test starts from


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("ui")
    app = create_app(test_settings(data / "data", f"sqlite:///{data / 'hops.db'}"))
    served = _serve_in_thread(app)
    url = next(served)
    with httpx.Client(base_url=url, timeout=30) as client:
        yield Platform(url, app, Api.with_actors(client))
    next(served, None)
    app.state.runtime.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    root = Path(os.environ.get("HOPS_TEST_ARTEFACTS", REPO / "build" / "test-artefacts"))
    shots = root / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.fixture
def open_as(browser: Browser, platform: Platform) -> Iterator[Callable[[str | None], Page]]:
    """`open_as("owner")`: a fresh browser profile signed in through the sign-in page as that
    actor (None: signed out), at desktop width. Closed after the test."""
    contexts = []

    def open_page(who: str | None) -> Page:
        context = browser.new_context(base_url=platform.url, viewport=WIDTHS["desktop"])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.script_errors = errors  # type: ignore[attr-defined]
        if who is not None:
            sign_in(page, who)
        return page

    yield open_page
    for context in contexts:
        errors = [e for page in context.pages for e in page.script_errors]  # type: ignore[attr-defined]
        context.close()
        assert not errors, f"scripts failed in the page: {errors}"


def sign_in(page: Page, who: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(Api.email(who))
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def shoot(artefacts: Path) -> Callable[[Page, str], None]:
    """`shoot(page, "datasets")`: the page as it is now, at both widths (full length)."""

    def take(page: Page, name: str) -> None:
        original = page.viewport_size
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            page.wait_for_timeout(100)  # layout settles after the resize
            page.screenshot(path=artefacts / f"{name}-{label}.png", full_page=True)
        if original:
            page.set_viewport_size(original)

    return take
