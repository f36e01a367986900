"""The request body limit for every route but file uploads.

The bytes are counted as they arrive rather than trusting `Content-Length`: a chunked
body declares no length, and the framework would otherwise read all of it into memory
before a handler ever saw it. When the limit is passed the client gets 413
`body_too_large` at once, the route gets a disconnect (so it stops reading), and whatever
the route answers after that is dropped. File uploads are exempt: they stream to storage
and are bounded by the project's quota instead.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hopsworks_api.asgi import NamedRoutes
from hopsworks_api.errors import error_body

# the routes bounded otherwise: uploads by the storage quota, the Jupyter proxy by what
# Jupyter accepts into the member's own `Jupyter` dataset (streamed, never held here)
STREAMING_ROUTES = frozenset({"file.upload", "upload.chunk", "jupyter.proxy"})


class _LimitedExchange:
    """One request's `receive` and `send`, with the count and the early answer."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.response_started = False
        self.refused = False
        self.answered = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                return await self._refuse()
        return message

    async def _refuse(self) -> Message:
        """Answer 413 unless the route already started answering; from now on the route
        reads a disconnect, and (when the 413 went out) its own answer goes nowhere."""
        self.refused = True
        if not self.response_started:
            self.response_started = self.answered = True
            await too_large(self.limit)(self.scope, _nothing, self._send)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)


def too_large(limit: int) -> JSONResponse:
    body = error_body("body_too_large", f"request body over {limit} bytes")
    return JSONResponse(body, status_code=413, headers={"Connection": "close"})


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


class BodyLimit:
    """Refuse request bodies over `limit` bytes, declared or not (uploads exempt)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._streaming = NamedRoutes(STREAMING_ROUTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._streaming.match(scope):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:  # refused before reading a byte
            await too_large(self.limit)(scope, receive, send)
            return
        exchange = _LimitedExchange(scope, receive, send, self.limit)
        await self.app(scope, exchange.receive, exchange.send)
