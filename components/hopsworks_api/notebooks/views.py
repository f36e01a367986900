"""Notebook routes: the caller's own server, data owners' view of everyone's, and the proxy."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, WebSocket, status
from fastapi.responses import JSONResponse
from starlette.responses import Response

from hopsworks_api.deps import CurrentUser, PageDep, RuntimeDep, authenticate, confine
from hopsworks_api.errors import AppError, error_body
from hopsworks_api.notebooks import proxy, service
from hopsworks_api.notebooks.models import JupyterRead, JupyterStart
from hopsworks_api.paths import API
from hopsworks_api.schemas import Page, paginate

router = APIRouter(prefix=API + "/projects/{project}/jupyter", tags=["notebooks"])
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@router.post("", status_code=status.HTTP_201_CREATED, name="jupyter.start")
def start(
    project: str, user: CurrentUser, rt: RuntimeDep, body: JupyterStart | None = None
) -> JupyterRead:
    return service.start(rt, user=user, project=project, data=body or JupyterStart())


@router.get("", name="jupyter.read")
def read(project: str, user: CurrentUser, rt: RuntimeDep) -> JupyterRead:
    return service.get(rt, user=user, project=project)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, name="jupyter.stop")
def stop(project: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.stop(rt, user=user, project=project)


@router.get("/servers", name="jupyter.list")
def list_servers(
    project: str, user: CurrentUser, rt: RuntimeDep, page: PageDep
) -> Page[JupyterRead]:
    return paginate(service.list_servers(rt, user=user, project=project), page)


@router.delete(
    "/servers/{email}", status_code=status.HTTP_204_NO_CONTENT, name="jupyter.stop_member"
)
def stop_member(project: str, email: str, user: CurrentUser, rt: RuntimeDep) -> None:
    service.stop_member(rt, user=user, project=project, email=email)


@router.api_route(
    "/proxy/{path:path}", methods=PROXY_METHODS, name="jupyter.proxy", include_in_schema=False
)
async def proxy_http(
    project: str, path: str, request: Request, user: CurrentUser, rt: RuntimeDep
) -> Response:
    target = await anyio.to_thread.run_sync(
        lambda: service.proxy_target(rt, user=user, project=project)
    )
    return await proxy.forward_http(request, target)


@router.websocket("/proxy/{path:path}", name="jupyter.proxy.ws")
async def proxy_websocket(websocket: WebSocket, project: str, path: str) -> None:
    """Authenticated like every route (the `Authorization` or `X-API-Key` header of the
    handshake, a project certificate, or a browser's session cookie, whose handshake must
    come from this origin: `Origin` is checked); refusals answer the handshake with the
    error."""
    rt = websocket.app.state.runtime

    def resolve() -> service.ProxyTarget:
        principal = authenticate(websocket, rt)  # type: ignore[arg-type]
        confine(websocket, principal)  # type: ignore[arg-type]
        return service.proxy_target(rt, user=principal.user, project=project)

    try:
        target = await anyio.to_thread.run_sync(resolve)
    except AppError as exc:
        body = error_body(exc.code, exc.message)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(JSONResponse(body, status_code=exc.status_code))
        else:
            await websocket.close(code=4000 + exc.status_code, reason=exc.message[:120])
        return
    await proxy.forward_websocket(websocket, target)
