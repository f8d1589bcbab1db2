"""query_equity, run_sql and equity_summary on a real published warehouse, checked against
independent pandas/scipy computations, plus the guards: validation, suppression, injection,
the free-SQL allow-list, row and time limits, and the reference data's null result."""

from __future__ import annotations

import hashlib
import json
import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.run import run_pipeline
from sara.settings import Settings
from tools.equity import EquityQueryInput, SqlInput, query_equity, run_sql
from tools.equity_gaps import EquitySummaryInput, equity_summary
from tools.errors import InvalidInput

pytestmark = pytest.mark.integration

# The runaway query below runs for hours unless stopped. A bound in minutes still tells
# "stopped" from "ran on" without depending on how soon a busy machine lets the guard act (it
# waits timeout_s, then gives the interrupted query a grace period of seconds to end).
RUNAWAY_STOPPED_WITHIN_S = 120

Z = stats.norm.ppf(0.975)


@pytest.fixture(scope="module")
def frame(ctx) -> pd.DataFrame:
    """Students joined with their scores, in pandas: the independent side of every check."""
    students = ctx.sql("SELECT * FROM students")
    scores = ctx.sql("SELECT student_id, risk_score, risk_level FROM scores")
    return students.merge(scores, left_on=ctx.id_column, right_on="student_id", how="inner")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(ctx, metric="outcome_rate", group_by=(), filters=None):
    return query_equity(
        EquityQueryInput(metric=metric, group_by=list(group_by), filters=filters or {}), ctx
    )


def by_label(out) -> dict:
    return {tuple(r.group.values()): r for r in out.rows}


def assert_wilson(row, events: int, n: int) -> None:
    """A Wilson bound is where the score test statistic |p̂ − p0| / √(p0(1−p0)/n) equals z."""
    p_hat = events / n
    assert row.value == pytest.approx(p_hat, abs=1e-12)
    assert row.ci_low < p_hat < row.ci_high or events in (0, n)
    for bound in (row.ci_low, row.ci_high):
        if 0 < bound < 1:
            score = abs(p_hat - bound) / math.sqrt(bound * (1 - bound) / n)
            assert score == pytest.approx(Z, rel=1e-6)


def test_outcome_rate_and_wilson_intervals_match_pandas(ctx, frame):
    out = query(ctx, "outcome_rate", ["Race"])
    expected = frame.groupby("Race")["at_risk"].agg(["sum", "size"])
    rows = by_label(out)
    assert set(rows) == {(race,) for race in expected.index}
    for race, (events, n) in expected.iterrows():
        row = rows[(race,)]
        assert (row.n, row.denominator, row.suppressed) == (n, n, False)
        assert_wilson(row, int(events), int(n))
    assert out.overall.n == len(frame)
    assert_wilson(out.overall, int(frame["at_risk"].sum()), len(frame))
    # Rows follow the spec's category order, not the alphabet.
    assert [r.group["Race"] for r in out.rows] == [
        c for c in ctx.spec.column("Race").categories if c in expected.index
    ]
    assert "Wilson" in out.interval and out.model_version == ctx.model_version


def test_means_use_t_intervals_that_match_scipy(ctx, frame):
    subset = frame[frame["Grade"].isin([11, 12])]
    out = query(ctx, "mean:AttendanceRate", ["SES_Quartile"], {"Grade": [11, 12]})
    assert out.overall.n == len(subset)
    for quartile, part in subset.groupby("SES_Quartile"):
        row = by_label(out)[(int(quartile),)]
        values = part["AttendanceRate"]
        low, high = stats.t.interval(
            0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values)
        )
        assert row.n == len(values)
        assert row.value == pytest.approx(values.mean(), rel=1e-9)
        assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
    risk = query(ctx, "mean_risk", filters={"risk_level": "High"})
    high = frame.loc[frame["risk_level"] == "High", "risk_score"]
    assert risk.overall.n == len(high)
    assert risk.overall.value == pytest.approx(high.mean())
    share = query(ctx, "share_high", ["Gender"])
    for gender, part in frame.groupby("Gender"):
        assert_wilson(
            by_label(share)[(gender,)], int((part["risk_level"] == "High").sum()), len(part)
        )


def test_true_and_false_positive_rates_match_pandas(ctx, frame):
    flagged = frame["risk_level"] == "High"
    for metric, outcome in (("tpr", 1), ("fpr", 0)):
        out = query(ctx, metric, ["Gender"])
        for gender, part in frame.groupby("Gender"):
            cohort = part[part["at_risk"] == outcome]
            row = by_label(out)[(gender,)]
            assert row.n == len(part) and row.denominator == len(cohort)
            assert_wilson(row, int(flagged[cohort.index].sum()), len(cohort))
        assert out.overall.denominator == int((frame["at_risk"] == outcome).sum())
    assert query(ctx, "tpr").overall.value != pytest.approx(query(ctx, "fpr").overall.value)


def test_small_cells_are_suppressed_as_none_never_zero(ctx, frame):
    minimum = ctx.settings.min_group_size
    out = query(ctx, "outcome_rate", ["Race", "Gender"], {"Grade": 9})
    counts = frame[frame["Grade"] == 9].groupby(["Race", "Gender"]).size()
    small = [key for key, n in counts.items() if n < minimum]
    assert small, "the data should have small Race × Gender cells in grade 9"
    rows = by_label(out)
    for key, n in counts.items():
        row = rows[key]
        assert row.n == n
        if n < minimum:
            assert row.suppressed and row.value is None and row.ci_low is None
            assert row.ci_high is None and row.denominator is None
    # A filter that leaves fewer than the minimum: the overall is suppressed too.
    cells = frame.groupby(["Race", "Locale"]).size()
    race, locale = cells[(cells > 0) & (cells < minimum)].index[0]
    tiny = query(ctx, "mean_risk", filters={"Race": race, "Locale": locale})
    assert tiny.overall.n == cells[(race, locale)]
    assert tiny.overall.suppressed and tiny.overall.value is None


def test_one_hidden_group_is_not_left_recoverable_from_the_rest(ctx, frame):
    """With a single small group, the overall minus the others would reveal it."""
    minimum = ctx.settings.min_group_size
    for race, part in frame.groupby("Race"):
        sizes = part.groupby("InternetAccess").size()
        if len(sizes) == 2 and (sizes < minimum).sum() == 1:
            out = query(ctx, "outcome_rate", ["InternetAccess"], {"Race": race})
            assert [r.suppressed for r in out.rows] == [True, True]
            assert all(r.value is None for r in out.rows)
            return
    pytest.fail("no race with exactly one small internet-access group to test with")


@pytest.mark.parametrize(
    ("group_by", "value", "rule"),
    [
        (["GPA"], "GPA", "role 'outcome_source'"),
        (["StudentID"], "StudentID", "role 'id'"),
        (["Romantic"], "Romantic", "role 'excluded'"),
        (["ShoeSize"], "ShoeSize", "unknown column"),
        (["AttendanceRate"], "AttendanceRate", "continuous"),
        (["Race", "Race"], "Race", "twice"),
        (["Race", "Gender", "Locale"], ["Race", "Gender", "Locale"], "at most 2"),
    ],
)
def test_group_by_is_refused_with_the_field_value_and_rule(ctx, group_by, value, rule):
    with pytest.raises(InvalidInput) as info:
        query(ctx, group_by=group_by)
    assert info.value.field == "group_by" and info.value.value == value
    assert rule in info.value.message


def test_filters_and_metrics_are_validated_against_the_spec(ctx):
    cases = [
        ({"Race": "Martian"}, "filters.Race", "Martian"),
        ({"Grade": 13}, "filters.Grade", 13),
        ({"risk_level": "Extreme"}, "filters.risk_level", "Extreme"),
        ({"ShoeSize": 9}, "filters", "ShoeSize"),
        ({"GPA": 2.0}, "filters", "GPA"),
    ]
    for filters, field, value in cases:
        with pytest.raises(InvalidInput) as info:
            query(ctx, filters=filters)
        assert (info.value.field, info.value.value) == (field, value)
    for metric in ("median_risk", "mean:Race", "mean:StudentID", "mean:Romantic", "mean:Nope"):
        with pytest.raises(InvalidInput) as info:
            query(ctx, metric=metric)
        assert info.value.field == "metric"
    with pytest.raises(InvalidInput, match="no students match"):
        query(ctx, filters={"Grade": 6})


def test_injection_through_values_and_names_never_widens_the_query(ctx, frame):
    values = [
        {"Race": "x' OR 1=1 --"},
        {"Race": ["White", "x') OR ('1'='1"]},
        {"Grade": "9 OR 1=1"},
        {"risk_level": "High' OR '1'='1"},
    ]
    for filters in values:
        with pytest.raises(InvalidInput) as info:
            query(ctx, filters=filters)
        assert info.value.field.startswith("filters")
    names = [
        {"group_by": ['Race" FROM students; DROP TABLE students; --']},
        {"group_by": ["Race, StudentID"]},
        {"filters": {'Race" IS NOT NULL OR "Race': "White"}},
        {"metric": "mean:GPA) FROM students --"},
    ]
    for arguments in names:
        with pytest.raises(InvalidInput):
            query_equity(EquityQueryInput(**arguments), ctx)
    # A legitimate IN filter counts exactly the matching students.
    out = query(ctx, filters={"Race": ["White", "Black"]})
    assert out.overall.n == int(frame["Race"].isin(["White", "Black"]).sum()) < len(frame)


def test_run_sql_answers_a_select_with_join_and_cte(ctx, frame):
    sql = """
        WITH flagged AS (
            SELECT s.Race, c.risk_level FROM students s
            JOIN scores c ON s.StudentID = c.student_id
        )
        SELECT Race, count(*) AS n, avg(CASE WHEN risk_level = 'High' THEN 1 ELSE 0 END) AS share
        FROM flagged GROUP BY Race ORDER BY Race
    """
    out = run_sql(SqlInput(sql=sql), ctx)
    assert out.columns == ["Race", "n", "share"] and not out.truncated
    expected = frame.groupby("Race").agg(
        n=("Race", "size"), share=("risk_level", lambda s: (s == "High").mean())
    )
    for race, n, share in out.rows:
        assert n == expected.loc[race, "n"]
        assert share == pytest.approx(expected.loc[race, "share"])
    union = run_sql(SqlInput(sql="SELECT 1 AS x UNION ALL SELECT 2 ORDER BY x"), ctx)
    assert union.rows == [[1], [2]]
    safe = run_sql(
        SqlInput(
            sql="SELECT 'nan'::DOUBLE AS a, 1.5::DECIMAL(4, 2) AS b, "
            "DATE '2024-01-02' AS c, [1, 2] AS d"
        ),
        ctx,
    )
    assert safe.rows == [[None, 1.5, "2024-01-02", [1, 2]]]
    json.dumps(safe.model_dump())


REFUSED = [
    ("DROP TABLE students", "only SELECT"),
    ("DELETE FROM scores", "only SELECT"),
    ("SELECT 1; DROP TABLE x", "exactly one statement"),
    ("ATTACH 'x.db'", "only SELECT"),
    ("COPY students TO 'x.csv'", "only SELECT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM '/etc/passwd'", "not allowed"),
    ('SELECT * FROM "/etc/passwd"', "not allowed"),
    ("SELECT * FROM glob('*')", "glob"),
    ("SELECT * FROM parquet_scan('x.parquet')", "parquet_scan"),
    ("INSTALL httpfs", "only SELECT"),
    ("LOAD httpfs", "only SELECT"),
    ("PRAGMA database_list", "only SELECT"),
    ("SET memory_limit='1GB'", "only SELECT"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT * FROM information_schema.tables", "not allowed"),
    ("SELECT * FROM duckdb_tables", "not allowed"),
    ("SELECT * FROM range(10)", "table functions"),
    ("SELECT (SELECT count(*) FROM duckdb_tables)", "not allowed"),
    ("SELECT * FROM (WITH duckdb_tables AS (SELECT 1) SELECT 1), duckdb_tables", "not allowed"),
    ("SELECT getenv('HOME')", "getenv"),
    ("CREATE TABLE y AS SELECT 1", "only SELECT"),
    ("UPDATE scores SET risk_score = 0", "only SELECT"),
    ("DESCRIBE students", "only SELECT"),
]


def test_run_sql_refuses_everything_but_a_select_on_the_warehouse(ctx):
    path = ctx.settings.warehouse_path
    before = sha256(path)
    for sql, reason in REFUSED:
        with pytest.raises(InvalidInput) as info:
            run_sql(SqlInput(sql=sql), ctx)
        # Refused by the guard before it reaches DuckDB, with the reason.
        assert info.value.message.startswith("sql refused:"), (sql, info.value.message)
        assert reason in info.value.message, (sql, info.value.message)
        assert info.value.field == "sql"
    with pytest.raises(InvalidInput):
        query(ctx, filters={"Race": "x'; DROP TABLE students; --"})
    assert sha256(path) == before
    assert ctx.sql("SELECT count(*) AS n FROM students")["n"][0] == 3000
    assert run_sql(SqlInput(sql="SELECT count(*) FROM scores"), ctx).rows == [[3000]]


def test_run_sql_caps_rows_and_reports_truncation(ctx):
    out = run_sql(SqlInput(sql="SELECT * FROM scores ORDER BY risk_score DESC", max_rows=50), ctx)
    assert out.truncated and out.row_count == 50 == len(out.rows)
    top = ctx.sql("SELECT student_id FROM scores ORDER BY risk_score DESC LIMIT 50")
    assert [r[0] for r in out.rows] == top["student_id"].tolist()
    exact = run_sql(SqlInput(sql="SELECT * FROM scores LIMIT 50", max_rows=50), ctx)
    assert not exact.truncated and exact.row_count == 50
    default = run_sql(SqlInput(sql="SELECT * FROM students"), ctx)
    assert default.truncated and default.row_count == 1000


def test_run_sql_stops_a_runaway_query(ctx):
    sql = "SELECT count(*) FROM contributions a, contributions b, contributions c"
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="exceeded 1 s"):
        run_sql(SqlInput(sql=sql, timeout_s=1), ctx)
    assert time.monotonic() - started < RUNAWAY_STOPPED_WITHIN_S
    assert run_sql(SqlInput(sql="SELECT count(*) FROM meta"), ctx).rows[0][0] > 0


def test_equity_summary_finds_the_generated_ses_gap(ctx, frame):
    out = equity_summary(EquitySummaryInput(), ctx)
    sections = {s.attribute: s for s in out.attributes}
    assert list(sections)[:2] == ["Gender", "Race"]
    assert {"SES_Quartile", "InternetAccess", "Locale", "SchoolType"} <= set(sections)
    ses = sections["SES_Quartile"]
    rates = frame.groupby("SES_Quartile")["at_risk"].mean()
    assert ses.gap == pytest.approx(rates.max() - rates.min())
    assert ses.highest_group == "1" and ses.lowest_group == "4"
    expected_p = stats.chi2_contingency(pd.crosstab(frame["SES_Quartile"], frame["at_risk"])).pvalue
    assert ses.test == "chi-square" and ses.p_value == pytest.approx(expected_p, rel=1e-6)
    assert (
        ses.significant and ses.p_adjusted < 0.05 and "SES_Quartile" in out.significant_attributes
    )
    tested = [s for s in out.attributes if s.p_value is not None]
    assert all(s.p_value <= s.p_adjusted <= 1 for s in tested)
    # Holm's step-down procedure, independently: reject while p_(i) <= alpha / (m - i).
    rejected, ordered = set(), sorted(tested, key=lambda s: s.p_value)
    for i, section in enumerate(ordered):
        if section.p_value > 0.05 / (len(ordered) - i):
            break
        rejected.add(section.attribute)
    assert rejected == set(out.significant_attributes)
    findings = out.markdown.split("## Findings", 1)[1].split("\n## ", 1)[0]
    significant_part = findings.split("No statistically significant gap", 1)[0]
    assert "(SES_Quartile)" in significant_part
    for section in out.attributes:
        if section.p_value is not None and not section.significant:
            assert f"({section.attribute})" not in significant_part
    assert sections["Gender"].model_fairness and sections["Race"].model_fairness
    assert sections["SES_Quartile"].model_fairness is None  # not a fairness attribute
    assert len(out.charts) == len(out.attributes)
    for chart in out.charts:
        path = ctx.settings.reports_dir / "equity" / chart.rsplit("/", 1)[-1]
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_equity_summary_in_a_filtered_scope(ctx, frame):
    out = equity_summary(
        EquitySummaryInput(filters={"Grade": 9}, attributes=["Gender", "Race"]), ctx
    )
    assert out.n_students == int((frame["Grade"] == 9).sum())
    assert all(s.model_fairness is None for s in out.attributes)
    assert "whole population only" in out.markdown
    assert all(chart.split("/")[-1].startswith("scope-") for chart in out.charts)
    with pytest.raises(InvalidInput) as info:
        equity_summary(EquitySummaryInput(attributes=["GPA"]), ctx)
    assert (info.value.field, info.value.value) == ("attributes", "GPA")


@pytest.fixture(scope="module")
def reference_ctx(reference_csv, tmp_path_factory):
    from tools.context import load_context

    settings = Settings(home=tmp_path_factory.mktemp("reference") / "ws")
    run_pipeline(settings, data=reference_csv, progress=lambda _: None)
    context = load_context(settings)
    yield context
    context.close()


def test_reference_data_shows_no_significant_gap_and_says_so(reference_ctx):
    out = equity_summary(EquitySummaryInput(), reference_ctx)
    sections = {s.attribute: s for s in out.attributes}
    for attribute in ("Race", "Gender", "SES_Quartile"):
        section = sections[attribute]
        assert section.p_value is not None and not section.significant, attribute
    assert out.significant_attributes == []
    assert "No statistically significant gap in outcomes was found for" in out.markdown
    sentence = out.markdown.split("No statistically significant gap in outcomes was found for")[1]
    sentence = sentence.split("\n", 1)[0]
    assert all(f"({a})" in sentence for a in ("Race", "Gender", "SES_Quartile"))
    assert "Statistically significant gaps" not in out.markdown
    rates = np.array([g.outcome_rate for g in sections["SES_Quartile"].groups])
    assert rates.max() - rates.min() < 0.02
