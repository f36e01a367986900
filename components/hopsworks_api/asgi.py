"""Small ASGI helpers shared by the service's middlewares."""

from __future__ import annotations

from starlette.types import Message, Send


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
