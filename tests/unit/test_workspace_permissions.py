"""The workspace is its owner's only: every `sara` command sets a private umask and tightens what
an older SARA left readable, touching nothing in the folder that is not SARA's; the pipeline's
entry points (which the Airflow DAG calls in processes of its own) set the umask themselves."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sara.cli import app, private_workspace
from sara.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def lax_umask():
    """A process umask that leaves new files readable by everyone (the usual default)."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _old_workspace(home: Path) -> list[Path]:
    """A workspace as an older SARA left it: folders 0755, files 0644."""
    made = []
    for relative in ("warehouse.duckdb", "audit.sqlite-wal", "mlflow.db", "data/cohort.parquet",
                     "mlartifacts/1/artifacts/model.pkl", "reports/equity/gap.png"):  # fmt: skip
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        made.append(path)
    for path in home.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    home.chmod(0o755)
    return made


def test_every_sara_command_sets_a_private_umask_and_tightens_the_workspace(settings, lax_umask):
    made = _old_workspace(settings.home)
    result = CliRunner().invoke(app, ["keys", "create", "--role", "staff", "--name", "t"])
    assert result.exit_code == 0, result.output
    assert os.umask(0o077) == 0o077
    for path in [settings.home, *settings.home.rglob("*")]:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert settings.keys_path.is_file() and all(p.is_file() for p in made)


def test_only_sara_s_entries_are_tightened_in_a_shared_folder(tmp_path, lax_umask):
    home = tmp_path / "shared"
    _old_workspace(home)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    (home / "notes.txt").write_text("someone else's")
    (home / "notes.txt").chmod(0o644)
    (home / "data" / "link").symlink_to(outside)
    private_workspace(home)
    assert _mode(home) == 0o755  # not SARA's alone: the folder itself is left as it is
    assert _mode(home / "notes.txt") == 0o644 and _mode(outside) == 0o644
    assert _mode(home / "warehouse.duckdb") == 0o600 and _mode(home / "data") == 0o700
    assert _mode(home / "mlartifacts" / "1" / "artifacts" / "model.pkl") == 0o600


def test_a_missing_workspace_is_not_created(tmp_path):
    private_workspace(tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()


def test_the_pipeline_s_entry_point_sets_the_umask_itself(tmp_path, lax_umask):
    from pipeline.run import start_run

    settings = Settings(home=tmp_path / "ws")
    start_run(settings)
    assert os.umask(0o077) == 0o077
    for path in [settings.home, *settings.home.rglob("*")]:
        assert _mode(path) == 0o700, path
