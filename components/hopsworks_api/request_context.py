"""A request id for every request, echoed in `X-Request-ID`, and one access-log line.

The outermost middleware, so the line covers everything, refusals by other middlewares
included. The line carries method, path (never the query string, which may hold keys),
status, duration, request id and client address; never headers or bodies. Values a
client chose (path, request id) reach the log escaped by the formatter
(`logging_setup`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("hopsworks_api.access")

HEADER = "X-Request-ID"
# A caller's id (a proxy's, a client's trace id) is kept when it is short and plain.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def choose_request_id(incoming: str | None) -> str:
    if incoming is not None and WELL_FORMED.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or []:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = choose_request_id(incoming)
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id.set(rid)
        status = 500  # until a response starts: a request that died became a server error
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client") or ("-", 0)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                    "request_id": rid,
                    "client": str(client[0]),
                },
            )
            request_id.reset(token)
