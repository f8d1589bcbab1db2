"""score_students on a real published warehouse and registered model."""

import pytest

from tools.errors import InvalidInput, NotFound
from tools.scoring import ScoreInput, score_students

pytestmark = pytest.mark.integration


def test_scores_known_students_in_the_seed_response_shape(ctx):
    out = score_students(ScoreInput(student_ids=["S0000042", "S0000007"]), ctx)
    assert [s.student_id for s in out.students] == ["S0000042", "S0000007"]
    stored = ctx.sql(
        "SELECT student_id, risk_score, risk_level FROM scores "
        "WHERE student_id IN ('S0000042', 'S0000007') ORDER BY student_id DESC"
    )
    for student, row in zip(out.students, stored.itertuples(), strict=True):
        assert student.risk_score == pytest.approx(row.risk_score, abs=1e-4)
        assert student.risk_level == row.risk_level
    first = out.students[0].model_dump()
    assert {"risk_score", "risk_level", "top_risk_factors"} <= set(first)
    assert out.model_version == ctx.model_version and out.data_timestamp


def test_scores_raw_records_including_a_batch_of_thousands(ctx):
    records = (
        ctx.sql("SELECT * FROM students LIMIT 2000")
        .drop(
            columns=[
                "GPA",
                "at_risk",
                "TestScore_Math",
                "TestScore_Reading",
                "TestScore_Science",
                "Gender",
                "Race",
                "Romantic",
            ]
        )
        .to_dict("records")
    )
    out = score_students(ScoreInput(records=records), ctx)
    assert len(out.students) == 2000
    by_id = score_students(ScoreInput(student_ids=[r["StudentID"] for r in records[:20]]), ctx)
    assert [s.risk_score for s in out.students[:20]] == [s.risk_score for s in by_id.students]


def test_unknown_students_and_bad_values_are_clear_errors(ctx):
    with pytest.raises(NotFound, match="S9999999"):
        score_students(ScoreInput(student_ids=["S0000001", "S9999999"]), ctx)
    record = (
        ctx.sql("SELECT * FROM students LIMIT 1").drop(columns=["at_risk"]).to_dict("records")[0]
    )
    with pytest.raises(InvalidInput) as info:
        score_students(ScoreInput(records=[{**record, "AttendanceRate": 1.7}]), ctx)
    assert info.value.field == "records.0.AttendanceRate" and "between 0 and 1" in str(info.value)
    with pytest.raises(InvalidInput, match="unknown column"):
        score_students(ScoreInput(records=[{**record, "ShoeSize": 9}]), ctx)
    with pytest.raises(InvalidInput, match="lack feature column"):
        score_students(ScoreInput(records=[{"Age": 15}]), ctx)
