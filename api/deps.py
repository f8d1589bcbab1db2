"""Every dependency the routes use, in one place: the runtime, the caller (key → role), and
running a tool on the caller's behalf with metrics and the audit log."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api import metrics
from api.audit import student_ids_in
from api.errors import ApiError, status_of
from api.keys import Principal
from api.runtime import Runtime
from tools import get_tool
from tools.base import Role, ToolInput, ToolOutput
from tools.errors import ToolError
from tools.scoring import ScoreOutput

bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key.")


# Dependencies are `async def` so FastAPI runs them on the event loop, not via a thread hop.
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def served_records(payload: ToolInput | dict[str, Any]) -> list[dict[str, Any]]:
    """The raw student records a tool call scored or explained (for the drift gauge)."""
    get = payload.get if isinstance(payload, dict) else lambda name: getattr(payload, name, None)
    records = get("records") or ([get("record")] if get("record") else [])
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


@dataclass
class Caller:
    """An authenticated request: who is calling, through which route."""

    principal: Principal
    runtime: Runtime
    route: str
    via: str = "api"  # "assistant" when the chat runs the tool

    def run(self, tool_name: str, payload: ToolInput | dict[str, Any]) -> ToolOutput:
        """Run a tool for this caller: role checked, timed, counted, and audited when it reads
        student-level data (successful or not)."""
        tool = get_tool(tool_name)
        if not self.principal.can(tool.role):
            raise _forbidden(self.principal, tool.role, f"the {tool.name} tool")
        started, outcome, status, output = time.perf_counter(), "ok", 200, None
        try:
            output = tool.run(self.runtime.context(), payload)
            if isinstance(output, ScoreOutput):
                metrics.observe_scores(output.students)
            records = served_records(payload)
            if records:
                self.runtime.observe_inputs(records)
            return output
        except ToolError as exc:
            outcome, status = exc.code, status_of(exc)
            raise
        except Exception:
            outcome, status = "error", 500
            raise
        finally:
            metrics.TOOL_CALLS.labels(tool.name, self.via, outcome).inc()
            metrics.TOOL_LATENCY.labels(tool.name).observe(time.perf_counter() - started)
            if tool.student_level:
                self._audit(tool.name, payload, output, status)

    def _audit(self, tool: str, payload: Any, output: ToolOutput | None, status: int) -> None:
        ctx_ids = self.runtime.id_keys
        asked = payload.model_dump() if isinstance(payload, ToolInput) else payload
        ids = student_ids_in(asked, ctx_ids)
        if output is not None:
            ids += student_ids_in(output.model_dump(), ctx_ids)
        detail = asked.get("sql") if isinstance(asked, dict) else None
        self.runtime.audit.record(
            key_id=self.principal.key_id,
            key_name=self.principal.name,
            role=self.principal.role,
            route=self.route,
            tool=tool,
            status=status,
            student_ids=ids,
            detail=detail,
        )


def _forbidden(principal: Principal, role: str, what: str) -> ApiError:
    return ApiError(
        403,
        f"{what} needs the {role} role; the key {principal.name!r} has the {principal.role} role",
        field="role",
        value=principal.role,
    )


async def authenticate(
    request: Request,
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(key_scheme)],
) -> Principal:
    token = api_key or (bearer.credentials if bearer else None)
    if not token:
        raise ApiError(
            401, "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`"
        )
    principal = runtime.keys.authenticate(token.strip())
    if principal is None:
        raise ApiError(401, "the API key is not valid (unknown or revoked)")
    return principal


def caller_for(role: Role) -> Callable[..., Caller]:
    async def dependency(
        request: Request,
        runtime: RuntimeDep,
        principal: Annotated[Principal, Depends(authenticate)],
    ) -> Caller:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        if not principal.can(role):
            raise _forbidden(principal, role, f"{request.method} {path}")
        return Caller(principal, runtime, path)

    return dependency


Viewer = Annotated[Caller, Depends(caller_for("viewer"))]
Staff = Annotated[Caller, Depends(caller_for("staff"))]
Analyst = Annotated[Caller, Depends(caller_for("analyst"))]
Admin = Annotated[Caller, Depends(caller_for("admin"))]

LEVEL_ALIASES = {"level": "risk_level", "risk_level": "risk_level"}


def query_filters(request: Request, runtime: Runtime, reserved: set[str]) -> dict[str, list[str]]:
    """Cohort filters from query parameters: ``school_type=Public`` or ``SchoolType=Public``
    (names match spec columns ignoring case and underscores), ``level=High``, values repeated
    or comma-separated. The tools validate columns and values against the spec."""
    names = runtime.context().spec.column_names
    spec_columns = {c.replace("_", "").lower(): c for c in names}
    filters: dict[str, list[str]] = {}
    for name, raw in request.query_params.multi_items():
        if name in reserved:
            continue
        column = LEVEL_ALIASES.get(name) or spec_columns.get(name.replace("_", "").lower(), name)
        filters.setdefault(column, []).extend(v.strip() for v in raw.split(",") if v.strip())
    return filters
