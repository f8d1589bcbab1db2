"""run_sql and model_info on the tiny warehouse, the registry these tests cover, and what a
republished warehouse loads: nothing for the same publish again, not the model again for the
same model version."""

from __future__ import annotations

import shutil

import duckdb
import pytest

import tools.context
from pipeline import warehouse
from tests.unit.tiny_warehouse import (
    CANDIDATE,
    FEATURE_SET,
    MODEL_VERSION,
    ROWS,
    call,
    published_thresholds,
)
from tools import TOOLS
from tools.context import ToolContext, load_context
from tools.errors import InvalidInput

TESTED = {
    "score_students", "explain_student", "find_students", "query_equity", "equity_summary",
    "compare_interventions", "plan_interventions", "run_sql", "model_info",
}  # fmt: skip


def test_every_registered_tool_has_unit_tests():
    assert {tool.name for tool in TOOLS} == TESTED


# --- run_sql -------------------------------------------------------------------------------


def test_a_select_returns_columns_and_rows(tiny_ctx):
    out = call(
        tiny_ctx,
        "run_sql",
        sql="SELECT risk_level, count(*) AS n FROM scores GROUP BY risk_level ORDER BY n DESC",
    )
    expected = tiny_ctx.sql(
        "SELECT risk_level, count(*) AS n FROM scores GROUP BY risk_level ORDER BY n DESC"
    )
    assert out.columns == ["risk_level", "n"]
    assert out.rows == expected.values.tolist()
    assert out.row_count == 3
    assert sum(n for _, n in out.rows) == ROWS
    assert not out.truncated
    assert out.model_version == MODEL_VERSION


def test_rows_beyond_max_rows_are_truncated(tiny_ctx):
    out = call(
        tiny_ctx, "run_sql", sql="SELECT student_id FROM scores ORDER BY student_id", max_rows=5
    )
    assert out.rows == [[f"S{n:07d}"] for n in range(1, 6)]
    assert out.row_count == 5
    assert out.truncated


def test_with_union_and_json_safe_values(tiny_ctx):
    out = call(
        tiny_ctx,
        "run_sql",
        sql='WITH hidden AS (SELECT attribute, "group", mean_risk FROM group_aggregates '
        "WHERE suppressed) SELECT mean_risk FROM hidden UNION ALL SELECT NULL",
    )
    assert out.row_count >= 2
    assert all(row == [None] for row in out.rows)  # suppressed aggregates are NaN, sent as null


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DELETE FROM scores", "only SELECT queries are allowed, not DELETE"),
        ("DROP TABLE scores", "only SELECT queries are allowed"),
        ("SELECT 1; SELECT 2", "give exactly one statement, got 2"),
        ("SELECT * FROM read_csv('/etc/passwd')", "function read_csv() reads files"),
        ("SELECT * FROM information_schema.tables", "is not allowed"),
        ("SELECT * FROM duckdb_settings()", "reads files or system state"),
        ("ATTACH ':memory:' AS other", "only SELECT queries are allowed"),
        ("SELECT * FROM secrets", "table 'secrets' is not allowed"),
    ],
)
def test_the_guard_refuses_anything_but_one_select_over_the_warehouse(tiny_ctx, sql, reason):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "run_sql", sql=sql)
    assert caught.value.field == "sql"
    assert caught.value.value == sql
    assert reason in caught.value.message
    assert call(tiny_ctx, "run_sql", sql="SELECT count(*) FROM scores").rows == [[ROWS]]


def test_run_sql_limits_are_validated(tiny_ctx):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "run_sql", sql="SELECT 1", max_rows=0)
    assert caught.value.field == "max_rows"


# --- model_info ----------------------------------------------------------------------------


def test_model_info_describes_the_served_model(tiny_ctx):
    out = call(tiny_ctx, "model_info")
    spec = tiny_ctx.spec
    assert out.model_version == MODEL_VERSION
    assert out.candidate == CANDIDATE
    assert out.loaded_from == "memory"
    assert out.feature_set == FEATURE_SET
    assert out.features == list(tiny_ctx.model.features) == spec.features(FEATURE_SET)
    assert out.trained_on == tiny_ctx.meta["data_source"]
    assert out.students == ROWS
    assert out.outcome == "GPA < 2.0"
    rate = tiny_ctx.sql("SELECT avg(at_risk) AS r FROM students")["r"].iloc[0]
    assert out.outcome_rate == round(rate, 4)
    assert out.thresholds == published_thresholds(tiny_ctx)
    assert out.limits


def test_never_inputs_are_outcome_protected_and_excluded_columns(tiny_ctx):
    out = call(tiny_ctx, "model_info")
    assert out.never_inputs == ["GPA", "Gender", "Race", "Romantic"]
    assert not set(out.never_inputs) & set(out.features)


def test_metrics_beside_the_baseline_and_fairness_by_protected_attribute(tiny_ctx):
    out = call(tiny_ctx, "model_info")
    assert set(out.metrics) == {"champion", "baseline (AttendanceRate only)", "oracle (true risk)"}
    for values in out.metrics.values():
        assert set(values) == {"roc_auc", "pr_auc", "brier"}
        assert all(0 <= v <= 1 for v in values.values())
    assert out.metrics["champion"]["roc_auc"] > 0.5
    assert {row["attribute"] for row in out.fairness} == set(tiny_ctx.spec.protected)
    assert {row["metric"] for row in out.fairness} == {"calibration_gap", "tpr", "roc_auc"}


def test_model_info_takes_no_arguments(tiny_ctx):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "model_info", verbose=True)
    assert caught.value.field == "verbose"


# --- what a republished warehouse loads ----------------------------------------------------


@pytest.fixture
def republished(tiny_ctx, tmp_path, monkeypatch):
    """Settings of a copy of the tiny workspace, a context serving it as if its model came
    from the registry, and a way to republish: the same file (a copy: new inode, same
    content), or one whose build metadata says another publish."""
    settings = tiny_ctx.settings.model_copy(update={"home": tmp_path / "ws"})
    settings.warehouse_path.parent.mkdir(parents=True)
    shutil.copyfile(tiny_ctx.settings.warehouse_path, settings.warehouse_path)
    serving = ToolContext(settings, tiny_ctx.spec, tiny_ctx.model, MODEL_VERSION, tiny_ctx.meta,
                          "registry", tiny_ctx.catalogue, warehouse.open_read_only(
                              settings.warehouse_path))  # fmt: skip
    loads: list[str] = []

    def load_model(settings, version, meta, local_first):
        loads.append(version)
        return object(), "registry"

    monkeypatch.setattr(tools.context, "_load_model", load_model)

    def republish(**meta: str) -> None:
        staging = settings.warehouse_path.with_name("staging.duckdb")
        shutil.copyfile(settings.warehouse_path, staging)
        with duckdb.connect(str(staging)) as con:
            for key, value in meta.items():
                con.execute("UPDATE meta SET value = ? WHERE key = ?", [value, key])
        staging.replace(settings.warehouse_path)

    yield settings, serving, republish, loads
    serving.close()


def test_the_same_publish_again_loads_nothing(republished):
    settings, serving, republish, loads = republished
    republish()
    assert load_context(settings, serving) is serving
    assert loads == []


def test_a_new_publish_of_the_same_model_version_reuses_the_model(republished):
    settings, serving, republish, loads = republished
    republish(built_at="2031-01-01T00:00:00+00:00")
    ctx = load_context(settings, serving)
    try:
        assert ctx is not serving and ctx.model is serving.model and loads == []
        assert ctx.data_timestamp == "2031-01-01T00:00:00+00:00"
        assert ctx.sql("SELECT count(*) AS n FROM scores")["n"].iloc[0] == ROWS
    finally:
        ctx.close()


def test_a_new_model_version_is_loaded(republished):
    settings, serving, republish, loads = republished
    republish(model_version="2")
    ctx = load_context(settings, serving)
    try:
        assert loads == ["2"] and ctx.model_version == "2" and ctx.model is not serving.model
    finally:
        ctx.close()
