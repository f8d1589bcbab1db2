"""Aggregate equity analysis: the only data a viewer key can read."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

import tools
from api.deps import RuntimeDep, Viewer, query_filters
from api.errors import ApiError, documented
from api.render import report_html
from tools import disclosure
from tools.equity import EquityQueryInput, EquityQueryOutput
from tools.equity_gaps import EquitySummaryInput, EquitySummaryOutput

router = APIRouter(
    prefix="/v1/equity", tags=["equity"], responses=documented(401, 403, 422, 429, 503)
)
CHART_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.png$")
MEDIA = ("application/json", "text/markdown", "text/html")


@router.post("/query", response_model=EquityQueryOutput)
def equity_query(request: EquityQueryInput, session: Viewer):
    """A metric (outcome rate, mean risk, share high, TPR/FPR, a column mean) by up to two
    groups, with confidence intervals; small groups suppressed."""
    return session.run(tools.query_equity, request)


@router.get(
    "/summary",
    response_model=EquitySummaryOutput,
    responses={
        200: {
            "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            }
        },
        **documented(406),
    },
)
def equity_summary(
    request: Request,
    session: Viewer,
    attributes: Annotated[
        list[str] | None,
        Query(description="Columns to compare groups on (repeatable); default: all."),
    ] = None,
) -> Response | EquitySummaryOutput:
    """Outcome gaps by group with significance tests and the model's fairness. JSON by default;
    `Accept: text/markdown` for the report, `Accept: text/html` for a printable page with
    charts. Other query parameters filter the population, e.g. `school_type=Public`."""
    media = _negotiate(request.headers.get("accept", ""))
    filters = query_filters(request, session, {"attributes"})
    asked = EquitySummaryInput.parse({"filters": filters, "attributes": attributes})
    out = session.run(tools.equity_summary, asked)
    if media == "text/markdown":
        return PlainTextResponse(out.markdown, media_type="text/markdown; charset=utf-8")
    if media == "text/html":
        return HTMLResponse(
            report_html(out.markdown, out.charts, out.model_version, out.data_timestamp)
        )
    return out


@router.get(
    "/charts/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        **documented(404),
    },
)
def equity_chart(name: str, session: Viewer, runtime: RuntimeDep) -> FileResponse:
    """A chart PNG named in an equity summary's `charts` (a viewer key reads only the charts
    drawn from its own protected numbers)."""
    folder = (runtime.settings.reports_dir / "equity").resolve()
    path = (folder / name).resolve()
    hidden = not session.caller.can("staff") and not name.startswith(disclosure.CHART_PREFIX)
    if hidden or not CHART_NAME.match(name) or path.parent != folder or not path.is_file():
        raise ApiError(404, f"no chart named {name!r}", field="name", value=name)
    return FileResponse(path, media_type="image/png")


def _negotiate(accept: str) -> str:
    """The first supported media type the client accepts (ignoring q-values); JSON if none
    is named or any is accepted."""
    wanted = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    for media in wanted:
        if media in MEDIA:
            return media
        if media in ("*/*", "application/*", "text/*"):
            return "application/json" if media != "text/*" else "text/markdown"
    if not wanted:
        return "application/json"
    raise ApiError(
        406,
        f"cannot answer in {accept!r}; choose one of {', '.join(MEDIA)}",
        field="accept",
        value=accept,
    )
