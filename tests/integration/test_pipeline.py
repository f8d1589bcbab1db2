"""The pipeline end to end on a real MLflow sqlite store and a real DuckDB file."""

import hashlib

import duckdb
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from scipy.stats import chi2_contingency
from typer.testing import CliRunner

import pipeline.run as run_module
from data.spec import load_spec
from pipeline import warehouse
from pipeline.run import run_pipeline
from pipeline.steps import DataQualityError
from sara.cli import app
from sara.settings import Settings

pytestmark = pytest.mark.integration
SPEC = load_spec()
EARLY = SPEC.features("early")
TABLES = set(warehouse.TABLES)


@pytest.fixture(scope="module")
def pipeline_settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("pipeline") / "ws")


@pytest.fixture(scope="module")
def first(pipeline_settings):
    messages = []
    result = run_pipeline(pipeline_settings, generate=5000, progress=messages.append)
    return result, messages


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).df()


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def client_for(settings: Settings) -> MlflowClient:
    mlflow.set_tracking_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri, settings.registry_uri)


def test_end_to_end_publishes_a_complete_warehouse(first, pipeline_settings):
    result, messages = first
    assert result.status == "promoted" and result.model_version == "1"
    assert any("train + calibrate done in" in m for m in messages)
    tables = set(
        query(pipeline_settings, "SELECT table_name FROM information_schema.tables")["table_name"]
    )
    assert tables == TABLES | {warehouse.SCORED, warehouse.WHAT_IF}
    terms = query(pipeline_settings, "SELECT count(*) AS n FROM what_if")
    assert terms["n"].iloc[0] == 5000  # every student's intervention terms
    scores = query(pipeline_settings, "SELECT * FROM scores")
    assert len(scores) == 5000 and scores["risk_score"].between(0, 1).all()
    assert set(scores["risk_level"]) == {"Low", "Medium", "High"}
    assert (scores["model_version"] == "1").all()
    counts = query(
        pipeline_settings, "SELECT count(*) n, count(DISTINCT feature) f FROM contributions"
    )
    assert counts.to_dict("records") == [{"n": 5000 * len(EARLY), "f": len(EARLY)}]
    factors = query(pipeline_settings, "SELECT * FROM risk_factors WHERE rank = 1")
    assert len(factors) > 4000 and factors["phrase"].str.len().min() > 5
    meta = warehouse.read_meta(pipeline_settings.warehouse_path)
    assert meta["model_version"] == "1" and meta["fingerprint"] == result.fingerprint
    assert meta["feature_set"] == "early" and meta["rows"] == "5000"
    names = {p.name for p in result.report_path.parent.iterdir()}
    assert {
        "report.md",
        "roc.png",
        "pr.png",
        "calibration.png",
        "fairness.png",
        "shap_summary.png",
    } <= names
    metrics = query(pipeline_settings, "SELECT DISTINCT model FROM model_metrics")["model"]
    assert {
        "logreg",
        "xgboost",
        "hist_gb",
        "oracle (true risk)",
        "baseline (AttendanceRate only)",
    } <= set(metrics)


def test_registry_holds_the_champion_its_card_and_one_run_per_candidate(first, pipeline_settings):
    result, _ = first
    client = client_for(pipeline_settings)
    version = client.get_model_version_by_alias(pipeline_settings.model_name, "champion")
    assert str(version.version) == "1" and version.tags["fingerprint"] == result.fingerprint
    assert "model_card.md" in {a.path for a in client.list_artifacts(version.run_id)}
    card = mlflow.artifacts.load_text(f"runs:/{version.run_id}/model_card.md")
    assert "Risk is not destiny" in card and "GPA" in card
    parent = client.get_run(result.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert {run.info.run_name for run in children} == {"logreg", "xgboost", "hist_gb"}
    for run in children:
        assert "test_pr_auc" in run.data.metrics and "cv_pr_auc" in run.data.metrics
        assert "fairness_groups.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_no_outcome_source_or_protected_column_reaches_any_model(first, pipeline_settings):
    result, _ = first
    client = client_for(pipeline_settings)
    parent = client.get_run(result.run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    forbidden = set(SPEC.outcome_sources) | set(SPEC.protected) | {"Romantic", "StudentID"}
    for run in children:
        assert run.data.params["features"].split(",") == EARLY
        assert not forbidden & set(run.data.params["features"].split(","))
    model = mlflow.sklearn.load_model(f"models:/{pipeline_settings.model_name}@champion")
    assert model.features == EARLY
    info = mlflow.models.get_model_info(f"models:/{pipeline_settings.model_name}@champion")
    assert info.signature.inputs.input_names() == EARLY


def test_served_scores_are_the_registered_model_and_contributions_add_up(first, pipeline_settings):
    model = mlflow.sklearn.load_model(f"models:/{pipeline_settings.model_name}@champion")
    students = query(pipeline_settings, "SELECT * FROM students ORDER BY StudentID LIMIT 300")
    scores = query(pipeline_settings, "SELECT * FROM scores ORDER BY student_id LIMIT 300")
    np.testing.assert_allclose(model.predict_proba(students)[:, 1], scores["risk_score"], atol=1e-6)
    sums = query(
        pipeline_settings,
        """
        SELECT s.student_id, any_value(s.raw_score) AS raw_score,
               any_value(s.base_value) + sum(c.contribution) AS total
        FROM scores s JOIN contributions c USING (student_id) GROUP BY s.student_id""",
    )
    np.testing.assert_allclose(sums["total"], sums["raw_score"], atol=1e-4)


def test_rerunning_on_the_same_data_changes_nothing(first, pipeline_settings):
    before = file_digest(pipeline_settings.warehouse_path)
    again = run_pipeline(pipeline_settings, progress=lambda _: None)
    assert again.status == "unchanged" and again.model_version == "1"
    assert file_digest(pipeline_settings.warehouse_path) == before
    client = client_for(pipeline_settings)
    assert len(client.search_model_versions(f"name='{pipeline_settings.model_name}'")) == 1


def test_a_failed_publish_leaves_the_old_warehouse_and_champion(
    first, pipeline_settings, monkeypatch
):
    before = file_digest(pipeline_settings.warehouse_path)
    real_build = warehouse.build

    def crash_midway(path, tables, *rest):
        real_build(path, tables, *rest)
        raise OSError("disk full while publishing")

    monkeypatch.setattr(warehouse, "build", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        run_pipeline(pipeline_settings, generate=4000, progress=lambda _: None)
    assert file_digest(pipeline_settings.warehouse_path) == before
    assert not list(pipeline_settings.home.glob("warehouse.duckdb.building-*"))
    client = client_for(pipeline_settings)
    alias = client.get_model_version_by_alias(pipeline_settings.model_name, "champion")
    assert str(alias.version) == "1"


def test_a_worse_challenger_does_not_move_the_alias(first, pipeline_settings, monkeypatch):
    real_train = run_module.train_step

    def train_on_noise(split, *args, **kwargs):
        rng = np.random.default_rng(0)
        split.y_train = rng.permutation(split.y_train)
        return real_train(split, *args, **kwargs)

    monkeypatch.setattr(run_module, "train_step", train_on_noise)
    result = run_pipeline(pipeline_settings, generate=4000, progress=lambda _: None)
    assert result.status == "kept" and result.model_version == "1"
    client = client_for(pipeline_settings)
    champion = client.get_model_version_by_alias(pipeline_settings.model_name, "champion")
    assert str(champion.version) == "1"
    versions = client.search_model_versions(f"name='{pipeline_settings.model_name}'")
    challenger = max(versions, key=lambda v: int(v.version))
    assert int(challenger.version) > 1 and challenger.tags["role"] == "challenger"
    meta = warehouse.read_meta(pipeline_settings.warehouse_path)
    assert meta["model_version"] == "1" and meta["rows"] == "4000"


def test_a_new_champion_moves_the_alias_and_keeps_old_versions(first, pipeline_settings):
    result = run_pipeline(pipeline_settings, generate=6000, progress=lambda _: None)
    assert result.status == "promoted"
    client = client_for(pipeline_settings)
    alias = client.get_model_version_by_alias(pipeline_settings.model_name, "champion")
    assert str(alias.version) == result.model_version != "1"
    versions = {
        str(v.version)
        for v in client.search_model_versions(f"name='{pipeline_settings.model_name}'")
    }
    assert {"1", result.model_version} <= versions
    assert (
        warehouse.read_meta(pipeline_settings.warehouse_path)["model_version"]
        == result.model_version
    )


def test_status_command_shows_champion_and_warehouse(first, pipeline_settings, monkeypatch):
    monkeypatch.setenv("SARA_HOME", str(pipeline_settings.home))
    monkeypatch.setenv("COLUMNS", "200")
    from sara.settings import get_settings

    get_settings.cache_clear()
    output = CliRunner().invoke(app, ["pipeline", "status"]).output
    assert "champion" in output and "built at" in output and "test_pr_auc" in output


def test_too_many_bad_rows_stop_the_run_before_training(tmp_path):
    settings = Settings(home=tmp_path / "ws")
    frame = pd.read_parquet(_small_cohort(tmp_path))
    frame.loc[:100, "GPA"] = 9.0
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(DataQualityError, match="above the limit of 5%"):
        run_pipeline(settings, data=bad, progress=lambda _: None)
    assert not settings.warehouse_path.exists()


def _small_cohort(folder):
    from data.synthetic.cohort import write_cohort

    return write_cohort(folder / "small.parquet", 1000, seed=4).path


def test_public_reference_data_runs_and_shows_no_demographic_gaps(reference_csv, tmp_path):
    settings = Settings(home=tmp_path / "ws")
    result = run_pipeline(settings, data=reference_csv, progress=lambda _: None)
    assert result.status == "promoted" and result.rows == 10_000
    students = query(settings, "SELECT * FROM students")
    for attribute in ("Race", "Gender", "SES_Quartile", "InternetAccess", "Locale"):
        table = pd.crosstab(students[attribute], students["at_risk"])
        assert chi2_contingency(table).pvalue > 0.01, attribute
