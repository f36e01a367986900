"""Domain errors and their one JSON shape: {"error": {"code", "message"}}.

Services raise these; the app maps them to HTTP in exactly one place so that no bad
input can surface as a 500 and no handler invents its own error format.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if code:
            self.code = code


class BadRequest(AppError):
    status_code, code = 400, "bad_request"


class Unauthorized(AppError):
    status_code, code = 401, "unauthorized"


class Forbidden(AppError):
    status_code, code = 403, "forbidden"


class NotFound(AppError):
    status_code, code = 404, "not_found"


class Conflict(AppError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status_code, code = 413, "quota_exceeded"


class TooManyRequests(AppError):
    """Carries `Retry-After` (whole seconds, rounded up)."""

    status_code, code = 429, "too_many_attempts"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class Unavailable(AppError):
    status_code, code = 503, "unavailable"


# RFC 9110 §11.6.1: every 401 names the schemes that would be accepted.
WWW_AUTHENTICATE = 'Bearer realm="hopsworks", ApiKey realm="hopsworks"'


def _with_challenge(status: int, headers: dict[str, str] | None) -> dict[str, str] | None:
    if status != 401:
        return headers
    return {**(headers or {}), "WWW-Authenticate": WWW_AUTHENTICATE}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _describe_validation(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed_json", "request body is not valid JSON"
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg')}")
    return 422, "validation_error", "; ".join(parts) or "invalid request"


def _json(
    request: Request, body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error answer; under /hopsworks-api/ in the `hopsworks` SDK's envelope
    (sdk_compat/errors.py), with the same status and headers."""
    from hopsworks_api.sdk_compat import errors as sdk_errors

    if sdk_errors.applies(request.url.path):
        error = body["error"]
        body = sdk_errors.envelope(request.url.path, error["code"], error["message"])
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        system = getattr(exc, "system", None)
        extra = {"system": system} if system else {}
        return _json(
            request,
            error_body(exc.code, exc.message, **extra),
            exc.status_code,
            _with_challenge(exc.status_code, exc.headers),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, code, message = _describe_validation(exc)
        return _json(request, error_body(code, message), status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(
            request,
            error_body(code, str(exc.detail)),
            exc.status_code,
            _with_challenge(exc.status_code, exc.headers),
        )

    @app.exception_handler(OSError)
    async def _storage(request: Request, exc: OSError) -> JSONResponse:
        log.error("storage operation failed", extra={"errno": exc.errno, "error": exc.strerror})
        message = f"storage operation failed: {exc.strerror or 'I/O error'}; nothing was changed"
        return _json(request, error_body("storage_unavailable", message), 503)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        """A transaction the DB rolled back for a lock wait, in any use case (wrapped in
        `busy_on_lock_conflict` or not), is safe to send again: 503 `busy`, not a 500."""
        from hopsworks_api.db.busy import RETRY_AFTER_SECONDS, lost_lock_wait

        if not lost_lock_wait(exc):
            log.exception("database error", exc_info=exc)
            return _json(request, error_body("internal_error", "internal server error"), 500)
        log.warning("transaction lost a lock wait", extra={"error": type(exc).__name__})
        message = "the request collided with concurrent changes and was not done; try again"
        return _json(
            request,
            error_body("busy", message),
            503,
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _json(request, error_body("internal_error", "internal server error"), 500)
