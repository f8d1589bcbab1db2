"""Outcome rules on numbers, categories and yes/no columns; per-column words (synonyms, value
labels, equity); the intervention catalogue path; specs loaded from text."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from data.outcome_rule import RULE_FORMS
from data.spec import DatasetSpec, SpecError, load_spec, load_spec_text, spec_hash
from data.synthetic.cohort import generate_frame

COLUMNS = [
    {"name": "pupil", "dtype": "string", "role": "id"},
    {"name": "days_absent", "dtype": "int", "min": 0, "max": 180, "role": "actionable"},
    {"name": "GPA", "dtype": "float", "min": 0, "max": 4, "role": "outcome_source"},
    {
        "name": "result",
        "dtype": "category",
        "categories": ["Distinction", "Pass", "Fail", "Withdrawn", "<HS", "3"],
        "role": "outcome_source",
    },
    {"name": "repeated", "dtype": "bool", "role": "outcome_source"},
    {"name": "note", "dtype": "string", "role": "outcome_source", "required": False},
    {"name": "final result", "dtype": "category", "categories": ["A", "B"],
     "role": "outcome_source"},
]  # fmt: skip


def district(rule: str = "GPA < 2.0", **extra) -> dict:
    return {
        "name": "district",
        "id_column": "pupil",
        "outcome": {"rule": rule},
        "columns": [dict(c) for c in COLUMNS],
        "feature_sets": {"early": ["days_absent"]},
        **extra,
    }


def load(raw: dict, base_dir: Path | None = None):
    return load_spec_text(yaml.safe_dump(raw), "test spec", base_dir)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "GPA": [1.5, 2.5, np.nan, 3.9, 1.9, 2.0],
            "result": ["Fail", "Pass", "Withdrawn", None, "Distinction", "<HS"],
            "repeated": pd.array([1, 0, 1, None, 0, 0], dtype="Int64"),
            "note": ["late", None, "ok", "ok", "late", ""],
            "final result": ["A", "B", "B", "A", None, "A"],
        }
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("GPA < 2.0", [1, 0, 0, 0, 1, 0]),
        ("GPA <= 2", [1, 0, 0, 0, 1, 1]),
        ("GPA > 3.5", [0, 0, 0, 1, 0, 0]),
        ("GPA >= 2.5", [0, 1, 0, 1, 0, 0]),
        ("GPA == 2.0", [0, 0, 0, 0, 0, 1]),
        ("GPA != 2.0", [1, 1, 0, 1, 1, 0]),  # a missing GPA satisfies no condition
        ("result == Fail", [1, 0, 0, 0, 0, 0]),
        ('result != "Fail"', [0, 1, 1, 0, 1, 1]),  # a missing result neither
        ("result == 'Distinction'", [0, 0, 0, 0, 1, 0]),
        ("result == '<HS'", [0, 0, 0, 0, 0, 1]),
        ("result in [Fail, Withdrawn]", [1, 0, 1, 0, 0, 0]),
        ("result not in [Pass, Distinction]", [1, 0, 1, 0, 0, 1]),
        ("result in [3]", [0, 0, 0, 0, 0, 0]),
        ("repeated == true", [1, 0, 1, 0, 0, 0]),
        ("repeated == false", [0, 1, 0, 0, 1, 1]),
        ("repeated != true", [0, 1, 0, 0, 1, 1]),
        ("repeated == TRUE", [1, 0, 1, 0, 0, 0]),
        ("note == late", [1, 0, 0, 0, 1, 0]),
        ("`final result` == B", [0, 1, 1, 0, 0, 0]),
        ("GPA < 2 or result == Fail and repeated == true", [1, 0, 0, 0, 1, 0]),
        ("(GPA < 2 or result == Withdrawn) and repeated == true", [1, 0, 1, 0, 0, 0]),
        ("GPA < 2 and repeated == true or result == Withdrawn", [1, 0, 1, 0, 0, 0]),
        ("GPA < 2 AND (result in [Fail] OR repeated == false)", [1, 0, 0, 0, 1, 0]),
        ("((GPA<2))", [1, 0, 0, 0, 1, 0]),
    ],
)
def test_each_rule_form_labels_as_written(frame, rule, expected):
    spec = load(district(rule))
    labels = spec.outcome.label(frame)
    assert labels.dtype == np.int8
    np.testing.assert_array_equal(labels, expected)


def test_the_rule_names_the_columns_it_reads():
    spec = load(district("(GPA < 2 or result == Fail) and repeated == true or GPA > 3.9"))
    assert spec.outcome.columns == ["GPA", "result", "repeated"]
    assert load_spec().outcome.columns == ["GPA"]


def test_labels_read_yes_no_words_and_booleans():
    spec = load(district("repeated == true"))
    raw = pd.DataFrame({"repeated": ["yes", "No", "1", "maybe", None]})
    np.testing.assert_array_equal(spec.outcome.label(raw), [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(
        spec.outcome.label(pd.DataFrame({"repeated": [True, False]})), [1, 0]
    )


@pytest.mark.parametrize(
    ("rule", "shown"),
    [
        ("GPA is low", "cannot read 'is low' in 'GPA is low'"),
        ("GPA < 2 or", "cannot read 'or'"),
        ("GPA <", "cannot read '<'"),
        ("(GPA < 2", "expected ')'"),
        ("GPA = 2", "cannot read '= 2'"),
        ("result in Fail", "expected a list in brackets"),
        ("result not Fail", "expected 'in' after 'not'"),
        ("result in [Fail,]", "cannot read ']'"),
        ("result == 'Fail", 'cannot read "\'Fail"'),
        ("GPA < 2 GPA > 3", "cannot read 'GPA > 3'"),
        ("and GPA < 2", "expected a column name"),
        ("result < Fail", "< compares numbers"),
        ("", "outcome.rule is empty"),
    ],
)
def test_an_unreadable_rule_shows_the_text_and_every_accepted_form(rule, shown):
    with pytest.raises(SpecError) as info:
        load(district(rule))
    message = str(info.value)
    assert shown in message
    assert RULE_FORMS in message
    for form in (
        "score < 50",
        "result == Fail",
        "result in [Fail, Withdrawn]",
        "result not in [Pass]",
        "repeated == true",
        "and / or",
        "parentheses",
    ):
        assert form in message  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("Shoe_Size < 2", "outcome.rule uses 'Shoe_Size', which is not a declared column"),
        ("GPAA < 2", "'GPAA', which is not a declared column (did you mean GPA?)"),
        ("days_absent > 20", "it must have role 'outcome_source' (it has 'actionable')"),
        ("pupil == x", "it must have role 'outcome_source' (it has 'id')"),
        ("GPA == Fail", "GPA is a float column: compare it with a number, e.g. GPA < 0"),
        ("GPA == true", "GPA is a float column"),
        ("GPA in [1, 2]", "GPA is a float column"),
        ("result == Fial", "'Fial' is not a category of result (categories: Distinction, Pass"),
        ("result in [Fail, Gone]", "'Gone' is not a category of result"),
        ("result not in [Pass, nope]", "'nope' is not a category of result"),
        ("result == 3", "result is a category column and 3 a number: quote it"),
        ("result == true", "true/false only compare yes/no columns"),
        ("repeated == 1", "repeated is a yes/no column: write repeated == true or"),
        ("repeated == yes", "repeated is a yes/no column"),
        ("repeated in [true]", "repeated is a yes/no column"),
        ("repeated > false", "> compares numbers"),
    ],
)
def test_a_rule_that_does_not_fit_its_columns_is_refused_by_name(rule, message):
    with pytest.raises(SpecError, match="outcome") as info:
        load(district(rule))
    assert message in str(info.value)


def test_a_rule_mismatch_quotes_the_condition():
    with pytest.raises(SpecError, match=r"condition 'result == Fial'"):
        load(district("GPA < 2 or result == Fial"))


def test_the_builtin_rule_labels_exactly_as_before():
    spec = load_spec()
    assert spec.outcome.rule == "GPA < 2.0"
    cohort, _ = generate_frame(2000, seed=5)
    cohort.loc[[3, 7], "GPA"] = np.nan
    before = (pd.to_numeric(cohort["GPA"], errors="coerce").to_numpy(dtype=float) < 2.0).astype(
        np.int8
    )
    labels = spec.outcome.label(cohort)
    assert labels.dtype == np.int8 and 0 < labels.mean() < 1
    np.testing.assert_array_equal(labels, before)
    assert labels[3] == labels[7] == 0


# Per-column words -----------------------------------------------------------------------


def with_column(**column) -> dict:
    raw = district()
    raw["columns"].append({"name": "X", "role": "context", **column})
    return raw


def test_synonyms_value_labels_and_equity_are_read():
    raw = district()
    raw["columns"] += [
        {"name": "locale", "dtype": "category", "categories": ["R", "U"], "role": "context",
         "synonyms": [" rurality ", "area"], "value_labels": {"R": "rural", "U": "urban"},
         "equity": True},
        {"name": "imd", "dtype": "int", "min": 1, "max": 10, "role": "context",
         "synonyms": ["deprivation", "imd"], "value_labels": {1: "most deprived", "10": "least"}},
        {"name": "fsm", "dtype": "bool", "role": "protected", "equity": True,
         "value_labels": {True: "free school meals", "false": "no free school meals"}},
    ]  # fmt: skip
    spec = load(raw)
    assert spec.column("locale").synonyms == ("rurality", "area")
    assert spec.column("locale").value_labels == {"R": "rural", "U": "urban"}
    assert spec.column("imd").value_labels == {"1": "most deprived", "10": "least"}
    assert spec.column("fsm").value_labels == {
        "true": "free school meals",
        "false": "no free school meals",
    }
    assert spec.equity_columns == ["locale"]
    assert spec.column("GPA").synonyms == () and not spec.column("GPA").equity


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"dtype": "category", "categories": ["R", "U"], "value_labels": {"T": "town"}},
         "column X: value_labels key 'T' is not one of its categories (R, U)"),
        ({"dtype": "int", "min": 1, "max": 10, "value_labels": {11: "?"}},
         "column X: value_labels key '11' is outside min 1, max 10"),
        ({"dtype": "int", "min": 1, "value_labels": {0: "?"}},
         "column X: value_labels key '0' is outside min 1"),
        ({"dtype": "int", "value_labels": {"one": "?"}},
         "column X: value_labels key 'one' must be a whole number"),
        ({"dtype": "int", "value_labels": {1.5: "?"}},
         "column X: value_labels key '1.5' must be a whole number"),
        ({"dtype": "bool", "value_labels": {"yes": "?"}},
         "column X: value_labels key 'yes' must be true or false"),
        ({"dtype": "bool", "value_labels": {1: "?"}},
         "column X: value_labels key '1' must be true or false"),
        ({"dtype": "float", "value_labels": {"1.0": "?"}},
         "column X: value_labels only apply to category, int or bool columns (it is float"),
        ({"dtype": "string", "value_labels": {"a": "?"}},
         "value_labels only apply to category, int or bool columns (it is string"),
        ({"dtype": "int", "synonyms": ["ok", " "]}, "column X: synonyms must not be empty"),
        ({"dtype": "int", "role": "excluded", "equity": True},
         "column X: equity: true is refused on a column with role 'excluded'"),
        ({"dtype": "int", "role": "outcome_source", "equity": True},
         "equity: true is refused on a column with role 'outcome_source'"),
        ({"dtype": "int", "unknown_key": 1}, "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_column_words_are_refused_naming_column_value_and_rule(column, message):
    with pytest.raises(SpecError) as info:
        load(with_column(**column))
    assert message in str(info.value)


def test_equity_is_refused_on_an_id_column():
    raw = district()
    raw["columns"][0]["equity"] = True
    with pytest.raises(SpecError, match=r"column pupil: equity: true is refused .* role 'id'"):
        load(raw)


# Where a spec comes from ------------------------------------------------------------------


def test_the_intervention_catalogue_path_is_resolved_from_the_spec_folder(tmp_path):
    folder = tmp_path / "district"
    folder.mkdir()
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(district(interventions="catalogue.yaml")))
    assert load_spec(path).interventions == str((folder / "catalogue.yaml").resolve())
    elsewhere = str(tmp_path / "shared" / "catalogue.yaml")
    path.write_text(yaml.safe_dump(district(interventions=elsewhere)))
    assert load_spec(path).interventions == elsewhere
    builtin = load_spec().interventions
    assert builtin is None or Path(builtin).is_absolute()
    assert load(district(interventions="x.yaml")).interventions == "x.yaml"
    with pytest.raises(SpecError, match="interventions is empty"):
        load(district(interventions=" "))


def test_a_spec_kept_as_text_loads_again_the_same():
    text = yaml.safe_dump(district("result in [Fail, Withdrawn]", id_prefix="P"))
    first = load_spec_text(text, "stored spec", None)
    assert load_spec_text(text, "stored spec", None) == first
    assert spec_hash(text) == spec_hash(text) != spec_hash(text + "\n# changed")
    assert len(spec_hash(text)) == 64 and int(spec_hash(text), 16) >= 0
    with pytest.raises(SpecError, match="stored spec breaks the data contract"):
        load_spec_text(text.replace("Withdrawn]", "Gone]"), "stored spec", None)
    with pytest.raises(SpecError, match="stored spec is not valid YAML"):
        load_spec_text("name: [", "stored spec", None)


def test_a_spec_version_does_not_depend_on_where_its_catalogue_is():
    from data.spec_store import spec_digest

    here = load(district(interventions="/srv/a/catalogue.yaml"))
    there = load(district(interventions="/home/b/catalogue.yaml"))
    assert spec_digest(here) == spec_digest(there) == spec_digest(load(district()))
    assert spec_digest(here) != spec_digest(load(district("result in [Fail]")))


def test_a_dumped_spec_reloads_to_the_same_spec():
    no_id = district(id_column=None, repeated_ids="enrolments")
    no_id["columns"] = no_id["columns"][1:]
    composite = district(id_column=["pupil", "term"], key_name="enrolment", key_separator="|")
    composite["columns"].append({"name": "term", "dtype": "string", "role": "id"})
    for spec in (load_spec(), load(no_id), load(composite)):
        dumped = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        assert DatasetSpec.model_validate(yaml.safe_load(yaml.safe_dump(dumped))) == spec
        assert DatasetSpec.model_validate(spec.model_dump()) == spec
    assert load_spec().model_dump(by_alias=True)["id_column"] == "StudentID"
