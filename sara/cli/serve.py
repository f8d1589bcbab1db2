"""``sara serve``: the API (and UI) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from sara.cli.common import console
from sara.settings import get_settings


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address (default SARA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SARA_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default SARA_WORKERS).")
    ] = None,
) -> None:
    """Serve the API (and UI) with uvicorn."""
    import os
    import shutil

    import uvicorn

    current = get_settings()
    workers = workers or current.workers
    if workers > 1:
        # Worker processes share Prometheus metrics through files; stale ones would add up.
        shutil.rmtree(current.metrics_dir, ignore_errors=True)
        current.metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(current.metrics_dir.resolve())
    host, port = host or current.host, port or current.port
    console.print(f"SARA on http://{host}:{port}  (chat: /ui, API docs: /docs)", highlight=False)
    # No access log: request paths carry student ids, which stay out of logs.
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level=current.log_level.lower(),
    )
