"""Behavioural tests of every candidate family, trained for real on a generated cohort:
explanations add up, raising attendance or study time never raises risk, protected attributes
and outcome-source columns cannot move a prediction, and risk factors read as plain words."""

import numpy as np
import pandas as pd
import pytest

from data.spec import load_spec
from data.synthetic.cohort import generate_frame
from pipeline.explain import contributions
from pipeline.features import model_features
from pipeline.model import risk_levels
from pipeline.phrases import phrase, top_risk_factors
from pipeline.train import CANDIDATES, fit_candidate, make_folds

SPEC = load_spec()


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    frame, _ = generate_frame(4000, seed=21)
    return frame


@pytest.fixture(scope="module", params=list(CANDIDATES))
def fitted(request, cohort):
    y = SPEC.outcome.label(cohort)
    features = model_features(SPEC, "early")
    return fit_candidate(
        CANDIDATES[request.param], cohort, y, make_folds(y, 3, 0), SPEC, features, seed=0
    )


def test_contributions_add_up_to_the_model_output(fitted, cohort):
    sample = cohort.head(500)
    contribs = contributions(fitted.model, sample)
    np.testing.assert_allclose(contribs.raw_score, fitted.model.raw_score(sample), atol=1e-4)
    risk = fitted.model.calibrator.transform(contribs.raw_score)
    np.testing.assert_allclose(risk, fitted.model.predict_proba(sample)[:, 1], atol=1e-5)
    assert contribs.features == model_features(SPEC, "early")


@pytest.mark.parametrize(("column", "step"), [("AttendanceRate", 0.05), ("StudyHours", 0.5)])
def test_raising_attendance_or_study_time_never_raises_risk(fitted, cohort, column, step):
    sample = cohort.head(1000)
    better = sample.assign(
        **{
            column: (sample[column] + step).clip(upper=1.0)
            if column == "AttendanceRate"
            else sample[column] + step
        }
    )
    before = fitted.model.predict_proba(sample)[:, 1]
    after = fitted.model.predict_proba(better)[:, 1]
    assert (after <= before + 1e-6).all(), fitted.name
    assert (after < before - 1e-6).mean() > 0.5  # and it usually lowers it


def test_protected_and_outcome_columns_cannot_move_a_prediction(fitted, cohort):
    sample = cohort.head(800)
    rng = np.random.default_rng(0)
    scrambled = sample.assign(
        Race=rng.permutation(sample["Race"].to_numpy()),
        Gender=rng.permutation(sample["Gender"].to_numpy()),
        GPA=rng.uniform(0, 4, len(sample)),
        TestScore_Math=0.0,
    )
    np.testing.assert_array_equal(
        fitted.model.predict_proba(sample), fitted.model.predict_proba(scrambled)
    )
    dropped = sample.drop(columns=["GPA", "Race", "Gender", "TestScore_Math", "Romantic"])
    np.testing.assert_array_equal(
        fitted.model.predict_proba(sample), fitted.model.predict_proba(dropped)
    )
    assert not set(fitted.model.features) & {"GPA", "Race", "Gender", "Romantic"}


def test_calibrated_scores_are_probabilities(fitted, cohort):
    risk = fitted.model.predict_proba(cohort)[:, 1]
    assert ((risk >= 0) & (risk <= 1)).all()
    assert risk.mean() == pytest.approx(SPEC.outcome.label(cohort).mean(), abs=0.02)


def test_risk_factors_are_plain_words_for_risk_raising_features(fitted, cohort):
    sample = cohort.head(300)
    contribs = contributions(fitted.model, sample)
    factors = top_risk_factors(SPEC, sample, contribs, fitted.model.reference, top=3)
    assert len(factors) == 300
    for row in factors:
        assert len(row) <= 3
        assert all(f["contribution"] > 0 for f in row)
        assert [f["contribution"] for f in row] == sorted(
            (f["contribution"] for f in row), reverse=True
        )
        assert all(f["phrase"] and "{" not in f["phrase"] for f in row)


def test_phrases_read_like_a_teacher_would_say_them():
    reference = {"AttendanceRate": 0.93, "StudyHours": 1.2, "GoOut": 2.0}
    assert phrase(SPEC.column("AttendanceRate"), 0.82, 0.93) == "Low attendance (82 %)"
    assert phrase(SPEC.column("StudyHours"), 0.4, 1.2) == "Little study time (0.4 h a day)"
    assert phrase(SPEC.column("ParentSupport"), 0, None) == "No parent support at home"
    assert phrase(SPEC.column("InternetAccess"), 0, None) == "No internet access at home"
    assert phrase(SPEC.column("PartTimeJob"), 1, None) == "Works a part-time job"
    assert (
        phrase(SPEC.column("GoOut"), 5, reference["GoOut"]) == "Goes out with friends often (5/5)"
    )
    assert phrase(SPEC.column("Locale"), "Rural", None) == "Locale: Rural"
    assert phrase(SPEC.column("Grade"), 12, 10.8) == "High grade (12)"


def test_risk_levels_follow_the_thresholds():
    levels = risk_levels(np.array([0.0, 0.149, 0.15, 0.399, 0.4, 1.0]), 0.15, 0.40)
    assert levels.tolist() == ["Low", "Low", "Medium", "Medium", "High", "High"]


@pytest.mark.parametrize("column", ["ParentSupport", "InternetAccess", "Extracurricular"])
def test_tree_models_never_raise_risk_for_support_access_or_activities(fitted, cohort, column):
    if fitted.family == "linear":
        pytest.skip("linear models cannot be constrained; their signs are learned")
    sample = cohort.head(1000)
    before = fitted.model.predict_proba(sample.assign(**{column: 0}))[:, 1]
    after = fitted.model.predict_proba(sample.assign(**{column: 1}))[:, 1]
    assert (after <= before + 1e-6).all()


def test_the_compiled_encoder_gives_the_preprocessors_matrix(fitted, cohort):
    from pipeline.features import compile_encoder

    model = fitted.model
    encoder = compile_encoder(model.pipeline[:-1], model.features)
    assert encoder is not None, fitted.name  # every candidate family compiles
    sample = cohort.sample(300, random_state=1)
    columns = {f: sample[f].tolist() for f in model.features}
    expected = model.encode_with_preprocessor(sample)
    np.testing.assert_allclose(encoder(columns), expected, rtol=0, atol=1e-12)
    # A whole frame (what batches and the pipeline encode), with values the model never saw
    # and missing ones, gives the preprocessor's matrix too.
    odd = sample.copy()
    for name in model.features:
        column = odd[name]
        if column.dtype.kind in "fi":
            odd.loc[odd.index[:20], name] = np.nan
        else:
            odd[name] = column.astype(object)
            odd.loc[odd.index[:10], name] = "a value never seen"
            odd.loc[odd.index[10:20], name] = None
    np.testing.assert_allclose(
        model.encode(odd), model.encode_with_preprocessor(odd), rtol=0, atol=1e-12
    )
    # The same text columns as pandas' Arrow-backed strings (what Parquet and DuckDB give).
    text = [n for n in model.features if odd[n].dtype == object]
    arrow = odd.astype({n: pd.StringDtype("pyarrow", na_value=np.nan) for n in text})
    assert all(hasattr(arrow[n].array, "_pa_array") for n in text)
    np.testing.assert_allclose(
        model.encode(arrow), model.encode_with_preprocessor(odd), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(model.encode(sample), expected, rtol=0, atol=1e-12)
