"""The CLI: useful summaries, clear errors, no stack traces."""

import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from sara.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def cohort_file(tmp_path):
    out = tmp_path / "cohort.csv"
    result = run("data", "generate", "--n", "500", "--seed", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_generate_into_the_workspace_by_default(settings):
    result = run("data", "generate", "--n", "300")
    assert result.exit_code == 0, result.output
    assert settings.default_cohort_path.is_file()
    assert (settings.data_dir / "cohort.truth.parquet").is_file()
    for text in ("students", "300", "rows/s", "at_risk (GPA < 2.0)", "mean true risk"):
        assert text in result.output


def test_generate_refuses_unknown_profile_and_intervention():
    result = run("data", "generate", "--n", "10", "--profile", "fancy")
    assert result.exit_code == 1 and "choose one of: realistic, seed-like" in result.output
    result = run("data", "generate", "--n", "10", "--do", "magic")
    assert result.exit_code == 1 and "tutoring" in result.output
    result = run("data", "generate", "--n", "10", "--profile", "seed-like", "--do", "tutoring")
    assert result.exit_code == 1 and "no causal model" in result.output


def test_generate_applies_an_intervention_of_the_higher_ed_profile(tmp_path):
    out = tmp_path / "he.csv"
    args = ["data", "generate", "--n", "300", "--seed", "4", "--profile", "higher-ed"]
    result = run(*args, "--do", "study_coaching", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "do(study_coaching)" in result.output and out.is_file()
    result = run(*args, "--do", "tutoring", "--out", str(tmp_path / "x.csv"))
    assert result.exit_code == 1 and "study_coaching" in result.output


def test_validate_summarises_a_clean_file(cohort_file):
    result = run("data", "validate", str(cohort_file))
    assert result.exit_code == 0, result.output
    assert "every row passed every rule" in result.output and "500" in result.output
    assert "they fit the spec" in result.output and "tutoring" in result.output


def test_validate_checks_the_intervention_catalogue(workspace, cohort_file, tmp_path, monkeypatch):
    from sara.settings import get_settings

    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(
        "interventions:\n"
        "  - {name: older, title: Older, moves: {Age: {add: 1}}, cost_per_student: 1,\n"
        "     evidence: none, causal_note: none}\n"
    )
    monkeypatch.setenv("SARA_INTERVENTIONS_PATH", str(catalogue))
    get_settings.cache_clear()
    result = run("data", "validate", str(cohort_file))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "'older' moves 'Age'" in result.output and str(catalogue) in result.output


def test_validate_reports_issues_and_writes_the_quarantine(cohort_file, settings):
    frame = pd.read_csv(cohort_file, dtype=str)
    frame.loc[4, "GPA"] = "7.5"
    frame.loc[9, "Race"] = "Martian"
    frame.to_csv(cohort_file, index=False)
    result = run("data", "validate", str(cohort_file))
    assert result.exit_code == 0, result.output
    for text in ("quarantined rows", "2 (0.40%)", "must be between 0 and 4", "Martian"):
        assert text in result.output
    issues = list(settings.quarantine_dir.glob("cohort-*.issues.csv"))
    rows = list(settings.quarantine_dir.glob("cohort-*.rows.csv"))
    assert len(issues) == len(rows) == 1
    table = pd.read_csv(issues[0], dtype=str)
    assert table[["row", "column", "value"]].values.tolist() == [
        ["5", "GPA", "7.5"],
        ["10", "Race", "Martian"],
    ]
    assert pd.read_csv(rows[0])["_row"].tolist() == [5, 10]
    assert run("data", "validate", str(cohort_file), "--strict").exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"Age,Grade\n15,10\n", "missing column(s)"),
        ("Age\n\u00e9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_validate_bad_files_fail_cleanly(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = run("data", "validate", str(path))
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_validate_with_a_broken_spec_fails_cleanly(tmp_path, cohort_file):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    result = run("data", "validate", str(cohort_file), "--spec", str(spec))
    assert result.exit_code == 1 and "breaks the data contract" in result.output


def test_spec_and_settings_commands(workspace, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    result = run("data", "spec")
    assert result.exit_code == 0 and "outcome_source" in result.output
    assert "feature set early (14)" in result.output
    result = run("settings")
    assert result.exit_code == 0 and str(workspace) in result.output


def test_generate_keep_existing_leaves_the_cohort_alone(settings):
    assert run("data", "generate", "--n", "200").exit_code == 0
    before = settings.default_cohort_path.stat().st_mtime_ns
    result = run("data", "generate", "--n", "900", "--keep-existing")
    assert result.exit_code == 0 and "keeping it" in result.output
    assert settings.default_cohort_path.stat().st_mtime_ns == before


def test_pipeline_errors_a_user_can_fix_are_one_line_not_a_trace(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = run("pipeline", "run", "--data", str(empty))
    assert result.exit_code == 1 and "is empty" in result.output
    assert "Traceback" not in result.output
    result = run("pipeline", "run", "--data", str(empty), "--generate", "100")
    assert result.exit_code == 1 and "either --data or --generate" in result.output


def test_every_user_facing_error_shares_one_base():
    from data.loaders import DataLoadError
    from data.spec import SpecError
    from data.validate import SchemaMismatchError
    from pipeline.faults import NotEnoughSpace
    from pipeline.steps import DataQualityError
    from pipeline.warehouse import WarehouseUnavailable
    from sara.errors import UserError

    for kind in (DataLoadError, SpecError, SchemaMismatchError):
        assert issubclass(kind, UserError) and issubclass(kind, ValueError)
    for kind in (NotEnoughSpace, DataQualityError, WarehouseUnavailable):
        assert issubclass(kind, UserError) and issubclass(kind, RuntimeError)


def test_starting_the_cli_loads_no_library_stack():
    # `sara --help` and every command pay only for Typer, Rich and the settings at start-up.
    code = "import sys, sara.cli; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in done.stdout.split()}
    heavy = {"pandas", "numpy", "sklearn", "mlflow", "duckdb", "pyarrow", "uvicorn"}
    ours = {"data", "pipeline", "tools", "assistant", "api", "evals", "benchmarks"}
    assert loaded.isdisjoint(heavy | ours), sorted(loaded & (heavy | ours))


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run(
        [sys.executable, "-m", "sara.cli", "--help"], capture_output=True, text=True, check=True
    )
    for group in ("settings", "serve", "chat", "eval", "data", "pipeline", "keys", "bench"):
        assert group in done.stdout
