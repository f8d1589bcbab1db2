"""query_equity and equity_summary on the tiny warehouse: values checked against plain SQL,
intervals, small-cell suppression, tests and the report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from data.spec import ColumnSpec
from tests.unit.tiny_warehouse import ROWS, call
from tools.equity import value_label
from tools.equity_gaps import HEADLINE_SHARE, headline_pair
from tools.equity_report import GroupOutcome
from tools.errors import InvalidInput

JOIN = 'FROM students s JOIN scores c ON s."StudentID" = c.student_id'


def by_group(ctx, column: str, expression: str) -> dict:
    frame = ctx.sql(f'SELECT s."{column}" AS g, count(*) AS n, {expression} AS v {JOIN} GROUP BY 1')
    return {r.g: (r.n, r.v) for r in frame.itertuples()}


# --- query_equity --------------------------------------------------------------------------


def test_the_overall_outcome_rate_with_its_wilson_interval(tiny_ctx):
    out = call(tiny_ctx, "query_equity")
    rate = tiny_ctx.sql("SELECT avg(at_risk) AS r FROM students")["r"].iloc[0]
    assert out.metric == "outcome_rate"
    assert out.interval == "Wilson score interval"
    assert out.rows == []
    assert out.overall.n == out.overall.denominator == ROWS
    assert out.overall.value == pytest.approx(rate)
    assert 0 <= out.overall.ci_low < out.overall.value < out.overall.ci_high <= 1
    assert out.min_group_size == tiny_ctx.settings.min_group_size == 20


def test_outcome_rate_by_race_matches_sql_and_hides_small_groups(tiny_ctx):
    out = call(tiny_ctx, "query_equity", metric="outcome_rate", group_by=["Race"])
    expected = by_group(tiny_ctx, "Race", "avg(at_risk)")
    assert [r.group["Race"] for r in out.rows] == list(tiny_ctx.spec.column("Race").categories)
    assert sum(r.n for r in out.rows) == out.overall.n == ROWS
    for row in out.rows:
        n, value = expected[row.group["Race"]]
        assert row.n == n
        assert row.label == f"Race = {row.group['Race']}"
        if row.suppressed:
            assert (row.value, row.ci_low, row.ci_high, row.denominator) == (None,) * 4
        else:
            assert row.value == pytest.approx(value)
            assert row.ci_low <= row.value <= row.ci_high
    small = {r.group["Race"] for r in out.rows if r.n < out.min_group_size}
    hidden = {r.group["Race"] for r in out.rows if r.suppressed}
    # One hidden group alone could be recovered from the overall: the next smallest goes too.
    assert small == {"Other"}
    assert hidden == {"Other", "Asian"}


def test_every_small_cell_of_two_attributes_is_suppressed(tiny_ctx):
    out = call(tiny_ctx, "query_equity", metric="mean_risk", group_by=["Race", "Gender"])
    assert len(out.rows) == 12
    assert any(r.suppressed for r in out.rows)
    for row in out.rows:
        assert set(row.group) == {"Race", "Gender"}
        if row.n < out.min_group_size:
            assert row.suppressed and row.value is None
        if not row.suppressed:
            assert 0 <= row.value <= 1
    assert out.interval == "Student-t interval"


def test_the_true_positive_rate_is_over_the_students_with_the_outcome(tiny_ctx):
    out = call(tiny_ctx, "query_equity", metric="tpr", group_by=["Gender"])
    positives = by_group(tiny_ctx, "Gender", "sum(at_risk)")
    flagged = by_group(
        tiny_ctx, "Gender", "sum(CASE WHEN at_risk = 1 AND c.risk_level = 'High' THEN 1 END)"
    )
    for row in out.rows:
        gender = row.group["Gender"]
        assert not row.suppressed
        assert row.denominator == positives[gender][1]
        assert row.value == pytest.approx(flagged[gender][1] / positives[gender][1])


def test_the_mean_of_a_numeric_column_under_filters(tiny_ctx):
    out = call(
        tiny_ctx,
        "query_equity",
        metric="mean:AttendanceRate",
        group_by=["SES_Quartile"],
        filters={"SchoolType": "Public"},
    )
    expected = tiny_ctx.sql(
        "SELECT SES_Quartile AS g, avg(AttendanceRate) AS v FROM students "
        "WHERE SchoolType = 'Public' GROUP BY 1"
    )
    assert out.metric == "mean:AttendanceRate"
    assert out.filters == {"SchoolType": ["Public"]}
    assert [r.group["SES_Quartile"] for r in out.rows] == [1, 2, 3, 4]
    for row, value in zip(out.rows, expected.sort_values("g")["v"], strict=True):
        assert row.value == pytest.approx(value)
        assert row.ci_low < row.value < row.ci_high


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"metric": "median"}, "metric"),
        ({"metric": "mean:Race"}, "metric"),
        ({"group_by": ["AttendanceRate"]}, "group_by"),
        ({"group_by": ["Race", "Gender", "Locale"]}, "group_by"),
        ({"group_by": ["Planet"]}, "group_by"),
        ({"filters": {"Grade": 99}}, "filters.Grade"),
    ],
)
def test_query_equity_bad_arguments(tiny_ctx, arguments, field):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "query_equity", **arguments)
    assert caught.value.field == field


# --- equity_summary ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def summary(tiny_ctx):
    return call(tiny_ctx, "equity_summary")


def test_the_summary_covers_the_protected_and_named_context_columns(summary, tiny_ctx):
    assert [s.attribute for s in summary.attributes] == [
        "Gender", "Race", "SES_Quartile", "SchoolType", "Locale", "InternetAccess",
    ]  # fmt: skip
    assert summary.n_students == ROWS
    rate = tiny_ctx.sql("SELECT avg(at_risk) AS r FROM students")["r"].iloc[0]
    assert summary.overall_outcome_rate == pytest.approx(rate)
    assert summary.outcome == "at_risk (GPA < 2.0)"


def test_gaps_tests_and_holm_correction_are_consistent(summary, tiny_ctx):
    for section in summary.attributes:
        floor = max(summary.min_group_size, math.ceil(HEADLINE_SHARE * summary.n_students))
        shown = [g for g in section.groups if not g.suppressed and g.n >= floor]
        if tiny_ctx.spec.column(section.attribute).dtype == "int":  # ordered: the extremes
            pair = [min(shown, key=lambda g: g.group), max(shown, key=lambda g: g.group)]
            assert "lowest vs highest level" in section.gap_basis
        else:
            pair = [
                max(shown, key=lambda g: g.outcome_rate),
                min(shown, key=lambda g: g.outcome_rate),
            ]
        rates = sorted(g.outcome_rate for g in pair)
        assert section.gap == pytest.approx(rates[1] - rates[0])
        assert section.highest_group == max(pair, key=lambda g: g.outcome_rate).label
        assert section.p_adjusted >= section.p_value
        assert section.significant == (section.p_adjusted < summary.alpha)
        for group in section.groups:
            if group.suppressed:
                assert group.outcome_rate is None and group.mean_risk is None
    significant = [s.attribute for s in summary.attributes if s.significant]
    assert summary.significant_attributes == significant
    # The generator builds an income gap into the outcome; 600 students show it.
    assert "SES_Quartile" in significant


def test_the_summary_reports_model_fairness_and_writes_its_charts(summary):
    protected = {s.attribute: s.model_fairness for s in summary.attributes}
    assert {g.metric for g in protected["Gender"]} >= {"tpr", "calibration_gap"}
    assert len(summary.charts) == len(summary.attributes)
    for chart in summary.charts:
        assert Path(chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for section in summary.attributes:
        assert section.label in summary.markdown


def test_a_chart_drawn_from_the_same_numbers_is_kept_and_other_numbers_redraw_it(tmp_path):
    from tools.equity_report import AttributeSection, outcome_chart

    def section(rate: float) -> AttributeSection:
        groups = [
            GroupOutcome.model_construct(label=label, suppressed=False, outcome_rate=r,
                                         outcome_ci=(r - 0.05, r + 0.05))
            for label, r in (("a", rate), ("b", 0.3))
        ]  # fmt: skip
        return AttributeSection.model_construct(attribute="x", label="X", groups=groups)

    path = tmp_path / "x.png"
    assert outcome_chart(section(0.2), path) == str(path)
    first = path.read_bytes()
    path.write_bytes(first + b"kept")  # a redraw would replace these bytes
    outcome_chart(section(0.2), path)
    assert path.read_bytes() == first + b"kept"
    outcome_chart(section(0.25), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.read_bytes() != first + b"kept"
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # nothing half-written left


def test_a_filtered_summary_drops_the_fixed_column_and_model_fairness(tiny_ctx):
    out = call(tiny_ctx, "equity_summary", filters={"SchoolType": "Public"})
    public = tiny_ctx.sql("SELECT count(*) AS n FROM students WHERE SchoolType = 'Public'")
    assert out.n_students == public["n"].iloc[0]
    assert out.filters == {"SchoolType": ["Public"]}
    assert "SchoolType" not in [s.attribute for s in out.attributes]
    assert all(s.model_fairness is None for s in out.attributes)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"attributes": ["GPA"]}, "attributes"),
        ({"attributes": []}, "attributes"),
        ({"filters": {"Locale": "Moon"}}, "filters.Locale"),
    ],
)
def test_equity_summary_bad_arguments(tiny_ctx, arguments, field):
    with pytest.raises(InvalidInput) as caught:
        call(tiny_ctx, "equity_summary", **arguments)
    assert caught.value.field == field


def _group(value, n, rate):
    return GroupOutcome(
        group=value, label=value_label(value), n=n, suppressed=False, outcome_rate=rate,
        outcome_ci=None, mean_risk=rate, mean_risk_ci=None,
    )  # fmt: skip


def test_headline_gaps_compare_ordered_extremes_never_missing_or_tiny_groups():
    band = ColumnSpec(name="band", dtype="category", categories=("1", "2", "3"), ordered=True,
                      role="context")  # fmt: skip
    groups = [
        _group("1", 400, 0.30), _group("2", 400, 0.35), _group("3", 400, 0.10),
        _group(None, 300, 0.60),  # "(missing)": never a headline group
        _group("2", 22, 0.90),  # a handful of students cannot set the headline either
    ]  # fmt: skip
    (first, last), basis = headline_pair(band, groups, 1522, 20)
    assert (first.group, last.group) == ("1", "3") and "lowest vs highest level" in basis
    plain = band.model_copy(update={"ordered": False})
    (high, low), basis = headline_pair(plain, groups, 1522, 20)
    assert (high.group, low.group) == ("2", "3") and high.n == 400
    assert headline_pair(plain, groups[:1], 1522, 20) == (None, None)


def test_the_design_effect_of_students_in_several_rows():
    import numpy as np

    from tools.equity_gaps import clustering

    ones = clustering(np.ones(500), np.random.default_rng(1).integers(0, 2, 500))
    assert ones.factor == 1.0  # one row per student: nothing to adjust
    rng = np.random.default_rng(2)
    alike = rng.integers(0, 2, 400)  # three rows per student, all with the same outcome
    same = clustering(np.full(400, 3), 3 * alike)
    assert same.icc > 0.99 and abs(same.factor - 3.0) < 0.02
    independent = clustering(np.full(4000, 3), rng.binomial(3, 0.4, 4000))
    assert independent.icc < 0.03 and independent.factor < 1.06
    assert "design effect" in same.note


def test_repeated_students_are_tested_as_clusters():
    from data.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "data" / "specs" / "higher_ed.yaml")
    assert spec.person_key == ("id_student", False)
    assert load_spec(None).person_key is None


@pytest.mark.parametrize("protected", [False, True])
@pytest.mark.parametrize("metric", ["outcome_rate", "mean_risk"])
def test_several_groupings_in_one_scan_equal_one_call_each(tiny_ctx, metric, protected):
    """The equity summary reads every attribute's table in one scan (GROUPING SETS): each must
    equal the table its own query gives, with or without disclosure control."""
    from tools import disclosure
    from tools.equity import compute_equity, compute_equity_many

    groupings = [[], ["Locale"], ["SchoolType"], ["Locale", "SchoolType"], ["Grade"], ["Locale"]]
    filters = {"risk_level": ["High", "Medium"]}
    with disclosure.audience(protected):
        many = compute_equity_many(tiny_ctx, metric, groupings, filters)
        each = [compute_equity(tiny_ctx, metric, g, filters) for g in groupings]
    assert [r.group_by for r in many] == groupings

    def same(a, b) -> None:  # sums in another order: equal to the last bits of a float
        assert a.model_dump(exclude={"value", "ci_low", "ci_high"}) == b.model_dump(
            exclude={"value", "ci_low", "ci_high"}
        )
        for name in ("value", "ci_low", "ci_high"):
            x, y = getattr(a, name), getattr(b, name)
            assert x == y if y is None else x == pytest.approx(y, rel=1e-12, abs=1e-15)

    for together, alone in zip(many, each, strict=True):
        same(together.overall, alone.overall)
        assert len(together.rows) == len(alone.rows) and (together.rows or not together.group_by)
        for a, b in zip(together.rows, alone.rows, strict=True):
            same(a, b)
