"""Shared fixtures: every test gets its own workspace, so nothing touches the repo's .sara/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sara.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[1]
REFERENCE_CSV = Path(
    os.environ.get(
        "SARA_REFERENCE_DATA", REPO.parent / "shared" / "data" / "student_performance_sample10k.csv"
    )
)


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "sara-home"
    monkeypatch.setenv("SARA_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("SARA_") and name not in ("SARA_HOME", "SARA_REFERENCE_DATA"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def settings(workspace: Path) -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def reference_csv() -> Path:
    if not REFERENCE_CSV.is_file():
        pytest.skip(f"reference data {REFERENCE_CSV} is absent (set SARA_REFERENCE_DATA to use it)")
    return REFERENCE_CSV
