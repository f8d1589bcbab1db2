"""A small published warehouse and registry, built once per test session by the real pipeline,
for tests of the tools and everything above them."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.http import free_port, wait_until_up
from pipeline.run import run_pipeline
from sara.settings import Settings
from tests.timeouts import INTEGRATION_TEST_TIMEOUT_S, SERVER_START_TIMEOUT_S, STOP_TIMEOUT_S

TIER = Path(__file__).parent
SPECS = TIER.parents[1] / "data" / "specs"


def pytest_collection_modifyitems(items):
    """The tier's own per-test limit (see tests/timeouts.py) where a test sets none."""
    for item in items:
        if TIER in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INTEGRATION_TEST_TIMEOUT_S))


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Settings:
    """Settings of a workspace where the pipeline ran on 3,000 generated students."""
    settings = Settings(home=tmp_path_factory.mktemp("published") / "ws")
    run_pipeline(settings, generate=3000, progress=lambda _: None)
    return settings


def publish_schema(home: Path, schema: str, rows: int = 3000) -> Settings:
    """The pipeline on ``rows`` generated rows of ``schema`` (the built-in spec, or a spec in
    data/specs/ the higher-ed profile fits), then the settings serving uses: the workspace
    alone, with no spec path."""
    if schema == "student_performance":
        built = Settings(home=home)
    else:
        spec_path = SPECS / f"{schema}.yaml"
        built = Settings(home=home, generate_profile="higher-ed", spec_path=spec_path)
    run_pipeline(built, generate=rows, progress=lambda _: None)
    return Settings(home=home)


@pytest.fixture(scope="session")
def schema_workspaces(published, tmp_path_factory):
    """Serving settings of a published workspace per example schema, each built once per
    session on first use (the built-in schema's is ``published``)."""
    built: dict[str, Settings] = {"student_performance": published}

    def get(schema: str) -> Settings:
        if schema not in built:
            built[schema] = publish_schema(tmp_path_factory.mktemp(schema) / "ws", schema)
        return built[schema]

    return get


@pytest.fixture(scope="session")
def ctx(published):
    from tools.context import load_context

    context = load_context(published)
    yield context
    context.close()


@pytest.fixture(scope="session")
def role_keys(published) -> dict[str, str]:
    """One API key per role (and a revoked one) in the published workspace."""
    from api.keys import ROLES, KeyStore

    store = KeyStore(published.keys_path)
    keys = {role: store.create(f"test-{role}", role)[1] for role in ROLES}
    revoked, keys["revoked"] = store.create("test-revoked", "admin")
    store.revoke(revoked.id)
    return keys


@pytest.fixture(scope="session")
def api(published, role_keys):
    """A TestClient (lifespan run) on the app serving the published workspace."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(published)) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Served:
    """A `sara serve` process on a free localhost port; ``output`` once it has stopped."""

    def __init__(self, base: str, process):
        self.base, self.process, self.output = base, process, ""


@contextmanager
def sara_serve(settings: Settings, workers: int = 1):
    """Run `python -m sara.cli serve` for ``settings``' workspace; yields once /ready answers,
    then stops it and keeps what it printed (``served.output``) for the caller to check."""
    port = free_port()
    env = {**os.environ, "SARA_HOME": str(settings.home), "SARA_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "sara.cli", "serve", "--workers", str(workers)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    failure = None
    try:
        wait_until_up(f"{served.base}/ready", process, SERVER_START_TIMEOUT_S)
    except RuntimeError as exc:
        failure = str(exc)
    try:
        if failure is None:
            yield served
    finally:
        process.terminate()
        served.output, _ = process.communicate(timeout=STOP_TIMEOUT_S)
    if failure is not None:
        pytest.fail(f"{failure}:\n{served.output}")


@pytest.fixture(scope="module")
def fake():
    """A fake OpenAI-compatible endpoint (see fake_llm.py), one per test module."""
    from tests.integration.fake_llm import FakeLLM

    server = FakeLLM()
    yield server
    server.server.shutdown()
