"""The Models and Servings pages in a real browser: the registry's models and versions,
rights offered by role, a version deployed from the page, served for real (a Python
predictor in the cached model-server environment) and asked for a prediction."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hopsworks_api.config import Settings
from hopsworks_api.servings import model_server_env, service
from hopsworks_api.servings.models import ServingCreate
from hopsworks_api.users.models import User
from tests.browser.conftest import Platform
from tests.support.api import Api

P = "models_ui"
START_TIMEOUT_MS = 90_000  # a cold model server on a busy 2-core machine

PREDICTOR = b"""
class Predictor:
    def __init__(self, directory):
        self.offset = float(open(f"{directory}/offset.txt").read())

    def predict(self, instances):
        return [sum(row) + self.offset for row in instances]
"""


def _register(platform: Platform, name: str, files: dict[str, bytes], **extra) -> int:
    api = platform.api
    for path, content in files.items():
        reply = api.upload("scientist", P, "Models", f"{name}/{path}", content)
        assert reply.status_code == 201, reply.text
    body = {"name": name, "framework": "python", "path": f"Models/{name}", **extra}
    reply = api.call("scientist", "POST", f"/api/projects/{P}/models", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()["version"]


@pytest.fixture(scope="module")
def models(platform: Platform) -> Platform:
    api = platform.api
    assert api.call("owner", "POST", "/api/projects", json={"name": P}).status_code == 201
    api.add_member("owner", P, "scientist", "data_scientist")
    files = {"predictor.py": PREDICTOR, "offset.txt": b"0.5"}
    _register(platform, "adder", files, metrics={"accuracy": 0.93}, description="adds a row up")
    _register(platform, "adder", files, metrics={"accuracy": 0.95})
    return platform


def test_the_registry_lists_models_and_versions_by_role(
    models: Platform, open_as: Callable[[str | None], Page], shoot
):
    page = open_as("scientist")
    page.goto(f"/p/{P}/models")
    table = page.get_by_role("table", name="Registered models")
    row = table.get_by_role("row", name=re.compile("adder"))
    expect(row.get_by_role("cell").nth(1)).to_have_text("2")  # two versions, the latest 2
    shoot(page, "models-list")

    row.get_by_role("link", name="adder").click()
    expect(page.get_by_role("heading", name="Model adder")).to_be_visible()
    versions = page.get_by_role("table", name="Versions of adder")
    expect(versions.get_by_role("row")).to_have_count(3)  # header + 2 versions
    first = versions.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="1", exact=True)
    )
    expect(first).to_contain_text("accuracy: 0.93")
    expect(first).to_contain_text("adds a row up")
    expect(first).to_contain_text("scientist@example.org")
    expect(first).to_contain_text("2 files")
    # a data scientist serves models but deletes no version: no button is offered
    expect(page.get_by_role("button", name="Deploy version 1")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Delete version"))).to_have_count(0)
    shoot(page, "models-versions")


def test_a_version_is_deployed_served_and_predicts_in_the_page(
    models: Platform, open_as: Callable[[str | None], Page], shoot
):
    if model_server_env.installed(Settings()) is None:
        pytest.skip("the model-server environment is not built on this machine")
    page = open_as("scientist")
    page.goto(f"/p/{P}/models/adder")
    page.get_by_role("button", name="Deploy version 1").click()
    expect(page.get_by_label("Serving name")).to_have_value("adder-v1")
    page.get_by_label("Serving name").fill("adder-ui")
    page.get_by_role("button", name="Create and start serving").click()

    expect(page).to_have_url(re.compile(f"/p/{P}/servings$"))
    row = page.get_by_role("table", name="Servings").get_by_role("row", name=re.compile("adder-ui"))
    expect(row).to_contain_text("Running", timeout=START_TIMEOUT_MS)  # polled while starting
    shoot(page, "servings")

    request = page.get_by_label("Request (JSON)")
    expect(request).to_have_value(re.compile('"instances"'))  # a sample to start from
    answer = page.locator("pre[aria-live]")
    request.fill("{not json")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid JSON")
    request.fill('{"instances": [[1, 2], [3]]}')
    page.get_by_role("button", name="Send").click()
    expect(answer).to_contain_text('"predictions"')
    expect(answer).to_contain_text("3.5")
    expect(page.get_by_role("alert")).to_have_count(0)
    shoot(page, "servings-predict")

    # stopped: a prediction is refused in words
    row.get_by_role("button", name="Stop adder-ui").click()
    expect(row).to_contain_text("Stopped", timeout=START_TIMEOUT_MS)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("is not running")


def test_the_owner_deletes_a_version_unless_a_serving_uses_it(
    models: Platform, open_as: Callable[[str | None], Page]
):
    # a serving of version 1, recorded stopped (as the SDK's deploy does): no server started
    rt = models.app.state.runtime
    with rt.read_sessions() as session:
        owner = session.scalars(select(User).where(User.email == Api.email("owner"))).one()
        session.expunge(owner)
    data = ServingCreate(name="adder-kept", model="adder", version=1)
    service.create(rt, user=owner, project=P, data=data, start_now=False)
    page = open_as("owner")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/p/{P}/models/adder")
    page.get_by_role("button", name="Delete version 1").click()
    expect(page.get_by_role("alert")).to_contain_text("is used by serving(s)")
    page.get_by_role("button", name="Delete version 2").click()
    expect(page.get_by_role("status")).to_contain_text("Version 2 of adder was deleted")
    versions = page.get_by_role("table", name="Versions of adder")
    expect(versions.get_by_role("row")).to_have_count(2)
