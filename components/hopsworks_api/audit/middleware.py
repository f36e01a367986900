"""Record every mutating call and every data access, whatever its outcome.

An ASGI middleware rather than calls sprinkled through the services: nothing that changes
state or reads data can forget to be audited, and refusals (401/403/404/413) are recorded
as faithfully as successes. Views may enrich the record through `request.state.audit`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from hopsworks_api.asgi import StatusCapture
from hopsworks_api.audit.service import AuditEntry, record
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_READS = frozenset({"file.read", "project.activity", "credentials.read"})


@dataclass
class AuditContext:
    actor: str = "anonymous"
    project: str | None = None
    target: str | None = None


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403, 404):
        return "denied"
    if status < 500:
        return "rejected"
    return "error"


class AuditMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext()
        scope.setdefault("state", {})["audit"] = context
        capture = StatusCapture(send)
        try:
            await self.app(scope, receive, capture)
        finally:
            await self._record(scope, context, capture.status)

    async def _record(self, scope: Scope, context: AuditContext, status: int) -> None:
        route = scope.get("route")
        action = getattr(route, "name", None)
        method = scope["method"]
        if method not in MUTATING and action not in AUDITED_READS:
            return
        params = scope.get("path_params") or {}
        target = context.target or "/".join(
            str(params[k])
            for k in ("dataset", "path", "email", "target", "ref", "name")
            if params.get(k)
        )
        client = scope.get("client") or ("-", 0)
        entry = AuditEntry(
            actor=context.actor,
            project=context.project or params.get("project"),
            action=action or f"{method} {scope['path']}"[:64],
            target=target or scope["path"],
            outcome=_outcome(status),
            status_code=status,
            client=str(client[0]),
        )
        try:
            await anyio.to_thread.run_sync(record, self.runtime.sessions, entry)
        except Exception:
            log.exception("could not write audit record", extra={"action": entry.action})
