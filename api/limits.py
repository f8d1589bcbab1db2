"""Limits at the HTTP edge, checked before any route reads a request's body.

FastAPI reads and parses a route's whole JSON body before it runs a single dependency, the API
key check included, and it parses on the event loop while holding the GIL. Unchecked, one
anonymous client could send hundreds of megabytes and stall a worker until its supervisor
killed it. So, in a pure ASGI middleware that sees only the headers first:

- On a route that takes an API key, a request without a valid key never has its body read:
  the route gets an empty one, so its own authentication (``api.deps``, the one home of the
  rules and of the audit of refusals) answers 401 at once, whatever the client sends.
- A body over ``max_body_bytes`` gets 413: at once when its Content-Length says so, otherwise
  (a chunked body) as soon as the bytes received pass the limit, before any parsing. The same
  limit holds for the chat UI mounted at /ui.
- A path or query parameter must be text without NUL characters (``tools.base.text_problem``),
  and a path parameter, a name or an id, at most 255 bytes (the longest file name a filesystem
  takes): else 422 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import bearer_scheme, key_scheme, presented_key
from api.errors import WHY, ApiError, api_error_response
from tools.base import text_problem

MAX_PATH_PARAM_BYTES = 255
# Where the error shape of the 413 lives in the OpenAPI document.
ERROR_BODY_REF = "#/components/schemas/ErrorBody"


class RequestLimits:
    """Pure ASGI middleware enforcing the limits above (no per-request task overhead)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._takes_key: dict[int, bool] = {}  # route id → whether it takes an API key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        route, path_params = _matched(scope)
        length = _content_length(request)
        has_body = length != 0
        if route is not None and self._keyed(route) and not await _has_valid_key(request):
            await self.app(scope, _empty_body(receive) if has_body else receive, send)
            return
        refusal = _parameter_refusal(path_params, request)
        if refusal is None and length is not None and length > self.max_body_bytes:
            refusal = ApiError(413, self._too_large(length), "body", length)
        if refusal is not None:
            scope["route"] = route  # for the request metrics' route label
            await api_error_response(refusal)(scope, receive, send)
            return
        await self.app(scope, self._capped(receive) if has_body else receive, send)

    def _keyed(self, route: APIRoute) -> bool:
        known = self._takes_key.get(id(route))
        if known is None:
            known = self._takes_key[id(route)] = _takes_key(route.dependant)
        return known

    def _too_large(self, length: int | None) -> str:
        size = f"is {length:,} bytes, more than" if length is not None else "is more than"
        return (
            f"the body {size} the {self.max_body_bytes:,} bytes this server takes: split a "
            "batch into smaller ones"
        )

    def _capped(self, receive: Receive) -> Receive:
        """``receive``, refusing the body (413) once more than the limit has come in. Raised as
        an HTTPException, the one error FastAPI (and Gradio) pass on from reading a body."""
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large(None))
            return message

        return capped


def install(app: FastAPI, max_body_bytes: int) -> None:
    """Add the limits to ``app`` and document their 413 on every operation that takes a body."""
    app.add_middleware(RequestLimits, max_body_bytes=max_body_bytes)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_too_large(generate())
        return app.openapi_schema

    app.openapi = openapi


def _document_too_large(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation.setdefault("responses", {})["413"] = {
                    "description": WHY[413],
                    "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}},
                }


def _matched(scope: Scope) -> tuple[APIRoute | None, dict[str, Any]]:
    """The API route this request is for and its path parameters (None for anything else:
    the UI, the docs, an unknown path or method)."""
    for route in scope["app"].router.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            if isinstance(route, APIRoute):
                return route, child.get("path_params", {})
            return None, {}
    return None, {}


def _takes_key(dependant) -> bool:
    """Whether a route's dependencies read an API key (a security scheme)."""
    return isinstance(dependant.call, SecurityBase) or any(
        _takes_key(sub) for sub in dependant.dependencies
    )


async def _has_valid_key(request: Request) -> bool:
    """Whether the request presents a known, unrevoked key, read exactly as the routes'
    authentication reads it. Its role is checked by the route."""
    token = await presented_key(await bearer_scheme(request), await key_scheme(request))
    if not token:
        return False
    return request.app.state.runtime.keys.authenticate(token.strip()) is not None


def _content_length(request: Request) -> int | None:
    """The declared body length; None when the body is chunked (its length is unknown)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit():
        return int(declared)
    return None if "transfer-encoding" in request.headers else 0


def _empty_body(receive: Receive) -> Receive:
    """A body of nothing, in place of whatever the client sends (which is never read). Later
    calls wait for the client to disconnect, dropping any body that arrives meanwhile."""
    given = False

    async def empty() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        message = await receive()
        while message["type"] == "http.request":
            message = await receive()
        return message

    return empty


def _parameter_refusal(path_params: dict[str, Any], request: Request) -> ApiError | None:
    for name, value in path_params.items():
        if not isinstance(value, str):
            continue
        rule = text_problem(value)
        if rule is None and len(value.encode("utf-8")) > MAX_PATH_PARAM_BYTES:
            rule = f"is longer than {MAX_PATH_PARAM_BYTES} bytes"
        if rule is not None:
            return ApiError(422, f"{name}: {rule}", field=name, value=value)
    for name, value in request.query_params.multi_items():
        rule = text_problem(name) or text_problem(value)
        if rule is not None:
            return ApiError(422, f"{name}: {rule}", field=name, value=value)
    return None
