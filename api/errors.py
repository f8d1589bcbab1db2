"""One error shape for every failure: ``{"error": {"code", "message", "field", "value"}}``.
Bad input is 422 naming the field, value and rule; an unknown student 404; no or a wrong key
401; a role too low 403; something the dataset does not define (no intervention catalogue)
409; no model or warehouse 503. Never a stack trace in a response."""

from __future__ import annotations

import logging
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tools.base import error_place, printable, safe_value
from tools.errors import (
    Forbidden,
    InvalidInput,
    LimitReached,
    NotConfigured,
    NotFound,
    NotReady,
    ToolError,
)

log = logging.getLogger(__name__)
# FastAPI's 400 for a body it cannot parse as JSON for a reason other than syntax: bad input like
# any other, named by its cause (chained to the 400).
UNDECODABLE_BODY = "There was an error parsing the body"
# The innermost frames an unexpected error's log line names (code locations only).
LOGGED_FRAMES = 6
STATUS = {
    InvalidInput: 422,
    NotFound: 404,
    NotReady: 503,
    Forbidden: 403,
    NotConfigured: 409,
    LimitReached: 429,
}
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
    429: "limit_reached",
    503: "not_ready",
}
WHY = {
    401: "No API key, or one that is unknown or revoked.",
    403: "The key's role is too low for this route or tool.",
    404: "An unknown student or chart.",
    406: "None of the media types in `Accept` can be served.",
    409: "The dataset in service does not define what this needs (e.g. no intervention "
    "catalogue); the message says how to add it.",
    413: "The request body is larger than the server takes (`SARA_MAX_BODY_BYTES`, 64 MiB by "
    "default): split a batch into smaller ones.",
    422: "Bad input: the field, the value and the rule it broke.",
    429: "A viewer key read its limit of distinct tables in 24 hours; the message says when "
    "the next frees up.",
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
    """The one error shape. Always serialisable: the value is a bounded, JSON-safe echo (NaN and
    infinities as text, lone surrogates escaped), and so are the message and field, which may
    quote what the client sent."""
    return {
        "error": {
            "code": code,
            "message": printable(message),
            "field": None if field is None else printable(field),
            "value": safe_value(value),
        }
    }


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    loc, value = error_place(first)
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    field = ".".join(where) or None
    message = first.get("msg", "invalid input")
    if first.get("type") == "missing":
        value = None
        message = "field required"
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
    return api_error_response(exc)


def api_error_response(exc: ApiError) -> JSONResponse:
    """The response for an error the transport raises (also sent by the edge middleware,
    before any route runs)."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        error_body(HTTP_CODES.get(exc.status, "error"), exc.message, exc.field, exc.value),
        status_code=exc.status,
        headers=headers,
    )


def unreadable_body(cause: BaseException | None) -> str:
    """Why the JSON parser refused a body that is not a syntax error, in words: FastAPI answers
    those with one 400 "error parsing the body" and chains the parser's exception."""
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid JSON: it is not UTF-8 text"
    if isinstance(cause, RecursionError):
        return "the body is JSON nested too deeply to read (arrays or objects within each other)"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return f"the body has an integer of more than {sys.get_int_max_str_digits():,} digits"
    return "the body could not be read as JSON"


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and exc.detail == UNDECODABLE_BODY:
        message = unreadable_body(exc.__cause__)
        return JSONResponse(error_body("invalid_input", message, "body"), status_code=422)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; see /docs"
    return JSONResponse(
        error_body(
            HTTP_CODES.get(exc.status_code, "error"),
            message,
            "body" if exc.status_code == 413 else None,
        ),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A 500 with an incident id, logged once. The log line names the exception's type, the
    route template (never the path: it can hold a student id) and where in the code it was
    raised, but not its message nor its traceback's values: both can quote the request (a
    record's values, a question, SQL), and the incident id is enough to find the line."""
    incident = uuid.uuid4().hex[:12]
    route = request.scope.get("route")
    log.error(
        "unhandled %s on %s %s (incident %s) at %s",
        _exception_types(exc),
        request.method,
        getattr(route, "path", "unmatched"),
        incident,
        _code_locations(exc),
    )
    return JSONResponse(
        error_body("internal_error", f"something went wrong on the server (incident {incident})"),
        status_code=500,
    )


def _exception_types(exc: BaseException) -> str:
    """The exception's type, and the types of those it was raised from or while handling."""
    names, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.append(f"{type(current).__module__}.{type(current).__qualname__}")
        hidden = current.__suppress_context__
        current = current.__cause__ or (None if hidden else current.__context__)
    return " <- ".join(names)


def _code_locations(exc: BaseException) -> str:
    """The innermost frames, as folder/file:line function."""
    frames = traceback.extract_tb(exc.__traceback__, limit=-LOGGED_FRAMES)
    places = [f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno} {f.name}" for f in frames]
    return " > ".join(places) or "unknown"


class UnexpectedErrors:
    """Pure ASGI middleware, the app's outermost: an exception nothing handled becomes the 500
    error body here and goes no further. Starlette's ServerErrorMiddleware would answer it too,
    but then re-raises it, so uvicorn logged a second copy with the full traceback (and the
    request's values in its message) and dropped the keep-alive connection."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            response = _unexpected(Request(scope), exc)
            # A response already under way cannot become a 500: it is cut short (the server
            # then closes the connection), and the error is still logged only once.
            if not started:
                await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ToolError, _tool_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Starlette's last resort; the app answers every error before it with UnexpectedErrors.
    app.add_exception_handler(Exception, _unexpected)
