"""Probes and metrics, open without a key: liveness, readiness, Prometheus exposition."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import metrics
from api.deps import RuntimeDep
from api.runtime import Readiness

router = APIRouter(tags=["operations"])


class ReadinessOut(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    model_version: str | None
    model_source: str | None
    data_timestamp: str | None
    students: int | None
    reasons: list[str]


def readiness_body(readiness: Readiness) -> ReadinessOut:
    return ReadinessOut(**asdict(readiness))


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "No model or warehouse to serve."}},
)
def ready(runtime: RuntimeDep):
    """Whether the model and warehouse are loaded, which model version is served, and any
    degraded state (e.g. the model registry was unreachable and a cached copy is served)."""
    body = readiness_body(runtime.readiness())
    status = 503 if body.status == "not_ready" else 200
    return JSONResponse(body.model_dump(), status_code=status)


@router.get("/metrics", response_class=Response)
def prometheus_metrics() -> Response:
    """Prometheus metrics."""
    payload, content_type = metrics.exposition()
    return Response(payload, media_type=content_type)
