"""One error shape for every failure: ``{"error": {"code", "message", "field", "value"}}``.
Bad input is 422 naming the field, value and rule; an unknown student 404; no or a wrong key
401; a role too low 403; something the dataset does not define (no intervention catalogue)
409; no model or warehouse 503. Never a stack trace in a response."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tools.errors import Forbidden, InvalidInput, NotConfigured, NotFound, NotReady, ToolError

log = logging.getLogger(__name__)
MAX_VALUE_CHARS = 200
# FastAPI's 400 for a body it cannot decode (bytes that are not UTF-8): bad input like any other.
UNDECODABLE_BODY = "There was an error parsing the body"
STATUS = {InvalidInput: 422, NotFound: 404, NotReady: 503, Forbidden: 403, NotConfigured: 409}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "not_configured",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    503: "not_ready",
}
WHY = {
    401: "No API key, or one that is unknown or revoked.",
    403: "The key's role is too low for this route or tool.",
    404: "An unknown student or chart.",
    406: "None of the media types in `Accept` can be served.",
    409: "The dataset in service does not define what this needs (e.g. no intervention "
    "catalogue); the message says how to add it.",
    422: "Bad input: the field, the value and the rule it broke.",
    503: "No model or warehouse to serve yet: run `sara pipeline run`.",
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable and machine-readable, e.g. `invalid_input`.")
    message: str = Field(description="What went wrong, for people.")
    field: str | None = Field(description="The input that caused it, when one did.")
    value: Any = Field(description="The offending value (shortened), when there is one.")


class ErrorBody(BaseModel):
    """Every error the API answers with."""

    error: ErrorDetail


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the one error body (it also
    replaces FastAPI's default 422 body, which SARA never sends)."""
    return {status: {"model": ErrorBody, "description": WHY[status]} for status in statuses}


class ApiError(Exception):
    """An error raised by the transport itself (auth, content negotiation)."""

    def __init__(self, status: int, message: str, field: str | None = None, value: Any = None):
        super().__init__(message)
        self.status, self.message, self.field, self.value = status, message, field, value


def error_body(code: str, message: str, field: str | None = None, value: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field, "value": _safe(value)}}


def _safe(value: Any) -> Any:
    """A JSON-safe, bounded echo of the offending value."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    if len(text) > MAX_VALUE_CHARS:
        return text[:MAX_VALUE_CHARS] + "…"
    return json.loads(text)


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    field = ".".join(where) or None
    message = first.get("msg", "invalid input")
    if first.get("type") == "missing":
        value = None
        message = "field required"
    else:
        value = first.get("input")
    if first.get("type") == "json_invalid":
        message = f"the body is not valid JSON: {first.get('ctx', {}).get('error', message)}"
    text = f"{field}: {message}" if field else message
    if len(exc.errors()) > 1:
        text += f" (and {len(exc.errors()) - 1} more)"
    return JSONResponse(error_body("invalid_input", text, field, value), status_code=422)


def status_of(exc: ToolError) -> int:
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)


def _tool_error(request: Request, exc: ToolError) -> JSONResponse:
    return JSONResponse(error_body(**exc.as_dict()), status_code=status_of(exc))


def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        error_body(HTTP_CODES.get(exc.status, "error"), exc.message, exc.field, exc.value),
        status_code=exc.status,
        headers=headers,
    )


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == UNDECODABLE_BODY:
        message = "the body is not valid JSON: it is not UTF-8 text"
        return JSONResponse(error_body("invalid_input", message, "body"), status_code=422)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; see /docs"
    return JSONResponse(
        error_body(HTTP_CODES.get(exc.status_code, "error"), message),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error on %s %s (incident %s)",
        request.method,
        request.scope.get("route").path if request.scope.get("route") else "unmatched",
        incident,
        exc_info=exc,
    )
    return JSONResponse(
        error_body("internal_error", f"something went wrong on the server (incident {incident})"),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ToolError, _tool_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
