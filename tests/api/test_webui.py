"""The service serves the built web UI and the API's documentation from its own package:
every page path answers the app's index (strict CSP, revalidated), built assets are cached
for good, nothing is loaded from another origin, and the API's own answers for unknown
paths and methods stay the API's (JSON 404 / 405), never the UI's page."""

from __future__ import annotations

import re

import pytest

from hopsworks_api.webui import routes
from tests.support.api import Api

pytestmark = pytest.mark.skipif(
    not (routes.DIST / "index.html").is_file(), reason="the UI is not built (scripts/build-ui.sh)"
)


def test_pages_answer_the_app_with_a_strict_policy(api: Api):
    for path in ("/", "/login", "/p/demo/datasets/Resources/a/b", "/admin/users"):
        reply = api.client.get(path)
        assert reply.status_code == 200, path
        assert reply.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in reply.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
        assert reply.headers["cache-control"] == "no-cache"
    page = api.client.get("/").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/assets/") for a in assets)  # nothing from elsewhere
    for asset in assets:
        reply = api.client.get(asset)
        assert reply.status_code == 200
        assert "immutable" in reply.headers["cache-control"]


def test_the_api_docs_load_swagger_from_this_service(api: Api):
    page = api.client.get("/api/docs").text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert api.client.get("/swagger/swagger-ui-bundle.js").status_code == 200


def test_unknown_api_paths_and_methods_stay_the_apis(api: Api):
    for method, path, status in (
        ("GET", "/api/nope", 404),
        ("POST", "/api/nope", 404),
        ("GET", "/api", 404),
        ("GET", "/hopsworks-api/api/nope", 404),
        ("PATCH", "/api/health", 405),
    ):
        reply = api.client.request(method, path)
        assert reply.status_code == status, (method, path)
        assert reply.headers["content-type"] == "application/json", (method, path)


def test_without_a_build_the_page_says_how_to_build_it(api: Api, monkeypatch, tmp_path):
    monkeypatch.setattr(routes, "DIST", tmp_path)
    reply = api.client.get("/")
    assert reply.status_code == 503
    assert "scripts/build-ui.sh" in reply.text
    assert api.client.get("/api/health").status_code == 200
