"""Every validation rule, each with input that breaks it; nothing is dropped silently."""

import pandas as pd
import pytest

from data.spec import load_spec
from data.synthetic.cohort import generate_frame
from data.validate import SchemaMismatchError, assign_ids, validate_frame


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    cohort, _ = generate_frame(50, seed=3)
    return cohort.astype(object)


def broken(good: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = good.copy()
    frame.loc[row, column] = value
    return frame


def test_clean_data_passes_every_rule(spec, good):
    report = validate_frame(good, spec)
    assert report.n_valid == 50 and report.n_quarantined == 0 and report.issues.empty


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("GPA", 4.5, "must be between 0 and 4"),
        ("GPA", -0.1, "must be between 0 and 4"),
        ("AttendanceRate", 1.2, "must be between 0 and 1"),
        ("Age", 35, "must be between 10 and 21"),
        ("Age", "fifteen", "must be a number"),
        ("Age", 15.5, "must be a whole number"),
        ("StudyHours", None, "required: value is missing"),
        ("Race", "Martian", "must be one of: White, Hispanic, Black, Asian, Two-or-more, Other"),
        ("Gender", None, "required: value is missing"),
        ("InternetAccess", 2, "must be 0/1 (or true/false)"),
        ("InternetAccess", "maybe", "must be 0/1 (or true/false)"),
        ("SES_Quartile", 5, "must be between 1 and 4"),
    ],
)
def test_each_rule_reports_row_column_value_and_rule(spec, good, column, value, rule):
    report = validate_frame(broken(good, 7, column, value), spec)
    assert report.n_quarantined == 1 and report.n_valid == 49
    issue = report.issues.iloc[0]
    assert (issue["row"], issue["column"], issue["rule"]) == (8, column, rule)
    assert issue["student_id"] == good.loc[7, "StudentID"]
    assert issue["value"] == ("" if value is None else str(value))
    assert report.quarantined["_row"].tolist() == [8]


def test_duplicate_ids_keep_the_first_and_quarantine_the_rest(spec, good):
    frame = broken(good, 9, "StudentID", good.loc[2, "StudentID"])
    report = validate_frame(frame, spec)
    assert report.issues[["row", "column"]].values.tolist() == [[10, "StudentID"]]
    assert "first seen on row 3" in report.issues.iloc[0]["rule"]


def test_several_problems_in_one_row_are_all_reported_once(spec, good):
    frame = broken(broken(good, 4, "GPA", 9), 4, "Race", "?")
    report = validate_frame(frame, spec)
    assert report.n_quarantined == 1
    assert sorted(report.issues["column"]) == ["GPA", "Race"]


def test_valid_and_quarantined_add_up_to_rows_read(spec, good):
    frame = good.copy()
    frame.loc[[1, 5, 6], "GPA"] = 7
    frame.loc[[5, 30], "Locale"] = "Moon"
    report = validate_frame(frame, spec)
    assert report.n_valid + report.n_quarantined == report.n_rows == 50
    assert sorted(report.quarantined["_row"]) == [2, 6, 7, 31]
    by_rule = report.issues_by_rule().set_index("column")["count"].to_dict()
    assert by_rule == {"GPA": 3, "Locale": 2}


def test_valid_rows_come_out_typed(spec, good):
    valid = validate_frame(good, spec).valid
    assert valid["Age"].dtype == "int64" and valid["InternetAccess"].dtype == "int64"
    assert valid["GPA"].dtype == "float64" and valid["Race"].dtype == "string"


def test_wrong_columns_stop_with_one_message_listing_them(spec, good):
    frame = good.drop(columns=["GPA", "Race"]).rename(columns={"Locale": "locale"}).assign(Shoe=1)
    with pytest.raises(SchemaMismatchError) as info:
        validate_frame(frame, spec)
    message = str(info.value)
    assert "missing column(s): Race, Locale, GPA" in message
    assert "unexpected column(s): locale (did you mean Locale?), Shoe" in message


def test_a_header_read_as_one_column_hints_at_the_delimiter(spec):
    with pytest.raises(SchemaMismatchError, match="delimiter"):
        validate_frame(pd.DataFrame({"Age:Grade:Gender": ["1:2:3"]}), spec)


def test_students_without_an_id_get_a_stable_one(spec, good):
    without = good.drop(columns=["StudentID"])
    first = validate_frame(without, spec).valid["StudentID"].tolist()
    again = validate_frame(without, spec).valid["StudentID"].tolist()
    assert first == again == [f"S{i:07d}" for i in range(1, 51)]
    partly = broken(good, 3, "StudentID", None)
    frame, assigned = assign_ids(partly, spec)
    assert assigned == 1 and frame.loc[3, "StudentID"] == "S0000004"


def test_chunked_validation_gives_the_same_report(spec, good):
    frame = broken(broken(good, 3, "GPA", 9), 41, "Race", "?")
    frame.loc[45, "StudentID"] = frame.loc[1, "StudentID"]
    whole = validate_frame(frame, spec)
    chunked = validate_frame(frame, spec, chunk_rows=7)
    pd.testing.assert_frame_equal(whole.issues, chunked.issues)
    pd.testing.assert_frame_equal(whole.valid, chunked.valid)
    pd.testing.assert_frame_equal(whole.quarantined, chunked.quarantined)
    assert whole.issues["row"].tolist() == [4, 42, 46]


def test_checking_one_value_applies_the_frames_rules_with_the_same_words():
    from data.spec import load_spec
    from data.validate import check_value, validate_frame

    spec = load_spec()
    cases = [
        ("AttendanceRate", 1.7), ("AttendanceRate", "0.9"), ("AttendanceRate", "lots"),
        ("AttendanceRate", None), ("Grade", 9.5), ("Grade", 10), ("SchoolType", "Castle"),
        ("SchoolType", " Public "), ("InternetAccess", "yes"), ("InternetAccess", 2),
        ("InternetAccess", True), ("StudyHours", float("nan")), ("StudyHours", "nan"),
    ]  # fmt: skip
    for column, value in cases:
        typed, rule = check_value(spec.column(column), value)
        sub = spec.model_copy(update={"columns": (spec.column(column),)})
        report = validate_frame(pd.DataFrame({column: pd.Series([value], dtype=object)}), sub)
        frame_rule = report.issues["rule"].iloc[0] if report.n_quarantined else None
        assert rule == frame_rule, (column, value)
        if rule is None:
            assert typed == report.valid[column].iloc[0], (column, value)
