"""The platform's REST API as one profile sees it: authentication, errors, pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from hops_client import errors
from hops_client.config import Profile

PAGE = 500  # the API's largest page (schemas.PageParams)
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def quoted(*parts: str) -> str:
    """Path segments for a URL: each quoted, slashes inside a dataset path kept."""
    return "/".join(quote(part, safe="/:") for part in parts if part)


def page_items(body: Any) -> list[Any]:
    """The items of a page (`{"items": ...}`), of a directory listing (`items`, formerly
    `entries`), or a bare array as some older servers answer."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("items", "entries"):
            if isinstance(body.get(key), list):
                return body[key]
    raise errors.CliError("the server's answer is not a listing: is the URL a hops platform?")


class Api:
    """One `httpx.Client` per command run (connection reuse; thread-safe for transfers)."""

    def __init__(self, profile: Profile, *, workers: int = 1) -> None:
        self.profile = profile
        limits = httpx.Limits(max_connections=max(workers, 1) + 2)
        self.http = httpx.Client(
            base_url=profile.url.rstrip("/") + "/api",
            headers={"Authorization": f"ApiKey {profile.api_key}"},
            verify=profile.verify,
            timeout=TIMEOUT,
            limits=limits,
            follow_redirects=False,
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """A request whose failure becomes the one-line CliError; `ok` lists further
        statuses the caller handles itself (e.g. 404 for "does not exist")."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise errors.from_transport(exc, self.profile.url) from exc
        if response.is_success or response.status_code in ok:
            return response
        raise errors.from_response(response, self.profile.name)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def pages(self, path: str, **params: Any) -> Iterator[Any]:
        """Every item of a paginated listing, page after page."""
        offset = 0
        while True:
            body = self.json("GET", path, params={**params, "limit": PAGE, "offset": offset})
            items = page_items(body)
            yield from items
            total = body.get("total") if isinstance(body, dict) else None
            offset += len(items)
            if not items or total is None or offset >= total:
                return

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        """A streamed response (a context manager); the caller checks the status and turns
        a transport error, raised on entering it, into a CliError (errors.from_transport)."""
        return self.http.stream(method, path, **kwargs)
