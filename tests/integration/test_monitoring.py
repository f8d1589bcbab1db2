"""Monitoring against a real Prometheus (Debian package) on 127.0.0.1: it scrapes `sara serve`
after real traffic, and every PromQL expression of every dashboard panel returns data."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import httpx
import pytest
import yaml

from benchmarks.http import free_port
from monitoring.dashboards import DASHBOARD_DIR, queries, rendered
from tests.integration.conftest import auth, sara_serve
from tests.timeouts import HTTP_TIMEOUT_S, SERVER_START_TIMEOUT_S, STOP_TIMEOUT_S

pytestmark = pytest.mark.integration
PROMETHEUS = shutil.which("prometheus")
# Prometheus starts, then scrapes the app every second; the test waits for a few scrapes.
SCRAPES_BEFORE_QUERYING = 4


def test_dashboard_files_are_generated_from_the_metric_definitions():
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DASHBOARD_DIR.glob("*.json")}
    assert on_disk == rendered(), "run `python -m monitoring.dashboards`"


def _traffic(base: str, keys: dict[str, str], ctx) -> None:
    student = ctx.sql("SELECT student_id FROM scores ORDER BY risk_score DESC LIMIT 1").iloc[0, 0]
    staff = auth(keys["staff"])
    httpx.get(f"{base}/health", timeout=HTTP_TIMEOUT_S)
    risk = httpx.get(f"{base}/v1/students/{student}/risk", headers=staff, timeout=HTTP_TIMEOUT_S)
    assert risk.status_code == 200
    refused = httpx.get(f"{base}/v1/model", timeout=HTTP_TIMEOUT_S)
    assert refused.status_code == 401  # an error for the error panel
    # New records for scoring: the drift gauge's input (a random sample of the published
    # students, so the population has not shifted).
    features = ", ".join(f'"{f}"' for f in ctx.model.features)
    sample = ctx.sql(f"SELECT {features} FROM students USING SAMPLE 300 ROWS")
    records = json.loads(sample.to_json(orient="records"))
    scored = httpx.post(f"{base}/v1/score", json={"records": records}, headers=staff,
                        timeout=HTTP_TIMEOUT_S)  # fmt: skip
    assert scored.status_code == 200, scored.text
    for question in (f"why is {student} high risk?", "what's the weather?", "plan tutoring"):
        answer = httpx.post(f"{base}/v1/chat", json={"question": question}, headers=staff,
                            timeout=HTTP_TIMEOUT_S)  # fmt: skip
        assert answer.status_code == 200, answer.text


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus is not installed (apt: prometheus)")
def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    published, role_keys, ctx, tmp_path
):
    with sara_serve(published) as served:
        _traffic(served.base, role_keys, ctx)
        target = served.base.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "sara", "static_configs": [{"targets": [target]}]}],
        }))  # fmt: skip
        port = free_port()
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        api = f"http://127.0.0.1:{port}/api/v1/query"
        try:

            def query(expr: str) -> list:
                body = httpx.get(api, params={"query": expr}, timeout=HTTP_TIMEOUT_S).json()
                assert body["status"] == "success", (expr, body)
                return body["data"]["result"]

            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            samples = []
            while time.monotonic() < deadline:
                try:
                    starting = httpx.get(api.replace("/api/v1/query", "/-/ready"),
                                         timeout=HTTP_TIMEOUT_S).status_code != 200  # fmt: skip
                    samples = [] if starting else query('count_over_time(up{job="sara"}[1m])')
                except httpx.TransportError:  # not listening yet
                    samples = []
                scraped = float(samples[0]["value"][1]) if samples else 0
                if scraped >= SCRAPES_BEFORE_QUERYING and query('up{job="sara"}'):
                    break
                assert prometheus.poll() is None, prometheus.stderr.read()
                time.sleep(0.5)
            else:
                pytest.fail(f"prometheus did not scrape the app: {samples}")
            assert query('up{job="sara"}')[0]["value"][1] == "1"
            empty = [(title, expr) for title, expr in queries() if not query(expr)]
            assert empty == [], empty
            drift = {s["metric"]["feature"]: float(s["value"][1])
                     for s in query("sara_input_drift_psi")}  # fmt: skip
            assert set(drift) == set(ctx.model.features)
            assert max(drift.values()) < 0.25, drift  # a sample of the reference is stable
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=STOP_TIMEOUT_S)
