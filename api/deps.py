"""Every dependency the routes use, in one place: the runtime, authentication (key → caller)
and the tool session a route runs its tools in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.runtime import Runtime
from tools.base import Role
from tools.session import Caller, ToolSession

bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")


# Dependencies are `async def` so FastAPI runs them on the event loop, not via a thread hop.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def authenticate(
    request: Request,
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(key_scheme)],
) -> Caller:
    token = api_key or (bearer.credentials if bearer else None)
    if not token:
        raise ApiError(
            401, "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`"
        )
    caller = runtime.keys.authenticate(token.strip())
    if caller is None:
        raise ApiError(401, "the API key is not valid (unknown or revoked)")
    return caller


def session_for(role: Role) -> Callable[..., ToolSession]:
    """A route's tool session, for a caller with at least ``role`` (else 403)."""

    async def dependency(
        request: Request,
        runtime: RuntimeDep,
        caller: Annotated[Caller, Depends(authenticate)],
    ) -> ToolSession:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        if not caller.can(role):
            raise ApiError(
                403,
                f"{request.method} {path} needs the {role} role; the key {caller.name!r} has "
                f"the {caller.role} role",
                field="role",
                value=caller.role,
            )
        return runtime.session(caller, path)

    return dependency


Viewer = Annotated[ToolSession, Depends(session_for("viewer"))]
Staff = Annotated[ToolSession, Depends(session_for("staff"))]
Analyst = Annotated[ToolSession, Depends(session_for("analyst"))]
Admin = Annotated[ToolSession, Depends(session_for("admin"))]

LEVEL_ALIASES = {"level": "risk_level", "risk_level": "risk_level"}


def query_filters(
    request: Request, session: ToolSession, reserved: set[str]
) -> dict[str, list[str]]:
    """Cohort filters from query parameters: ``home_region=North`` or ``HomeRegion=North``
    (names match spec columns ignoring case and underscores), ``level=High``, values repeated
    or comma-separated. The tools validate columns and values against the spec."""
    names = session.context.spec.column_names
    spec_columns = {c.replace("_", "").lower(): c for c in names}
    filters: dict[str, list[str]] = {}
    for name, raw in request.query_params.multi_items():
        if name in reserved:
            continue
        column = LEVEL_ALIASES.get(name) or spec_columns.get(name.replace("_", "").lower(), name)
        filters.setdefault(column, []).extend(v.strip() for v in raw.split(",") if v.strip())
    return filters
