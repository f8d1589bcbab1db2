"""explain_student, find_students and model_info on a real published warehouse."""

import numpy as np
import pytest

from tools.errors import InvalidInput, NotFound
from tools.explain import ExplainInput, explain_student
from tools.model_card import ModelInfoInput, model_info
from tools.students import FindStudentsInput, find_students

pytestmark = pytest.mark.integration


def highest(ctx, level: str) -> str:
    return ctx.sql(
        "SELECT student_id FROM scores WHERE risk_level = ? "
        "ORDER BY risk_score DESC, student_id LIMIT 1",
        [level],
    )["student_id"].iloc[0]


def test_contributions_sum_to_the_model_output(ctx):
    student = highest(ctx, "High")
    out = explain_student(ExplainInput(student_id=student), ctx)
    total = out.base_value + sum(c.contribution for c in out.contributions)
    assert total == pytest.approx(out.raw_score, abs=1e-3)
    stored = ctx.sql("SELECT raw_score, risk_score FROM scores WHERE student_id = ?", [student])
    assert out.raw_score == pytest.approx(stored["raw_score"].iloc[0], abs=1e-3)
    assert out.risk_level == "High" and out.top_risk_factors
    raising = [c for c in out.contributions if c.direction == "raises risk"]
    assert all(c.contribution > 0 for c in raising)


@pytest.mark.parametrize("level", ["High", "Medium"])
def test_counterfactual_touches_only_actionable_features_and_really_lowers_the_level(ctx, level):
    student = highest(ctx, level)
    out = explain_student(ExplainInput(student_id=student), ctx)
    cf = out.counterfactual
    if not cf.found:
        pytest.skip(f"no reachable counterfactual for {student}: {cf.note}")
    changed = {c.feature for c in cf.changes}
    assert changed and changed <= set(ctx.spec.actionable)
    assert not changed & set(ctx.spec.protected)
    # Re-check with the model independently of the tool.
    row = ctx.students([student])
    for change in cf.changes:
        column = ctx.spec.column(change.feature)
        value = float(change.proposed.replace(" %", "").replace(" h", ""))
        row[change.feature] = value / 100 if column.format == "percent" else value
    risk = ctx.model.predict_proba(row)[:, 1][0]
    order = ["Low", "Medium", "High"]
    new_level = order[
        int(risk >= ctx.settings.risk_medium_threshold)
        + int(risk >= ctx.settings.risk_high_threshold)
    ]
    assert order.index(new_level) < order.index(level)
    assert risk == pytest.approx(cf.new_risk_score, abs=0.01)


def test_low_risk_students_need_no_counterfactual(ctx):
    out = explain_student(ExplainInput(student_id=highest(ctx, "Low")), ctx)
    assert not out.counterfactual.found and "lowest" in out.counterfactual.note


def test_explain_a_new_record_and_unknown_students(ctx):
    record = ctx.sql("SELECT * FROM students LIMIT 1").drop(columns=["StudentID", "at_risk"])
    out = explain_student(ExplainInput(record=record.to_dict("records")[0]), ctx)
    assert out.student_id is None and len(out.contributions) == len(ctx.model.features)
    with pytest.raises(NotFound):
        explain_student(ExplainInput(student_id="S9999999"), ctx)


def test_find_students_lists_highest_risk_first_within_filters(ctx):
    out = find_students(
        FindStudentsInput(filters={"SchoolType": "Public", "risk_level": "High"}, limit=5), ctx
    )
    expected = ctx.sql("""SELECT c.student_id, c.risk_score FROM scores c JOIN students s
        ON s.StudentID = c.student_id WHERE s.SchoolType = 'Public' AND c.risk_level = 'High'
        ORDER BY c.risk_score DESC, c.student_id""")
    assert out.total == len(expected)
    assert [s.student_id for s in out.students] == expected["student_id"].head(5).tolist()
    assert all(s.details["SchoolType"] == "Public" for s in out.students)
    scores = [s.risk_score for s in out.students]
    assert scores == sorted(scores, reverse=True)
    page2 = find_students(
        FindStudentsInput(filters={"SchoolType": "Public"}, limit=5, offset=5), ctx
    )
    assert page2.students[0].student_id not in {s.student_id for s in out.students}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"GPA": 1.0}, "filters"),
        ({"Shoe": 1}, "filters"),
        ({"Locale": "Moon"}, "filters.Locale"),
        ({"risk_level": "Extreme"}, "filters.risk_level"),
        ({"Grade": "x' OR 1=1 --"}, "filters.Grade"),
    ],
)
def test_find_students_rejects_bad_filters_naming_the_field(ctx, filters, field):
    with pytest.raises(InvalidInput) as info:
        find_students(FindStudentsInput(filters=filters), ctx)
    assert info.value.field == field


def test_model_info_reports_champion_metrics_fairness_and_limits(ctx):
    out = model_info(ModelInfoInput(), ctx)
    assert out.model_version == ctx.model_version and out.candidate == ctx.meta["candidate"]
    champion = ctx.sql(
        "SELECT metric, value FROM model_metrics WHERE model = ?", [ctx.meta["candidate"]]
    ).set_index("metric")["value"]
    assert out.metrics["champion"]["roc_auc"] == pytest.approx(champion["roc_auc"], abs=1e-4)
    assert any(name.startswith("baseline") for name in out.metrics)
    assert "GPA" in out.never_inputs and "Race" in out.never_inputs
    assert not set(out.never_inputs) & set(out.features)
    assert out.fairness and out.limits[0].startswith("Risk is not destiny")
    assert out.outcome_rate == pytest.approx(
        float(np.mean(ctx.sql("SELECT at_risk FROM students")["at_risk"])), abs=1e-4
    )
