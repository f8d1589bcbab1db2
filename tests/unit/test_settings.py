import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from sara.settings import Settings, get_settings
from tests.timeouts import COMMAND_TIMEOUT_S


def test_defaults_put_all_state_in_the_workspace(settings, workspace):
    assert settings.home == workspace
    assert settings.warehouse_path == workspace / "warehouse.duckdb"
    assert settings.tracking_uri == f"sqlite:///{(workspace / 'mlflow.db').resolve()}"
    assert settings.registry_uri == settings.tracking_uri
    assert settings.assistant_backend == "offline"
    assert settings.llm_base_url is None


def test_environment_overrides_with_prefix(monkeypatch):
    monkeypatch.setenv("SARA_RISK_HIGH_THRESHOLD", "0.6")
    monkeypatch.setenv("SARA_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    get_settings.cache_clear()
    current = get_settings()
    assert current.risk_high_threshold == 0.6
    assert current.tracking_uri == "http://mlflow:5000"


def test_thresholds_must_be_ordered():
    with pytest.raises(ValidationError, match="must be below"):
        Settings(risk_medium_threshold=0.5, risk_high_threshold=0.4)


def test_placeholder_secret_refused_outside_development():
    Settings(llm_api_key="changeme")  # fine while developing
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(environment="production", llm_api_key="changeme")


def test_importing_creates_no_files(tmp_path: Path):
    code = (
        "import sara.settings, sara.cli, data.spec, data.validate, data.loaders, data.ingest, "
        "data.synthetic.cohort; sara.settings.get_settings()"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        env={"SARA_HOME": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"},
        timeout=COMMAND_TIMEOUT_S,
    )
    assert list(tmp_path.iterdir()) == []


def test_ensure_workspace_creates_the_layout(settings):
    settings.ensure_workspace()
    for folder in (
        settings.data_dir,
        settings.quarantine_dir,
        settings.reports_dir,
        settings.logs_dir,
        settings.artifacts_dir,
    ):
        assert folder.is_dir()
