"""SARA against a remote MLflow tracking server, as in the compose stack: a real `mlflow server`
on 127.0.0.1 with its own sqlite store and artifact folder; the pipeline tracks and registers
through HTTP, the app loads the champion from it, and serves its cached copy when the server is
gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from api.runtime import Runtime
from benchmarks.http import free_port, wait_until_up
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.timeouts import SERVER_START_TIMEOUT_S, STOP_TIMEOUT_S
from tools.context import load_context

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", server, SERVER_START_TIMEOUT_S)
    except RuntimeError as exc:
        server.terminate()
        pytest.fail(f"{exc}: {server.communicate(timeout=STOP_TIMEOUT_S)[1][-3000:]}")
    yield url, root, server
    server.terminate()
    server.wait(timeout=STOP_TIMEOUT_S)


def test_pipeline_registers_and_the_app_loads_through_a_tracking_server(mlflow_server, tmp_path):
    url, root, server = mlflow_server
    settings = Settings(home=tmp_path / "ws", mlflow_tracking_uri=url, candidates=("logreg",))
    result = run_pipeline(settings, generate=1500, progress=lambda _: None)
    assert result.status == "promoted" and result.model_version == "1"
    client = MlflowClient(url, url)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    assert str(champion.version) == "1"
    # Artifacts went to the server's store, not the workspace.
    assert any((root / "artifacts").rglob("MLmodel"))
    assert not settings.artifacts_dir.exists() or not any(settings.artifacts_dir.iterdir())
    assert not (settings.home / "mlflow.db").exists()
    ctx = load_context(settings)
    try:
        assert ctx.model_source == "registry" and ctx.model_version == "1"
        student = ctx.sql("SELECT student_id FROM scores LIMIT 1").iloc[0, 0]
        assert ctx.students([student]).shape[0] == 1
    finally:
        ctx.close()
    # The registry goes away: a starting app serves its local copy of the champion and says
    # it is degraded (MLflow's client gives up after SARA's shorter retry defaults).
    server.terminate()
    server.wait(timeout=STOP_TIMEOUT_S)
    runtime = Runtime(settings)
    try:
        readiness = runtime.readiness()
    finally:
        runtime.close()
    assert readiness.status == "degraded" and readiness.model_version == "1"
    assert readiness.model_source == "local cache" and "unreachable" in readiness.reasons[0]
