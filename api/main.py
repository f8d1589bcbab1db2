"""The SARA app: assembles the routers. Nothing is loaded at import; the model and warehouse
open in the lifespan (and reload when the pipeline republishes)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

import sara
from api import errors, limits
from api.audit import audit_observer
from api.budget import viewer_audit_observer
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
    runtime.observers += [
        observe_tool,
        observe_drift,
        audit_observer(runtime.audit, status_of),
        viewer_audit_observer(runtime.audit, status_of),
    ]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.open()
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
    # Inside the metrics middleware, so the requests it refuses are counted too.
    limits.install(app, settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    # Outermost: an error raised anywhere below is answered and logged once, here.
    app.add_middleware(errors.UnexpectedErrors)
    for module in (ops, students, equity, interventions, chat, admin, tool_routes):
        app.include_router(module.router)
    return mount_ui(app, chat.ChatService(runtime))


def mount_ui(app: FastAPI, service: chat.ChatService) -> FastAPI:
    """The Gradio chat at /ui, in the same process and on the same port. Only the routes the
    page itself uses answer (``ui.app.page_route``); Gradio's others (uploads, files, proxying,
    run history, its call API) are 404 for everyone, since the UI signs in inside the page and
    those routes could not check its key."""
    import gradio as gr
    from starlette.routing import Mount

    from ui.app import build_ui, page_route

    gr.mount_gradio_app(
        app,
        build_ui(service),
        path=UI_PATH,
        # The UI's events are private (the API is /v1), so no "use via API" footer link.
        footer_links=["gradio", "settings"],
        # Answers name students: none is kept in the browser's run history.
        run_history=False,
        # SARA takes no uploads; should an upload route ever open, it takes nothing.
        max_file_size=0,
    )
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == UI_PATH)
    gradio_app = mount.app

    async def page_routes_only(scope, receive, send) -> None:
        root, path = scope.get("root_path", ""), scope["path"]
        below = path[len(root) :] if path.startswith(root) else path
        if scope["type"] == "http" and page_route(scope["method"], below):
            await gradio_app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        message = f"no route {path}: the chat UI takes no uploads and serves no files"
        await JSONResponse(errors.error_body("not_found", message), status_code=404)(
            scope, receive, send
        )

    mount.app = page_routes_only
    return app
