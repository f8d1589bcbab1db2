"""The app as it really runs: readiness before and after a pipeline run, and `sara serve`
with uvicorn on 127.0.0.1 in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from api.keys import KeyStore
from api.main import create_app
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.integration.conftest import auth

pytestmark = pytest.mark.integration


def test_ready_before_and_after_the_first_pipeline_run(tmp_path):
    settings = Settings(home=tmp_path / "fresh")
    _, key = KeyStore(settings.keys_path).create("t", "staff")
    with TestClient(create_app(settings)) as api:
        before = api.get("/ready")
        assert before.status_code == 503 and before.json()["status"] == "not_ready"
        assert "sara pipeline run" in before.json()["reasons"][0]
        refused = api.get("/v1/students/S0000001/risk", headers=auth(key))
        assert refused.status_code == 503
        assert "sara pipeline run" in refused.json()["error"]["message"]
        run_pipeline(settings, generate=600, progress=lambda _: None)
        after = api.get("/ready")  # no restart: the app notices the new warehouse
        assert after.status_code == 200 and after.json()["status"] == "ready"
        assert after.json()["model_version"] == "1" and after.json()["students"] == 600
        assert api.get("/v1/students/S0000001/risk", headers=auth(key)).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sara_serve_answers_on_localhost(published, role_keys):
    port = _free_port()
    env = {**os.environ, "SARA_HOME": str(published.home), "SARA_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "sara.cli", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.5)
        else:
            pytest.fail("the server did not become ready in 90 s")
        risk = httpx.get(f"{base}/v1/students/S0000042/risk", headers=auth(role_keys["staff"]))
        assert risk.status_code == 200 and risk.json()["risk_level"] in ("Low", "Medium", "High")
        assert httpx.get(f"{base}/v1/model").status_code == 401
        for _ in range(6):  # spread over both workers
            httpx.get(f"{base}/health")
        metrics = httpx.get(f"{base}/metrics").text
        assert 'route="/v1/students/{student_id}/risk"' in metrics
        assert 'sara_http_requests_total{method="GET",route="/health",status="200"} 6.0' in metrics
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "S0000042" not in output  # no access log: paths carry student ids
