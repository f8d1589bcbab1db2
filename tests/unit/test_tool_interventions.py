"""compare_interventions and plan_interventions on the tiny warehouse: cohorts, costs, the
ranking, the budget, capacities and equity shares."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.tiny_warehouse import call
from tools import planning
from tools.errors import InvalidInput, NotFound

CATALOGUE = {"tutoring", "attendance_outreach", "mentoring", "parent_engagement", "home_internet"}


def count(ctx, where: str) -> int:
    join = 'students s JOIN scores c ON s."StudentID" = c.student_id'
    query = f"SELECT count(*) AS n FROM {join} {where}"
    return int(ctx.sql(query)["n"].iloc[0])


# --- compare_interventions -----------------------------------------------------------------


@pytest.fixture(scope="module")
def high(tiny_ctx):
    return call(tiny_ctx, "compare_interventions", filters={"risk_level": "High"})


def test_compare_every_intervention_for_the_high_risk_cohort(high, tiny_ctx):
    n_high = count(tiny_ctx, "WHERE c.risk_level = 'High'")
    mean_risk = tiny_ctx.sql("SELECT avg(risk_score) AS r FROM scores WHERE risk_level = 'High'")
    assert high.cohort == "risk_level = High"
    assert high.n_students == n_high
    assert {r.name for r in high.results} == CATALOGUE
    assert high.ranking == [r.name for r in high.results]
    changes = [r.expected_change for r in high.results]
    assert changes == sorted(changes)  # largest reduction first
    for result in high.results:
        assert result.n_students == n_high
        assert result.mean_risk_before == pytest.approx(mean_risk["r"].iloc[0], abs=1e-4)
        assert result.expected_change == pytest.approx(
            result.mean_risk_after - result.mean_risk_before, abs=1e-4
        )
        low, up = result.change_ci95
        assert low <= result.expected_change <= up
        assert result.cost_total == pytest.approx(result.cost_per_student * n_high)
        assert 0 <= result.students_out_of_high <= n_high
        if result.students_out_of_high:
            assert result.cost_per_student_out_of_high == pytest.approx(
                result.cost_total / result.students_out_of_high, abs=0.01
            )
        else:
            assert result.cost_per_student_out_of_high is None
        assert result.evidence and result.causal_note


def test_generated_data_carries_the_true_effect_and_data_estimates(high):
    assert high.truth_available
    by_name = {r.name: r for r in high.results}
    assert all(r.true_change is not None for r in high.results)
    # No student in the data was tutored: only the programmes seen in the data get an estimate.
    assert by_name["tutoring"].data_estimate is None
    assert by_name["tutoring"].data_estimate_note
    estimate = by_name["parent_engagement"].data_estimate
    assert estimate is not None and estimate.refutation is not None
    assert estimate.note  # the cohort was chosen by risk level


def test_compare_for_one_student_and_named_interventions(tiny_ctx):
    out = call(
        tiny_ctx,
        "compare_interventions",
        student_ids=["S0000004"],
        interventions=["tutoring", "parent_engagement"],
    )
    assert out.n_students == 1
    assert out.cohort == "1 listed student(s)"
    assert set(out.ranking) == {"tutoring", "parent_engagement"}
    risk = tiny_ctx.sql("SELECT risk_score FROM scores WHERE student_id = 'S0000004'")
    for result in out.results:
        assert result.mean_risk_before == pytest.approx(risk["risk_score"].iloc[0], abs=1e-4)
        assert result.change_ci95 == (result.expected_change, result.expected_change)
        assert result.students_out_of_high in (0, 1)


def test_compare_an_unknown_intervention_names_the_field(tiny_ctx):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "compare_interventions", all_students=True, interventions=["yoga"])
    assert caught.value.field == "interventions"
    assert caught.value.value == "yoga"


def test_compare_an_unknown_student_is_not_found(tiny_ctx):
    with pytest.raises(NotFound) as caught:
        call(tiny_ctx, "compare_interventions", student_ids=["S0000001", "S9999999"])
    assert caught.value.field == "student_ids"
    assert caught.value.value == ["S9999999"]


# --- plan_interventions --------------------------------------------------------------------


def check_plan(plan, budget: float) -> None:
    """Invariants of every plan: within budget, one intervention per student at most, and
    totals that add up from the assignments."""
    students = [a.student_id for a in plan.assignments]
    assert len(students) == len(set(students)) == plan.totals.students_treated
    assert plan.totals.cost <= budget
    assert sum(a.cost for a in plan.assignments) == pytest.approx(plan.totals.cost)
    drop = sum(a.risk_before - a.risk_after for a in plan.assignments)
    assert plan.totals.expected_risk_reduction == pytest.approx(
        drop, abs=1e-4 * len(students) + 1e-4
    )
    uses = Counter(a.intervention for a in plan.assignments)
    assert {u.intervention: u.students for u in plan.by_intervention} == dict(uses)
    assert plan.naive.cost <= budget


@pytest.fixture(scope="module")
def plan(tiny_ctx):
    return call(tiny_ctx, "plan_interventions", budget=5000)


def test_the_default_plan_covers_high_and_medium_within_budget(plan, tiny_ctx):
    check_plan(plan, 5000)
    assert plan.n_students == count(tiny_ctx, "WHERE c.risk_level IN ('High', 'Medium')")
    levels = dict(tiny_ctx.sql("SELECT student_id, risk_level FROM scores").itertuples(index=False))
    assert {levels[a.student_id] for a in plan.assignments} <= {"High", "Medium"}
    # greedy when its proven gap is within the tolerance, else the exact optimum
    assert (plan.method, plan.optimality_gap) == ("exact", 0) or (
        plan.method == "greedy" and plan.optimality_gap <= planning.GREEDY_GAP_ENOUGH
    )
    assert plan.objective == "risk_reduction"
    assert plan.totals.students_treated > 0
    # The optimum is at least as good as the highest-risk-first plan for the same money.
    assert plan.totals.expected_risk_reduction >= plan.naive.expected_risk_reduction


def test_capacities_and_equity_shares_are_respected(tiny_ctx):
    plan = call(
        tiny_ctx,
        "plan_interventions",
        budget=3000,
        capacity={"attendance_outreach": 10},
        equity={"attribute": "SES_Quartile", "min_share": {"1": 0.5}},
    )
    check_plan(plan, 3000)
    uses = {u.intervention: u.students for u in plan.by_intervention}
    assert uses.get("attendance_outreach", 0) <= 10
    (share,) = plan.equity
    quartile = dict(
        tiny_ctx.sql('SELECT "StudentID", SES_Quartile FROM students').itertuples(index=False)
    )
    treated_q1 = sum(quartile[a.student_id] == 1 for a in plan.assignments)
    assert share.group == "1"
    assert share.share == pytest.approx(treated_q1 / len(plan.assignments), abs=1e-4)
    assert share.share >= share.min_share == 0.5


def test_a_plan_to_move_students_out_of_high(tiny_ctx):
    plan = call(tiny_ctx, "plan_interventions", budget=3000, objective="students_out_of_high")
    check_plan(plan, 3000)
    assert plan.objective == "students_out_of_high"
    assert plan.totals.expected_students_out_of_high >= plan.naive.expected_students_out_of_high
    assert plan.totals.expected_students_out_of_high > 0


def test_a_plan_for_listed_students(tiny_ctx):
    ids = ["S0000004", "S0000008", "S0000009"]
    plan = call(tiny_ctx, "plan_interventions", budget=100_000, student_ids=ids)
    check_plan(plan, 100_000)
    assert plan.n_students == 3
    assert {a.student_id for a in plan.assignments} <= set(ids)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"budget": 10}, "budget"),  # below the cheapest intervention
        ({"budget": 0}, "budget"),
        ({"budget": 1000, "capacity": {"yoga": 3}}, "capacity"),
        ({"budget": 1000, "equity": {"attribute": "GPA", "min_share": {"1": 0.5}}},
         "equity.attribute"),
        ({"budget": 1000, "equity": {"attribute": "Locale", "min_share": {"Moon": 0.5}}},
         "equity.min_share"),
    ],
)  # fmt: skip
def test_plan_bad_arguments(tiny_ctx, arguments, field):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "plan_interventions", **arguments)
    assert caught.value.field == field
