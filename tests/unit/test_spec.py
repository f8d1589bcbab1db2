"""The data contract refuses every unsafe spec, and a different schema needs no code change."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from data.spec import Role, SpecError, load_spec
from data.validate import validate_frame

BUILTIN = Path(__file__).resolve().parents[2] / "data" / "specs" / "student_performance.yaml"


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(BUILTIN.read_text())


def write(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_builtin_spec_covers_the_public_schema():
    spec = load_spec()
    assert len([c for c in spec.columns if c.role != Role.ID]) == 21
    assert spec.outcome.rule == "GPA < 2.0"
    assert spec.outcome_sources == ["GPA"]
    assert spec.protected == ["Gender", "Race"]
    early, full = set(spec.features("early")), set(spec.features("full"))
    assert not early & {"GPA", "TestScore_Math", "TestScore_Reading", "TestScore_Science"}
    assert full - early == {"TestScore_Math", "TestScore_Reading", "TestScore_Science"}
    assert "GPA" not in full


def test_no_feature_set_of_the_builtin_spec_holds_outcome_or_protected_columns():
    spec = load_spec()
    for name in spec.feature_sets:
        roles = {spec.column(f).role for f in spec.features(name)}
        assert roles <= {Role.CONTEXT, Role.ACTIONABLE}


def mutate(raw, **changes):
    spec = copy.deepcopy(raw)
    for key, value in changes.items():
        spec[key] = value
    return spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["feature_sets"]["early"].append("GPA"), "outcome-source column"),
        (lambda s: s["feature_sets"]["early"].append("Race"), "protected column 'Race'"),
        (lambda s: s["feature_sets"]["early"].append("Romantic"), "role 'excluded'"),
        (lambda s: s["feature_sets"]["early"].append("StudentID"), "role 'id'"),
        (lambda s: s["feature_sets"]["early"].append("Shoe_Size"), "unknown column 'Shoe_Size'"),
        (lambda s: s["feature_sets"].update(empty=[]), "feature set 'empty' is empty"),
        (
            lambda s: s["outcome"].update(rule="AttendanceRate < 0.8"),
            "must have role 'outcome_source'",
        ),
        (lambda s: s["outcome"].update(rule="Shoe_Size < 2"), "not a declared column"),
        (lambda s: s["outcome"].update(rule="GPA is low"), "cannot read"),
        (lambda s: s["outcome"].update(rule="GPA < 2 or"), "cannot read 'or'"),
        (
            lambda s: s["columns"].append({"name": "Age", "dtype": "int", "role": "context"}),
            "declared twice",
        ),
        (
            lambda s: s["columns"].append({"name": "X", "dtype": "category", "role": "context"}),
            "needs 'categories'",
        ),
        (
            lambda s: s["columns"].append(
                {"name": "X", "dtype": "int", "min": 5, "max": 1, "role": "context"}
            ),
            "above max",
        ),
        (lambda s: s["columns"].append({"name": "X", "dtype": "int", "role": "nonsense"}), "role"),
        (lambda s: s.update(id_column="Age"), "role 'id'"),
    ],
)
def test_unsafe_or_inconsistent_specs_are_refused(tmp_path, raw, change, message):
    change(raw)
    with pytest.raises(SpecError, match=message):
        load_spec(write(tmp_path, raw))


def test_protected_features_need_an_explicit_opt_in(tmp_path, raw):
    raw["feature_sets"]["early"].append("Gender")
    raw["allow_protected_features"] = True
    assert "Gender" in load_spec(write(tmp_path, raw)).features("early")


def test_unreadable_spec_files_are_clear_errors(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- a list")
    with pytest.raises(SpecError, match="YAML mapping"):
        load_spec(bad)


def test_unknown_feature_set_names_the_known_ones():
    with pytest.raises(SpecError, match="known: early, full"):
        load_spec().features("late")


def test_another_districts_schema_works_without_code_changes(tmp_path):
    spec_path = write(
        tmp_path,
        {
            "name": "district_b",
            "id_column": "pupil",
            "id_prefix": "P",
            "outcome": {"name": "failing", "rule": "credits_earned < 5 or core_fails >= 2"},
            "columns": [
                {"name": "pupil", "dtype": "string", "role": "id"},
                {"name": "ell", "dtype": "bool", "role": "protected"},
                {"name": "days_absent", "dtype": "int", "min": 0, "max": 180, "role": "actionable"},
                {
                    "name": "campus",
                    "dtype": "category",
                    "categories": ["North", "South"],
                    "role": "context",
                },
                {
                    "name": "credits_earned",
                    "dtype": "float",
                    "min": 0,
                    "max": 8,
                    "role": "outcome_source",
                },
                {
                    "name": "core_fails",
                    "dtype": "int",
                    "min": 0,
                    "max": 4,
                    "role": "outcome_source",
                },
            ],
            "feature_sets": {"early": ["days_absent", "campus"]},
        },
    )
    spec = load_spec(spec_path)
    frame = pd.DataFrame(
        {
            "ell": [0, 1, 1, 0],
            "days_absent": [3, 40, 200, 12],
            "campus": ["North", "South", "South", "East"],
            "credits_earned": [7.0, 4.0, 6.0, 6.5],
            "core_fails": [0, 1, 3, 0],
        }
    )
    report = validate_frame(frame, spec)
    assert list(report.valid["pupil"]) == ["P0000001", "P0000002"]
    assert set(report.issues["column"]) == {"days_absent", "campus"}
    np.testing.assert_array_equal(spec.outcome.label(report.valid), [0, 1])


ENROLMENTS = {
    "name": "enrolments",
    "id_column": ["id_student", "code_module", "code_presentation"],
    "outcome": {"rule": "final_result in [Fail, Withdrawn]"},
    "columns": [
        {"name": "id_student", "dtype": "string", "role": "id"},
        {"name": "code_module", "dtype": "string", "role": "id"},
        {"name": "code_presentation", "dtype": "string", "role": "id"},
        {"name": "clicks", "dtype": "int", "min": 0, "role": "actionable"},
        {
            "name": "final_result",
            "dtype": "category",
            "categories": ["Pass", "Fail", "Withdrawn", "Distinction"],
            "role": "outcome_source",
        },
    ],
    "feature_sets": {"early": ["clicks"]},
}


def test_the_row_key_is_one_string_column_whatever_the_ids(tmp_path, raw):
    builtin = load_spec()
    assert builtin.id_parts == ("StudentID",)
    assert builtin.key_column == builtin.id_column == "StudentID"
    composite = load_spec(write(tmp_path, ENROLMENTS))
    assert composite.id_parts == ("id_student", "code_module", "code_presentation")
    assert composite.key_column == composite.id_column == "record_id"
    assert (composite.key_separator, composite.repeated_ids) == (":", "reject")
    named = load_spec(write(tmp_path, {**ENROLMENTS, "key_name": "enrolment_id"}))
    assert named.id_column == "enrolment_id"
    single_in_a_list = copy.deepcopy(raw)
    single_in_a_list["id_column"] = ["StudentID"]
    assert load_spec(write(tmp_path, single_in_a_list)).id_column == "StudentID"
    no_id = copy.deepcopy(raw)
    del no_id["id_column"]
    no_id["columns"] = [c for c in no_id["columns"] if c["role"] != "id"]
    spec = load_spec(write(tmp_path, no_id))
    assert spec.id_parts == () and spec.key_column == spec.id_column == "record_id"


def id_change(**changes):
    def change(spec):
        spec.update(copy.deepcopy(ENROLMENTS))
        for key, value in changes.items():
            if key == "columns":
                value(spec["columns"])
            else:
                spec[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (id_change(id_column=["id_student", "clicks"]), "id_column 'clicks' must be declared "
         "with role 'id'"),
        (id_change(id_column=["id_student", "term"]), "id_column names 'term', which is not a "
         "declared column"),
        (id_change(id_column=["id_student", "id_student"]), "id_column names id_student more "
         "than once"),
        (id_change(id_column=["id_student", "code_module"]), "column code_presentation has role "
         "'id' but is not in id_column"),
        (id_change(id_column=[]), "id_column is an empty list"),
        (id_change(columns=lambda cols: cols[1].update(required=False)), "column code_module: a "
         "part of a composite id_column must be required"),
        (id_change(columns=lambda cols: cols[0].update(dtype="int")), "column id_student: an id "
         "column must have dtype string (it has int)"),
        (id_change(key_separator="/"), "key_separator '/' is refused: ids appear in URL paths"),
        (id_change(key_separator="#"), "key_separator '#' is refused"),
        (id_change(key_separator=""), "key_separator is empty"),
        (id_change(id_prefix="S/"), "id_prefix 'S/' is refused"),
        (id_change(key_name="clicks"), "key_name 'clicks' is also a declared column"),
        (id_change(repeated_ids="merge"), "repeated_ids: Input should be 'reject' or 'enrolments'"),
    ],
)  # fmt: skip
def test_bad_id_declarations_are_refused(tmp_path, raw, change, message):
    change(raw)
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, raw))
    assert message in str(info.value)
