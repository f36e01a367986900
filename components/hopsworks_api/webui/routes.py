"""Serve the built web UI and the API's documentation page from this package, not a CDN.

The UI is a single-page app: every path that is not the API's answers its `index.html`,
and the app routes in the browser. Its pages hold no secrets (the session is in HttpOnly
cookies); a strict Content-Security-Policy keeps any injected markup from running scripts
or sending data elsewhere. Built files have content hashes in their names, so they are
cached for good; `index.html` is revalidated so a new deployment is picked up at once.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import Scope

DIST = Path(__file__).parent / "dist"


class UiPage(Convertor[str]):
    """Any path but the APIs': their unknown paths and methods keep answering as the API
    does (404, 405, audited under the request's own name), never with the UI's page."""

    regex = r"(?!(?:hopsworks-)?api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ui_page", UiPage())
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",  # Pico's form controls draw their icons as data: SVGs
        "style-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NOT_BUILT = (
    "<!doctype html><title>Web UI not built</title><h1>The web UI is not built</h1>"
    "<p>This installation has no built UI assets. From a checkout, run "
    "<code>scripts/build-ui.sh</code> (Node 18 or later, once, at build time) and restart; "
    "the REST API under <code>/api</code> works without it.</p>"
)


class HashedAssets(StaticFiles):
    """Vite's output names carry their content hash: a file never changes under its name."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI, *, openapi_url: str, docs_url: str) -> None:
    """Mount the UI last: every API route is matched before its catch-all."""
    app.mount("/assets", HashedAssets(directory=DIST / "assets", check_dir=False), name="ui-assets")
    app.mount("/swagger", StaticFiles(directory=DIST / "swagger", check_dir=False), name="swagger")

    @app.get(docs_url, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        # request.app, not app: an endpoint closing over the app would pin it (openapi.py)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{request.app.title} — API",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )

    @app.get("/{page:ui_page}", include_in_schema=False)
    def single_page_app(page: str) -> Response:
        index = DIST / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Retry-After": "3600"})
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)
