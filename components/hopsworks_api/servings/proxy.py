"""Relay a prediction to a model server's unix socket (or, on Kubernetes, to the
InferenceService's URL through `KubernetesServers.predict`) and its answer back.

Only the body goes through: the member's credentials end at the control service (the
model server needs none, and gets none). The model server's 4xx (a body its model refuses)
comes back with its status in the platform's error shape; anything else it answers that is
not a success is a 502, and a server that does not answer a 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx
from starlette.responses import JSONResponse, Response

from hopsworks_api.backends.runner.sockets import async_http_transport
from hopsworks_api.errors import AppError, Unavailable, error_body
from hopsworks_api.servings.service import PredictTarget

if TYPE_CHECKING:
    from hopsworks_api.backends.runner.kubernetes_servers import KubernetesServers

TIMEOUT = httpx.Timeout(60, connect=5)


def _message(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:1000] or reply.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:1000]
    return str(body)[:1000]


def _unreachable(target: PredictTarget) -> Unavailable:
    return Unavailable(
        f"the model server of serving '{target.name}' does not answer",
        code="serving_unreachable",
    )


async def _over_socket(target: PredictTarget, body: bytes) -> httpx.Response:
    assert target.socket_path is not None
    # plain HTTP over a unix socket: no TLS context (building the default one loads the CA
    # bundle, ~40 ms, more than the whole prediction)
    transport = async_http_transport(target.socket_path)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=TIMEOUT
        ) as client:
            return await client.post(
                target.path, content=body, headers={"content-type": "application/json"}
            )
    except httpx.HTTPError as exc:
        raise _unreachable(target) from exc


async def _in_cluster(
    target: PredictTarget, body: bytes, servers: KubernetesServers | None
) -> httpx.Response:
    if servers is None:  # the service was reconfigured since the serving started
        raise _unreachable(target)
    url = target.url
    assert url is not None
    try:
        return await anyio.to_thread.run_sync(servers.predict, url, target.name, body)
    except AppError as exc:
        raise _unreachable(target) from exc


async def predict(
    target: PredictTarget, body: bytes, servers: KubernetesServers | None = None
) -> Response:
    if target.url is not None:
        reply = await _in_cluster(target, body, servers)
    else:
        reply = await _over_socket(target, body)
    if reply.is_success:
        return Response(reply.content, status_code=reply.status_code, media_type="application/json")
    if 400 <= reply.status_code < 500:
        return JSONResponse(
            error_body("prediction_rejected", _message(reply)), status_code=reply.status_code
        )
    return JSONResponse(
        error_body(
            "model_server_error",
            f"the model server answered {reply.status_code}: {_message(reply)}",
        ),
        status_code=502,
    )
