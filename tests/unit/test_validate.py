"""Every validation rule, each with input that breaks it; nothing is dropped silently."""

import numpy as np
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


# Ids as districts have them -------------------------------------------------------------

PARTS = ["id_student", "code_module", "code_presentation"]


def enrolment_spec(ids: list[str] = PARTS, **changes):
    """A spec with id columns ``ids`` (composite when several, none when empty)."""
    from data.spec import load_spec_text

    id_column = f"id_column: [{', '.join(ids)}]\n" if ids else ""
    id_columns = "".join(f"  - {{name: {name}, dtype: string, role: id}}\n" for name in ids)
    text = (
        f"name: enrolments\n{id_column}id_prefix: E\n"
        'outcome: {rule: "final_result in [Fail, Withdrawn]"}\n'
        f"columns:\n{id_columns}"
        "  - {name: clicks, dtype: int, min: 0, role: actionable}\n"
        "  - {name: final_result, dtype: category, categories: [Pass, Fail, Withdrawn], "
        "role: outcome_source}\n"
        "feature_sets: {early: [clicks]}\n"
    )
    text += "".join(f"{k}: {v}\n" for k, v in changes.items())
    return load_spec_text(text, "enrolment spec", None)


def enrolments(students, modules, terms) -> pd.DataFrame:
    n = len(students)
    return pd.DataFrame(
        {
            "id_student": students,
            "code_module": modules,
            "code_presentation": terms,
            "clicks": list(range(10, 10 + n)),
            "final_result": (["Pass", "Fail", "Withdrawn"] * n)[:n],
        }
    )


def test_a_composite_id_becomes_one_key_column_first_and_the_parts_stay():
    frame = enrolments(
        [" 0048213 ", "0048213", "A-17"], ["AAA", "BBB", "AAA"], ["2013J", "2013J", "2014B"]
    )
    report = validate_frame(frame, enrolment_spec())
    assert report.n_valid == 3 and report.ids_assigned == 0
    valid = report.valid
    assert list(valid.columns)[:4] == [
        "record_id",
        "id_student",
        "code_module",
        "code_presentation",
    ]
    assert valid["record_id"].tolist() == [
        "0048213:AAA:2013J",
        "0048213:BBB:2013J",
        "A-17:AAA:2014B",
    ]
    assert valid["record_id"].dtype == "string"
    assert valid["id_student"].tolist() == ["0048213", "0048213", "A-17"]
    np.testing.assert_array_equal(enrolment_spec().outcome.label(valid), [0, 1, 1])


def test_key_name_and_separator_come_from_the_spec():
    spec = enrolment_spec(key_name="enrolment", key_separator="'|'")
    report = validate_frame(enrolments(["1"], ["AAA"], ["2013J"]), spec)
    assert report.valid["enrolment"].tolist() == ["1|AAA|2013J"]


def test_a_composite_part_that_is_missing_or_unsafe_is_a_row_issue():
    frame = enrolments(
        ["1", None, "3/4", "5", "6:7", "8"], ["AAA"] * 6, ["2013J", "2013J", "2013J", "", "x", "\t"]
    )
    report = validate_frame(frame, enrolment_spec())
    rules = report.issues[["row", "column", "rule"]].values.tolist()
    assert rules == [
        [2, "id_student", "required: value is missing"],
        [3, "id_student", "id must not contain '/' or control characters"],
        [4, "code_presentation", "required: value is missing"],
        [5, "id_student", "id part must not contain the key separator ':'"],
        [6, "code_presentation", "required: value is missing"],
    ]
    assert report.n_valid + report.n_quarantined == report.n_rows == 6
    assert report.valid["record_id"].tolist() == ["1:AAA:2013J"]


def test_a_composite_part_missing_from_the_table_is_a_missing_column():
    frame = enrolments(["1"], ["AAA"], ["2013J"]).drop(columns=["code_module"])
    with pytest.raises(SchemaMismatchError, match="missing column"):
        validate_frame(frame, enrolment_spec())


REPEATS = (["1", "2", "1", "3", "1", "2"], ["AAA"] * 6, ["2013J"] * 6)


def test_repeated_ids_are_rejected_by_default_and_the_report_says_why():
    report = validate_frame(enrolments(*REPEATS), enrolment_spec())
    assert report.n_valid + report.n_quarantined == report.n_rows == 6
    assert report.quarantined["_row"].tolist() == [3, 5, 6]
    assert report.issues["rule"].tolist() == [
        "id must be unique (first seen on row 1)",
        "id must be unique (first seen on row 1)",
        "id must be unique (first seen on row 2)",
    ]
    assert set(report.issues["column"]) == {"record_id"}
    assert report.issues["student_id"].tolist() == ["1:AAA:2013J", "1:AAA:2013J", "2:AAA:2013J"]
    assert (report.repeated_rows, report.repeated_ids) == (3, 2)
    assert report.repeated_ids_advice == (
        "3 rows repeat 2 ids (e.g. '1:AAA:2013J'); add a part to the composite id_column "
        "(e.g. term) or set repeated_ids: enrolments to keep every row"
    )


def test_repeated_single_ids_advise_a_composite_id(spec, good):
    frame = broken(good, 9, "StudentID", good.loc[2, "StudentID"])
    report = validate_frame(frame, spec)
    assert (report.repeated_rows, report.repeated_ids) == (1, 1)
    assert report.repeated_ids_advice.startswith(
        f"1 row repeats 1 id (e.g. {good.loc[2, 'StudentID']!r}); declare a composite "
        "id_column (e.g. student × course × term) or set repeated_ids: enrolments"
    )
    assert validate_frame(good, spec).repeated_ids_advice == ""


def test_repeated_ids_as_enrolments_keep_every_row_numbered_in_file_order():
    report = validate_frame(enrolments(*REPEATS), enrolment_spec(repeated_ids="enrolments"))
    assert report.n_valid == report.n_rows == 6 and report.n_quarantined == 0
    assert report.valid["record_id"].tolist() == [
        "1:AAA:2013J", "2:AAA:2013J", "1:AAA:2013J#2", "3:AAA:2013J", "1:AAA:2013J#3",
        "2:AAA:2013J#2",
    ]  # fmt: skip
    assert report.valid["id_student"].tolist() == REPEATS[0]
    assert (report.repeated_rows, report.repeated_ids) == (3, 2)
    assert report.repeated_ids_advice == ""


def test_a_numbered_enrolment_that_collides_with_a_real_id_is_still_caught():
    spec = enrolment_spec(["id_student"], repeated_ids="enrolments")
    frame = pd.DataFrame(
        {"id_student": ["7", "7", "7#2"], "clicks": [1, 2, 3], "final_result": ["Pass"] * 3}
    )
    report = validate_frame(frame, spec)
    assert report.valid["id_student"].tolist() == ["7", "7#2"]
    assert report.issues["rule"].tolist() == ["id must be unique (first seen on row 2)"]
    assert report.n_valid + report.n_quarantined == 3


def test_ids_are_kept_verbatim_but_for_surrounding_spaces(spec, good):
    frame = good.head(6).copy()
    frame["StudentID"] = [" 000123", "48213 ", "ab-12-x", "Ünï 7", "S 1", "12.50"]
    report = validate_frame(frame, spec)
    assert report.valid["StudentID"].tolist() == [
        "000123", "48213", "ab-12-x", "Ünï 7", "S 1", "12.50"
    ]  # fmt: skip
    assert report.ids_assigned == 0


def test_numeric_ids_read_as_numbers_keep_their_digits(spec, good):
    frame = good.head(3).copy()
    frame["StudentID"] = [48213.0, np.nan, 7.0]
    assert validate_frame(frame, spec).valid["StudentID"].tolist() == ["48213", "S0000002", "7"]
    frame["StudentID"] = [48213, 5, 7]
    assert validate_frame(frame, spec).valid["StudentID"].tolist() == ["48213", "5", "7"]


def test_ids_with_a_slash_or_control_characters_are_row_issues(spec, good):
    frame = good.head(5).copy()
    frame["StudentID"] = ["a/b", "ok-1", "bell\x07", "new\nline", "ok-2"]
    report = validate_frame(frame, spec)
    assert report.issues[["row", "column", "rule"]].values.tolist() == [
        [r, "StudentID", "id must not contain '/' or control characters"] for r in (1, 3, 4)
    ]
    assert report.valid["StudentID"].tolist() == ["ok-1", "ok-2"]
    assert report.n_valid + report.n_quarantined == 5


def test_without_an_id_column_rows_get_a_generated_key():
    spec = enrolment_spec([])
    assert spec.key_column == spec.id_column == "record_id"
    frame = enrolments(["x"] * 3, ["y"] * 3, ["z"] * 3)[["clicks", "final_result"]]
    report = validate_frame(frame, spec)
    assert list(report.valid.columns) == ["record_id", "clicks", "final_result"]
    assert report.valid["record_id"].tolist() == ["E0000001", "E0000002", "E0000003"]
    assert report.ids_assigned == 3
    with pytest.raises(SchemaMismatchError, match="unexpected column"):
        validate_frame(frame.assign(record_id=["a", "b", "c"]), spec)


def test_composite_parts_keep_leading_zeros_through_ingest(tmp_path):
    from data.ingest import ingest

    path = tmp_path / "enrolments.csv"
    path.write_text(
        "id_student,code_module,code_presentation,clicks,final_result\n"
        "0042,007,2013J,5,Pass\n0042,008,2013J,6,Fail\n"
    )
    report = ingest(path, enrolment_spec(), tmp_path / "quarantine")
    assert report.valid["record_id"].tolist() == ["0042:007:2013J", "0042:008:2013J"]
