"""Record every mutating call, every data access and every refusal, whatever its outcome.

An ASGI middleware rather than calls sprinkled through the services: nothing that changes
state or reads data can forget to be audited, and refusals (401/403/404/413) are recorded
as faithfully as successes, whatever the method (an outsider probing project names
with GETs leaves a trail of 404s). It sits inside the body-size limit's answer (main.py wires it
outside `BodyLimit`), so a 413 is recorded too. Views may enrich the record through
`request.state.audit`.

Records are attributed to a project by id, resolved when the request starts: a request
about a name nobody holds belongs to no project's feed, and a request about a project
that is deleted and re-created meanwhile stays with the project it was about. The call
that creates a project is attributed to the id it answers with.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hopsworks_api.asgi import NamedRoutes, StatusCapture
from hopsworks_api.audit.service import AuditEntry, existing_project_id, project_id_of
from hopsworks_api.audit.writer import AuditWriter
from hopsworks_api.reads import run_read
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_READS = frozenset(
    {"file.read", "project.activity", "credentials.read", "credentials.client", "execution.log"}
)
REFUSED = 400  # every answer from here up is a refusal, audited whatever the method
PROJECT_CREATE = "project.create"
_PROJECT_PATH = re.compile(r"^/api/projects/([^/]+)(?:/|$)")
# the official SDK's paths name the project by id (sdk_compat)
_SDK_PROJECT_PATH = re.compile(r"^/hopsworks-api/api/project/([0-9]{1,18})(?:/|$)")
_MAX_CREATE_REPLY = 64 * 1024


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


class _ReplyCapture:
    """Keeps the (small, JSON) body of a project-creating reply: its `id` is the project
    the call created, with no second lookup by name that a concurrent delete and
    re-create could answer differently."""

    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        self._scope = scope
        self.body = bytearray()

    async def __call__(self, message: Message) -> None:
        if (
            message["type"] == "http.response.body"
            and _route_name(self._scope) == PROJECT_CREATE
            and len(self.body) < _MAX_CREATE_REPLY
        ):
            self.body += message.get("body", b"")
        await self._send(message)

    def project_id(self) -> int | None:
        try:
            value = json.loads(bytes(self.body)).get("id")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, int) else None


def _route_name(scope: Scope) -> str | None:
    """The name of the route that served the request; none when no route took it (404),
    nor when a route matched the path but not the method (405: it did not serve it)."""
    route = scope.get("route")
    methods = getattr(route, "methods", None)
    if route is None or (methods and scope["method"] not in methods):
        return None
    return getattr(route, "name", None)


class AuditMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime, key: bytes) -> None:
        self.app = app
        self.runtime = runtime
        self.writer = AuditWriter(runtime.sessions, key)
        self._audited_reads = NamedRoutes(AUDITED_READS)

    def _surely_audited(self, scope: Scope) -> bool:
        """Whether the request is audited whatever its answer, so its project's id must be
        taken before it runs: mutations, and the audited reads. Other reads are audited
        only when refused, and skip the lookup unless they are."""
        return scope["method"] in MUTATING or self._audited_reads.match(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext()
        scope.setdefault("state", {})["audit"] = context
        early = self._surely_audited(scope)
        project_id = await self._project_of(scope) if early else None
        capture = StatusCapture(send)
        reply = _ReplyCapture(capture, scope)
        try:
            await self.app(scope, receive, reply)
        finally:
            if _route_name(scope) == PROJECT_CREATE:
                project_id = reply.project_id() if capture.status < 300 else None
                early = True
            await self._record(scope, context, capture.status, project_id, early)

    async def _project_of(self, scope: Scope) -> int | None:
        if match := _PROJECT_PATH.match(scope["path"]):
            lookup, key = project_id_of, match.group(1)
        elif match := _SDK_PROJECT_PATH.match(scope["path"]):
            lookup, key = existing_project_id, int(match.group(1))
        else:
            return None
        try:
            return await run_read(self.runtime, lookup, self.runtime, key)
        except Exception:
            log.exception("could not resolve the project of a request")
            return None

    async def _record(
        self,
        scope: Scope,
        context: AuditContext,
        status: int,
        project_id: int | None,
        resolved: bool,
    ) -> None:
        method = scope["method"]
        action = _route_name(scope)
        if method not in MUTATING and action not in AUDITED_READS and status < REFUSED:
            return
        if not resolved:  # a plain read that was refused: short, so its project is the same
            project_id = await self._project_of(scope)
        params = scope.get("path_params") or {}
        target = context.target or "/".join(
            str(params[k])
            for k in ("dataset", "path", "email", "target", "ref", "name")
            if params.get(k)
        )
        client = scope.get("client") or ("-", 0)
        project = context.project or params.get("project")
        if project is None and (match := _PROJECT_PATH.match(scope["path"])):
            project = match.group(1)  # unrouted or refused before routing: still named
        entry = AuditEntry(
            actor=context.actor,
            project=project,
            project_id=project_id,
            action=action or f"{method} {scope['path']}",
            target=target or scope["path"],
            outcome=_outcome(status),
            status_code=status,
            client=str(client[0]),
        )
        try:
            await self.writer.record(entry)
        except Exception:
            log.exception("could not write audit record", extra={"action": entry.action})
