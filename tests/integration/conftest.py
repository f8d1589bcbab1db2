"""A small published warehouse and registry, built once per test session by the real pipeline,
for tests of the tools and everything above them."""

from __future__ import annotations

import pytest

from pipeline.run import run_pipeline
from sara.settings import Settings


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Settings:
    """Settings of a workspace where the pipeline ran on 3,000 generated students."""
    settings = Settings(home=tmp_path_factory.mktemp("published") / "ws")
    run_pipeline(settings, generate=3000, progress=lambda _: None)
    return settings


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
