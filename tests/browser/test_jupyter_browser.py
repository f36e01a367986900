"""A real browser reaches a member's JupyterLab through the service, with the web session.

Headless Chromium (Debian's, driven by Playwright) against the app behind a real uvicorn:
the member signs in through `POST /api/auth/session` from a page of the service, starts
their server with the cookie alone, opens JupyterLab at the proxy, creates a notebook and
runs code in it, which drives the kernel's websocket through the proxy from the browser.
Another member's browser, signed in the same way, does not reach it.

One server, one browser and one JupyterLab for the module (each takes seconds to start).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hopsworks_api.main import create_app
from tests.conftest import _serve_in_thread
from tests.support.api import PASSWORD, Api
from tests.support.settings import test_settings

P = "/api/projects/demo/jupyter"
LAB = f"{P}/proxy/lab"
START_DEADLINE_S = 90  # a cold JupyterLab start on a busy 2-core machine
UI_TIMEOUT_MS = 60_000


@dataclass
class Live:
    url: str
    app: FastAPI
    api: Api
    shots: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("browser")
    app = create_app(test_settings(data / "data", f"sqlite:///{data / 'hops.db'}"))
    served = _serve_in_thread(app)
    url = next(served)
    with httpx.Client(base_url=url, timeout=30) as client:
        yield Live(url, app, Api.with_actors(client), tmp_path_factory.mktemp("screenshots"))
    next(served, None)  # uvicorn stops (and with it every notebook server it started)
    app.state.runtime.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


def call(page: Page, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """`fetch` from the page, as the service's own pages will: the cookie goes by itself."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const init = {method, headers: {"Content-Type": "application/json"}};
            if (body !== null) init.body = JSON.stringify(body);
            const reply = await fetch(path, init);
            const text = await reply.text();
            return {status: reply.status, body: text ? JSON.parse(text) : null};
        }""",
        [method, path, body],
    )


def signed_in(browser: Browser, live: Live, who: str) -> Page:
    """A fresh browser profile on a page of the service, signed in as `who`."""
    page = browser.new_context(base_url=live.url).new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto("/api/health")
    reply = call(page, "POST", "/api/auth/session", {"email": Api.email(who), "password": PASSWORD})
    assert reply["status"] == 200, reply
    session = next(c for c in page.context.cookies() if c["name"] == "hops_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("hops_session") == -1  # out of scripts' reach
    return page


def until_running(page: Page) -> dict[str, Any]:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        reply = call(page, "GET", P)
        if reply["body"]["state"] in ("RUNNING", "FAILED"):
            return reply["body"]
        page.wait_for_timeout(200)
    raise AssertionError(f"the server never started: {reply}")


def test_a_member_runs_code_in_jupyterlab_from_the_browser(browser: Browser, live: Live):
    page = signed_in(browser, live, "scientist")
    started = call(page, "POST", P, {})  # the cookie alone, from the service's own page
    assert started["status"] == 201, started
    assert until_running(page)["state"] == "RUNNING"

    opened = page.goto(LAB)
    assert opened is not None and opened.status == 200
    server = live.app.state.runtime.notebooks
    token = server.get(next(iter(server.running()))).token
    assert token not in page.content()  # Jupyter's own token never reaches the browser
    expect(page.locator(".jp-Launcher")).to_be_visible()
    page.screenshot(path=live.shots / "launcher.png")
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    # the kernel's websocket is up (through the proxy) before the cell is typed into: the
    # notebook re-renders its editor while it connects, which would drop early keystrokes
    expect(page.get_by_role("button", name="Python 3 (ipykernel) | Idle")).to_be_visible()
    cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    cell.click()
    cell.press_sequentially("print(6*7)")
    expect(cell).to_have_text("print(6*7)")
    cell.press("Shift+Enter")
    expect(page.locator(".jp-OutputArea-output").first).to_have_text("42", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=live.shots / "jupyterlab.png")
    assert (live.shots / "jupyterlab.png").stat().st_size > 0
    # of Jupyter's cookies the browser holds only `_xsrf`, scoped to the proxy: the
    # notebook's creation and kernel session above passed Jupyter's XSRF check with it
    jupyter = [c for c in page.context.cookies() if c["path"].startswith(f"{P}/proxy")]
    assert [c["name"] for c in jupyter] == ["_xsrf"]
    assert call(page, "DELETE", P)["status"] == 204


def test_another_members_browser_is_refused(browser: Browser, live: Live):
    for who in ("owner", "outsider"):
        page = signed_in(browser, live, who)
        refused = page.goto(LAB)  # the proxy addresses the caller's own server: none
        assert refused is not None and refused.status == 404
        assert "JupyterLab" not in page.content()
        ws = page.evaluate(
            """(url) => new Promise((resolve) => {
                const ws = new WebSocket(url);
                ws.onopen = () => resolve("open");
                ws.onerror = () => resolve("refused");
            })""",
            live.url.replace("http", "ws") + f"{P}/proxy/api/kernels/x/channels",
        )
        assert ws == "refused"
        page.context.close()
