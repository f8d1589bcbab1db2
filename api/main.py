"""The SARA app: assembles the routers. Nothing is loaded at import; the model and warehouse
open in the lifespan (and reload when the pipeline republishes)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import sara
from api import errors
from api.audit import audit_observer
from api.errors import status_of
from api.metrics import MetricsMiddleware
from api.routes import admin, chat, equity, interventions, ops, students, tool_routes
from api.runtime import Runtime
from monitoring.drift import observe_drift
from monitoring.metrics import observe_tool
from sara.settings import Settings, get_settings

UI_PATH = "/ui"
DESCRIPTION = """Student Academic Risk Assistant: risk scores with reasons, equity analysis and
intervention planning. Send an API key as `Authorization: Bearer <key>` or `X-API-Key`.
Roles: **viewer** (aggregate equity only), **staff** (student-level reads), **analyst**
(+ free SQL, plans), **admin** (+ reload, audit log). Errors are always
`{"error": {"code", "message", "field", "value"}}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime(settings)
    # What every tool call reports to: counted and timed, drift of served records, and the
    # audit log of student-level reads.
    runtime.observers += [observe_tool, observe_drift, audit_observer(runtime.audit, status_of)]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(runtime.readiness)  # load now; a miss is retried on demand
        yield
        runtime.close()

    app = FastAPI(
        title="SARA",
        version=sara.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(MetricsMiddleware)
    for module in (ops, students, equity, interventions, chat, admin, tool_routes):
        app.include_router(module.router)
    return mount_ui(app, chat.ChatService(runtime))


def mount_ui(app: FastAPI, service: chat.ChatService) -> FastAPI:
    """The Gradio chat at /ui, in the same process and on the same port."""
    import gradio as gr

    from ui.app import build_ui

    # The UI's events are private (the API is /v1), so no "use via API" footer link.
    return gr.mount_gradio_app(
        app, build_ui(service), path=UI_PATH, footer_links=["gradio", "settings"]
    )
