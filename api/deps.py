"""Every dependency the routes use, in one place: the runtime, authentication (key → caller),
the tool session a route runs its tools in, and the audit of refused attempts on routes that
read students."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.runtime import Runtime
from tools import TOOLS
from tools.base import Role
from tools.cohort import RANGE_OPS
from tools.errors import InvalidInput, ToolError
from tools.session import Caller, ToolSession

log = logging.getLogger(__name__)

bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")
# The roles the student-level tools need: a route that needs one of them reads students, so
# every refused attempt on it is audited too. The registry decides, so a new student-level tool
# (or route running one) is covered without a list to keep.
STUDENT_LEVEL_ROLES = frozenset(tool.role for tool in TOOLS if tool.student_level)
# Where a refused request names students: a path parameter or a query parameter of this name
# (the body is not read for a request that is refused).
STUDENT_ID_PARAMS = ("student_id", "student_ids")


# Dependencies are `async def` so FastAPI runs them on the event loop, not via a thread hop.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(key_scheme)],
) -> str | None:
    """The key the request sent (``X-API-Key`` first), if any."""
    return api_key or (bearer.credentials if bearer else None)


def _refusal(caller: Caller | None, token: str | None, role: Role, method: str,
             path: str) -> ApiError | None:  # fmt: skip
    """Why this caller may not use a route needing ``role`` (401 or 403), or None."""
    if not token:
        return ApiError(
            401, "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`"
        )
    if caller is None:
        return ApiError(401, "the API key is not valid (unknown or revoked)")
    if not caller.can(role):
        return ApiError(
            403,
            f"{method} {path} needs the {role} role; the key {caller.name!r} has the "
            f"{caller.role} role",
            field="role",
            value=caller.role,
        )
    return None


def named_students(request: Request) -> list[str]:
    """The student ids a request names in its path or query."""
    named = [request.path_params.get(name) for name in STUDENT_ID_PARAMS]
    for name in STUDENT_ID_PARAMS:
        named += [part for value in request.query_params.getlist(name) for part in value.split(",")]
    return [value.strip() for value in named if value and value.strip()]


def audit_refusal(runtime: Runtime, request: Request, path: str, refusal: ApiError,
                  caller: Caller | None) -> None:  # fmt: skip
    """Write a refused attempt to the audit log: the key's id, name and role when a valid key
    was sent (never the key), the route, the client's address and the students it named. A log
    that cannot be written does not change the refusal."""
    try:
        runtime.audit.refused(
            route=path,
            status=refusal.status,
            client=request.client.host if request.client else None,
            student_ids=named_students(request),
            detail=f"refused: {refusal.message}",
            key_id=caller.key_id if caller else "",
            key_name=caller.name if caller else "",
            role=caller.role if caller else "",
        )
    except ToolError as exc:
        log.warning("a refused request was not audited: %s", exc.message)


def session_for(role: Role) -> Callable[..., ToolSession]:
    """A route's tool session, for a caller with at least ``role`` (else 401 or 403; audited
    when ``role`` is one of ``STUDENT_LEVEL_ROLES``)."""

    async def dependency(
        request: Request,
        runtime: RuntimeDep,
        token: Annotated[str | None, Depends(presented_key)],
    ) -> ToolSession:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        caller = runtime.keys.authenticate(token.strip()) if token else None
        refusal = _refusal(caller, token, role, request.method, path)
        if refusal is None:
            return runtime.session(caller, path)
        if role in STUDENT_LEVEL_ROLES:
            await run_in_threadpool(audit_refusal, runtime, request, path, refusal, caller)
        raise refusal

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
    filters: dict[str, list] = {}
    for name, raw in request.query_params.multi_items():
        if name in reserved:
            continue
        column = LEVEL_ALIASES.get(name) or spec_columns.get(name.replace("_", "").lower(), name)
        filters.setdefault(column, []).extend(v.strip() for v in raw.split(",") if v.strip())
    return {column: _bounds(column, values) for column, values in filters.items()}


def _bounds(column: str, values: list[str]) -> list:
    """``attendance_rate=gte:0.5,lt:0.85``: a range, as the tools take it ([{"gte": 0.5,
    "lt": 0.85}]); values without a bound prefix are kept as values."""
    ranged = [v for v in values if v.partition(":")[0] in RANGE_OPS and ":" in v]
    if not ranged:
        return values
    if len(ranged) < len(values):
        raise InvalidInput(
            f"filters.{column}: give either values or bounds ({', '.join(RANGE_OPS)}), not both",
            field=f"filters.{column}",
            value=",".join(values),
        )
    bounds: dict[str, object] = {}
    for v in ranged:
        op, _, number = v.partition(":")
        try:
            bounds[op] = float(number)
        except ValueError:
            bounds[op] = number  # the tool names the field and the rule (a finite number)
    return [bounds]
