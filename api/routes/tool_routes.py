"""One ``POST /v1/tools/<name>`` route per tool in the registry; the request and response bodies
are the tool's own input and output models, the required role the tool's role."""

# No `from __future__ import annotations`: the endpoint's annotations must be real classes,
# evaluated when each route is built.
from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import session_for
from api.errors import documented
from tools import TOOLS
from tools.base import Tool
from tools.session import ToolSession

router = APIRouter(
    prefix="/v1/tools", tags=["tools"], responses=documented(401, 403, 404, 409, 422, 503)
)


def _endpoint(tool: Tool):
    def endpoint(
        payload: tool.input_model,
        session: Annotated[ToolSession, Depends(session_for(tool.role))],
    ):
        return session.run(tool, payload)

    return endpoint


for _tool in TOOLS:
    router.add_api_route(
        f"/{_tool.name}",
        _endpoint(_tool),
        methods=["POST"],
        response_model=_tool.output_model,
        name=_tool.name,
        summary=_tool.description.splitlines()[0].rstrip("."),
        description=f"{_tool.description}\n\nRole: **{_tool.role}** or above.",
    )
