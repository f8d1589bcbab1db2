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
