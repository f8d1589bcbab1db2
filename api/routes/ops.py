"""Probes and metrics, open without a key: liveness, readiness, Prometheus exposition.

The probes run on the event loop: they answer even when every worker thread is busy, and
they never wait on a reload (the runtime loads a republished warehouse in the background while
the one in service answers). Only a server that has served nothing yet, and is loading its
first warehouse, answers /ready once that load ends, from a worker thread."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from api.runtime import Readiness
from monitoring import metrics

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "No model or warehouse to serve."}},
)
async def ready(runtime: RuntimeDep):
    """Whether the model and warehouse are loaded, which model version is served, whether a
    republished warehouse is loading (``reloading``; the served one answers meanwhile), and any
    degraded state (e.g. the model registry was unreachable and a cached copy is served)."""
    body = runtime.readiness(wait=False)
    if body.status == "not_ready" and body.reloading:
        # Nothing has been served yet and the first warehouse is loading: ready once loaded.
        body = await run_in_threadpool(runtime.readiness)
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
