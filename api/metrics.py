"""HTTP request metrics: a pure ASGI middleware over the definitions in ``monitoring.metrics``."""

from __future__ import annotations

import time

from monitoring.metrics import HTTP_LATENCY, HTTP_REQUESTS


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task overhead): counts and times every request by
    the route template it matched, e.g. ``/v1/students/{student_id}/risk``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            code = str(status["code"])
            HTTP_REQUESTS.labels(template, scope["method"], code).inc()
            HTTP_LATENCY.labels(template, scope["method"], code).observe(
                time.perf_counter() - started
            )
