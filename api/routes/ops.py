"""Probes and metrics, open without a key: liveness, readiness, Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.runtime import Readiness
from monitoring import metrics

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "No model or warehouse to serve."}},
)
def ready(runtime: RuntimeDep):
    """Whether the model and warehouse are loaded, which model version is served, and any
    degraded state (e.g. the model registry was unreachable and a cached copy is served)."""
    body = runtime.readiness()
    status = 503 if body.status == "not_ready" else 200
    return JSONResponse(body.model_dump(), status_code=status)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def prometheus_metrics() -> Response:
    """Prometheus metrics."""
    payload, content_type = metrics.exposition()
    return Response(payload, media_type=content_type)
