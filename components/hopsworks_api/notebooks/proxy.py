"""Relay HTTP and websockets between a member and their own Jupyter server's unix socket
(or, for a server in a cluster, its Service's URL: `ProxyTarget.url`).

The member's credentials end here: what reaches Jupyter carries only its own token, which
the service adds, never the member's bearer token, API key or session cookie; and nothing of
Jupyter's token goes back: not the login cookie Jupyter would set for a token-authenticated
browser, nor the token JupyterLab writes into every page it renders (`page_config`, which
the hub set-up also blanks; the page then works with cookies and `_xsrf` alone).
The one cookie passed both ways is Jupyter's own `_xsrf`, which JupyterLab's page reads
and echoes in `X-XSRFToken`: its XSRF protection keeps working behind the proxy. Other
bodies stream both ways (a notebook upload or download is not held in memory). Jupyter's
`base_url` is the proxy's prefix, so the paths pass unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request, cookie_parser
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from hopsworks_api.backends.runner.sockets import async_http_transport
from hopsworks_api.errors import Unavailable
from hopsworks_api.notebooks.service import ProxyTarget

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# the member's credentials for the control service, and what would make Jupyter take the
# request for a browser's of another origin: never forwarded
NOT_FORWARDED = HOP_BY_HOP | {"host", "authorization", "x-api-key", "cookie", "origin"}
WS_NOT_FORWARDED = NOT_FORWARDED | {
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
}
CONNECT_TIMEOUT_S = 10
JUPYTER_COOKIES = frozenset({"_xsrf"})  # Jupyter's own, path-scoped to the proxy prefix


def _upstream_path(scope: dict) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def _headers(pairs: list[tuple[bytes, bytes]], dropped: frozenset[str]) -> list[tuple[str, str]]:
    return [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in pairs
        if k.decode("latin-1").lower() not in dropped
    ]


def _jupyter_cookies(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The browser's cookies that are Jupyter's own, as one `Cookie` header (or none)."""
    jar: dict[str, str] = {}
    for key, value in pairs:
        if key.lower() == b"cookie":
            jar.update(cookie_parser(value.decode("latin-1")))
    kept = [f"{name}={value}" for name, value in jar.items() if name in JUPYTER_COOKIES]
    return [("cookie", "; ".join(kept))] if kept else []


def _reply_headers(pairs: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Jupyter's answer headers for the member: no hop-by-hop ones, and of its cookies
    only those JupyterLab's page needs (`_xsrf`)."""
    kept = []
    for key, value in pairs:
        name = key.decode("latin-1").lower()
        if name in HOP_BY_HOP or name == "content-length":
            continue
        if name == "set-cookie":
            cookie = value.decode("latin-1").split("=", 1)[0].strip()
            if cookie not in JUPYTER_COOKIES:
                continue
        kept.append((key.lower(), value))
    return kept


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def _is_page(reply: httpx.Response) -> bool:
    return reply.headers.get("content-type", "").lower().startswith("text/html")


async def _page_without_token(
    reply: httpx.Response, target: ProxyTarget, headers: list[tuple[bytes, bytes]]
) -> Response:
    """A page Jupyter rendered, with its own token blanked. Pages are small (templates);
    httpx undoes any Content-Encoding, so the body is sent as it is now, uncompressed."""
    body = (await reply.aread()).replace(target.token.encode(), b"")
    response = Response(body, status_code=reply.status_code)
    kept = [(k, v) for k, v in headers if k != b"content-encoding"]
    response.raw_headers = [*kept, *response.raw_headers]
    return response


async def forward_http(request: Request, target: ProxyTarget) -> Response:
    headers = _headers(request.scope["headers"], NOT_FORWARDED)
    headers += _jupyter_cookies(request.scope["headers"])
    headers += [("host", "localhost"), ("authorization", f"token {target.token}")]
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=None)
    if target.url is not None:
        client = httpx.AsyncClient(base_url=target.url, timeout=timeout)
    else:
        assert target.socket_path is not None
        client = httpx.AsyncClient(
            transport=async_http_transport(target.socket_path),
            base_url="http://localhost",
            timeout=timeout,
        )
    upstream = client.build_request(
        request.method,
        _upstream_path(request.scope),
        headers=headers,
        content=_body(request) if has_body else None,
    )
    try:
        reply = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise Unavailable(
            "the notebook server does not answer", code="notebook_unreachable"
        ) from exc

    async def close() -> None:
        await reply.aclose()
        await client.aclose()

    if _is_page(reply):
        try:
            return await _page_without_token(reply, target, _reply_headers(reply.headers.raw))
        finally:
            await close()
    response = StreamingResponse(
        reply.aiter_raw(), status_code=reply.status_code, background=BackgroundTask(close)
    )
    # raw, not a dict: several Set-Cookie (or other repeated) headers must all pass
    response.raw_headers = _reply_headers(reply.headers.raw)
    return response


async def forward_websocket(websocket: WebSocket, target: ProxyTarget) -> None:
    """Open the same websocket on Jupyter, then accept the member's with the subprotocol
    Jupyter chose, and relay messages both ways until either side closes."""
    options = {
        "additional_headers": [
            *_headers(websocket.scope["headers"], WS_NOT_FORWARDED),
            *_jupyter_cookies(websocket.scope["headers"]),
            ("Authorization", f"token {target.token}"),
        ],
        "subprotocols": websocket.scope.get("subprotocols") or None,
        "open_timeout": CONNECT_TIMEOUT_S,
        "max_size": None,
        "compression": None,
        "ping_interval": None,
    }
    path = _upstream_path(websocket.scope)
    try:
        if target.url is not None:
            ws_url = "ws" + target.url.removeprefix("http").rstrip("/")
            upstream = await connect(f"{ws_url}{path}", **options)
        else:
            upstream = await unix_connect(
                path=str(target.socket_path), uri=f"ws://localhost{path}", **options
            )
    except InvalidStatus as exc:
        await websocket.close(code=4000 + exc.response.status_code)
        return
    except (OSError, InvalidHandshake, TimeoutError):
        await websocket.close(code=1011, reason="the notebook server does not answer")
        return
    async with upstream:
        await websocket.accept(subprotocol=upstream.subprotocol)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_to_upstream, websocket, upstream, tasks.cancel_scope)
            await _to_member(websocket, upstream)
            tasks.cancel_scope.cancel()


async def _to_upstream(
    websocket: WebSocket, upstream: ClientConnection, scope: anyio.CancelScope
) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await upstream.send(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send(message["bytes"])
    except (WebSocketDisconnect, ConnectionClosed):
        pass
    await upstream.close()
    scope.cancel()


async def _to_member(websocket: WebSocket, upstream: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for data in upstream:
            if isinstance(data, str):
                await websocket.send_text(data)
            else:
                await websocket.send_bytes(data)
    with contextlib.suppress(Exception):  # the member may be gone already
        await websocket.close(code=upstream.close_code or 1000)
