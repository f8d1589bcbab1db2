"""The seed-like profile reproduces the public data (compared with the 10k reference sample)."""

import numpy as np
import pandas as pd
import pytest

from data.synthetic.cohort import generate_frame

NUMERIC = [
    "TestScore_Math",
    "TestScore_Reading",
    "TestScore_Science",
    "GPA",
    "AttendanceRate",
    "StudyHours",
    "Age",
    "SES_Quartile",
    "FreeTime",
    "GoOut",
]


@pytest.fixture(scope="module")
def seed_like() -> pd.DataFrame:
    frame, _ = generate_frame(50_000, seed=17, profile="seed-like")
    return frame


@pytest.fixture(scope="module")
def reference(request) -> pd.DataFrame:
    return pd.read_csv(request.getfixturevalue("reference_csv"))


def key_correlations(frame: pd.DataFrame) -> dict[str, float]:
    tests = frame[["TestScore_Math", "TestScore_Reading", "TestScore_Science"]].mean(axis=1)
    return {
        "test_avg~attendance": np.corrcoef(tests, frame["AttendanceRate"])[0, 1],
        "gpa~test_avg": np.corrcoef(frame["GPA"], tests)[0, 1],
        "gpa~attendance": np.corrcoef(frame["GPA"], frame["AttendanceRate"])[0, 1],
        "study~test_avg": np.corrcoef(frame["StudyHours"], tests)[0, 1],
        "study~gpa": np.corrcoef(frame["StudyHours"], frame["GPA"])[0, 1],
        "math~reading": np.corrcoef(frame["TestScore_Math"], frame["TestScore_Reading"])[0, 1],
    }


def test_means_and_sds_within_5_percent(seed_like, reference):
    for column in NUMERIC:
        assert seed_like[column].mean() == pytest.approx(reference[column].mean(), rel=0.05), column
        assert seed_like[column].std() == pytest.approx(reference[column].std(), rel=0.05), column


def test_key_correlations_within_0_05(seed_like, reference):
    ours, theirs = key_correlations(seed_like), key_correlations(reference)
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], abs=0.05), name


def test_category_shares_and_ses_links_match(seed_like, reference):
    for column in [
        "Gender",
        "Race",
        "Locale",
        "ParentalEducation",
        "SchoolType",
        "InternetAccess",
        "ParentSupport",
        "Extracurricular",
        "PartTimeJob",
        "Romantic",
    ]:
        ours = seed_like[column].astype(str).value_counts(normalize=True)
        theirs = reference[column].astype(str).value_counts(normalize=True)
        for level, share in theirs.items():
            assert ours.get(level, 0.0) == pytest.approx(share, abs=0.02), (column, level)
    for column in ["InternetAccess", "ParentSupport"]:
        ours = seed_like.groupby("SES_Quartile")[column].mean()
        theirs = reference.groupby("SES_Quartile")[column].mean()
        np.testing.assert_allclose(ours, theirs, atol=0.03)


def test_age_to_grade_rule_is_exact(seed_like, reference):
    rule = {14: 9, 15: 10, 16: 11, 17: 12, 18: 12}
    assert (reference["Age"].map(rule) == reference["Grade"]).all()
    assert (seed_like["Age"].map(rule) == seed_like["Grade"]).all()


def test_outcomes_are_independent_of_demographics_as_in_the_public_data(seed_like):
    gpa = seed_like["GPA"]
    for column in ["SES_Quartile", "InternetAccess", "ParentSupport", "Age", "FreeTime"]:
        assert abs(np.corrcoef(seed_like[column], gpa)[0, 1]) < 0.02, column
    by_race = seed_like.groupby("Race")["GPA"].mean()
    assert by_race.max() - by_race.min() < 0.05
