"""The realistic SCM: its documented gaps and intervention effects are recovered from 200,000
fresh students (seed differs from the one the documentation was measured on), and its oracle
agrees with simulated counterfactuals."""

import numpy as np
import pandas as pd
import pytest

from data.synthetic.cohort import generate_frame
from data.synthetic.realistic import INTERVENTIONS

N = 200_000
SEED = 2026


@pytest.fixture(scope="module")
def cohort():
    frame, truth = generate_frame(N, SEED)
    frame["y"] = (frame["GPA"] < 2.0).astype(int)
    return frame, truth


def binomial_se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n))


def rate_by(frame: pd.DataFrame, column: str) -> dict:
    return frame.groupby(column)["y"].mean().to_dict()


def test_marginals_match_the_documentation(cohort):
    frame, _ = cohort
    assert frame["y"].mean() == pytest.approx(0.122, abs=0.004)
    assert frame["GPA"].mean() == pytest.approx(2.83, abs=0.01)
    assert (frame["AttendanceRate"] < 0.9).mean() == pytest.approx(0.183, abs=0.005)
    assert frame["TestScore_Math"].mean() == pytest.approx(75.0, abs=0.2)
    assert (frame["Grade"] == np.minimum(frame["Age"] - 5, 12)).all()


def test_documented_group_gaps_are_recovered(cohort):
    frame, _ = cohort
    ses = rate_by(frame, "SES_Quartile")
    for quartile, documented in {1: 0.225, 2: 0.140, 3: 0.081, 4: 0.043}.items():
        assert ses[quartile] == pytest.approx(documented, abs=0.008)
    race = rate_by(frame, "Race")
    assert race["Black"] - race["White"] == pytest.approx(0.055, abs=0.012)
    assert race["Hispanic"] - race["White"] == pytest.approx(0.049, abs=0.008)
    gender = rate_by(frame, "Gender")
    assert gender["Male"] - gender["Female"] == pytest.approx(0.014, abs=0.006)


def test_oracle_is_calibrated_overall_and_within_every_race_group(cohort):
    frame, truth = cohort
    bins = pd.qcut(truth["true_risk"], 10, labels=False)
    by_bin = pd.DataFrame({"bin": bins, "y": frame["y"], "p": truth["true_risk"]}).groupby("bin")
    for _, group in by_bin:
        p = group["p"].mean()
        assert group["y"].mean() == pytest.approx(p, abs=4 * binomial_se(p, len(group)) + 0.002)
    # No direct race effect: once the oracle is known, race tells nothing more.
    for race, group in frame.assign(p=truth["true_risk"]).groupby("Race"):
        gap = group["y"].mean() - group["p"].mean()
        assert abs(gap) < 4 * binomial_se(group["p"].mean(), len(group)), race


@pytest.mark.parametrize("intervention", list(INTERVENTIONS))
def test_true_risk_under_do_matches_the_simulated_counterfactual(cohort, intervention):
    frame, truth = cohort
    treated, _ = generate_frame(N, SEED, intervention=intervention)
    realised = (treated["GPA"] < 2.0).mean()
    expected = truth[f"true_risk_{intervention}"].mean()
    assert realised == pytest.approx(expected, abs=4 * binomial_se(expected, N))
    # Same students: everything upstream of the intervention is unchanged.
    for column in ("Age", "Race", "SES_Quartile", "Locale", "Gender"):
        assert treated[column].equals(frame[column])


def test_intervention_sizes_are_the_documented_do_operations(cohort):
    frame, _ = cohort
    tutored, _ = generate_frame(N, SEED, intervention="tutoring")
    # 0.30 SD of achievement is 3 test points (10-point SD, loading 0.85) before clipping.
    assert (tutored["TestScore_Math"] - frame["TestScore_Math"]).median() == pytest.approx(
        0.30 * 0.85 * 10, abs=0.01
    )
    outreach, _ = generate_frame(N, SEED, intervention="attendance_outreach")
    np.testing.assert_allclose(
        1 - outreach["AttendanceRate"], 0.94 * (1 - frame["AttendanceRate"]), rtol=1e-9
    )
    chronic_before = (frame["AttendanceRate"] < 0.9).mean()
    chronic_after = (outreach["AttendanceRate"] < 0.9).mean()
    assert 1 - chronic_after / chronic_before == pytest.approx(0.12, abs=0.02)
    internet, _ = generate_frame(N, SEED, intervention="home_internet")
    assert internet["InternetAccess"].all()


def test_documented_average_effects_are_recovered(cohort):
    _, truth = cohort
    documented = {
        "tutoring": 0.077,
        "parent_engagement": 0.096,
        "mentoring": 0.104,
        "attendance_outreach": 0.116,
        "home_internet": 0.119,
    }
    for intervention, value in documented.items():
        assert truth[f"true_risk_{intervention}"].mean() == pytest.approx(value, abs=0.004)
    ranking = sorted(documented, key=lambda name: truth[f"true_risk_{name}"].mean())
    assert ranking == list(documented)
