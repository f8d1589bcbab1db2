"""The app as it really runs: readiness before and after a pipeline run, and `sara serve`
with uvicorn on 127.0.0.1 in its own process."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from api.keys import KeyStore
from api.main import create_app
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.integration.conftest import auth, sara_serve
from tests.timeouts import HTTP_TIMEOUT_S

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


def test_sara_serve_answers_on_localhost(published, role_keys):
    with sara_serve(published, workers=2) as server:
        base = server.base
        risk = httpx.get(f"{base}/v1/students/S0000042/risk", headers=auth(role_keys["staff"]),
                         timeout=HTTP_TIMEOUT_S)  # fmt: skip
        assert risk.status_code == 200 and risk.json()["risk_level"] in ("Low", "Medium", "High")
        assert httpx.get(f"{base}/v1/model", timeout=HTTP_TIMEOUT_S).status_code == 401
        for _ in range(6):  # spread over both workers
            httpx.get(f"{base}/health", timeout=HTTP_TIMEOUT_S)
        metrics = httpx.get(f"{base}/metrics", timeout=HTTP_TIMEOUT_S).text
        assert 'route="/v1/students/{student_id}/risk"' in metrics
        assert 'sara_http_requests_total{method="GET",route="/health",status="200"} 6.0' in metrics
    assert server.process.returncode == 0, server.output
    assert "S0000042" not in server.output  # no access log: paths carry student ids
