"""Small ASGI helpers shared by the service's middlewares."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from starlette.types import Message, Scope, Send


class StatusCapture:
    """A `send` that remembers the response status; 500 until a response starts, so a
    request that died before answering is counted as the server error it became."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class NamedRoutes:
    """Whether a request is for one of the named routes, told before routing has run (by
    middlewares that act before it), from the app's own routes: a path is written once, in
    its router, and never restated as a pattern here."""

    def __init__(self, names: frozenset[str]) -> None:
        self._names = names
        self._routes: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def match(self, scope: Scope) -> bool:
        if self._routes is None:  # FastAPI keeps included routers nested: walk them
            self._routes = [
                (route.path_regex, frozenset(getattr(route, "methods", None) or ()))
                for route in iter_route_contexts(getattr(scope.get("app"), "routes", []))
                if getattr(route, "name", None) in self._names
            ]
        return any(
            scope["method"] in methods and pattern.match(scope["path"])
            for pattern, methods in self._routes
        )
