"""The CLI: useful summaries, clear errors, no stack traces."""

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


def test_validate_summarises_a_clean_file(cohort_file):
    result = run("data", "validate", str(cohort_file))
    assert result.exit_code == 0, result.output
    assert "every row passed every rule" in result.output and "500" in result.output


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
