"""Group fairness: hand-computed rates and gaps, small-group suppression, attribute pairs, and
ABROCA on simulated groups with equal and unequal score quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.fairness import FairnessReport, fairness_report

BY_GROUP_COLUMNS = [
    "attribute",
    "group",
    "n",
    "positives",
    "selection_rate",
    "tpr",
    "fpr",
    "fnr",
    "roc_auc",
    "mean_score",
    "observed_rate",
    "calibration_gap",
    "suppressed",
]
GAP_COLUMNS = ["attribute", "metric", "max_gap", "worst_group", "best_group"]
METRIC_COLUMNS = BY_GROUP_COLUMNS[3:12]
GAP_METRICS = ["selection_rate", "tpr", "fpr", "fnr", "roc_auc", "calibration_gap", "abroca"]

# Threshold 0.5. Group A: 4 positives, 3 flagged (TPR 3/4); 6 negatives, 1 flagged at exactly
# the threshold (FPR 1/6); 4 of 10 flagged. Group B: 4 positives, 1 flagged (TPR 1/4);
# 6 negatives, 2 flagged (FPR 2/6); 3 of 10 flagged.
HAND_Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0] * 2
HAND_SCORE_A = [0.9, 0.8, 0.7, 0.2, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1]
HAND_SCORE_B = [0.9, 0.3, 0.2, 0.2, 0.7, 0.6, 0.1, 0.1, 0.1, 0.1]
HAND_SCORE = HAND_SCORE_A + HAND_SCORE_B
HAND_GROUPS = pd.DataFrame({"G": ["A"] * 10 + ["B"] * 10})


def row(report: FairnessReport, attribute: str, group: str) -> pd.Series:
    rows = report.by_group
    match = rows[(rows["attribute"] == attribute) & (rows["group"] == group)]
    assert len(match) == 1
    return match.iloc[0]


def gap(report: FairnessReport, attribute: str, metric: str) -> pd.Series:
    rows = report.gaps
    match = rows[(rows["attribute"] == attribute) & (rows["metric"] == metric)]
    assert len(match) == 1
    return match.iloc[0]


@pytest.fixture
def hand_report() -> FairnessReport:
    return fairness_report(HAND_Y, HAND_SCORE, HAND_GROUPS, threshold=0.5, min_group_size=1)


def test_report_has_the_documented_columns(hand_report):
    assert list(hand_report.by_group.columns) == BY_GROUP_COLUMNS
    assert list(hand_report.gaps.columns) == GAP_COLUMNS
    assert hand_report.gaps["metric"].tolist() == GAP_METRICS
    assert hand_report.threshold == 0.5
    assert hand_report.min_group_size == 1


def test_hand_built_rates_and_gaps(hand_report):
    a = row(hand_report, "G", "A")
    b = row(hand_report, "G", "B")
    assert (a["n"], a["positives"], b["n"], b["positives"]) == (10, 4, 10, 4)
    assert a["tpr"] == pytest.approx(3 / 4)
    assert a["fnr"] == pytest.approx(1 / 4)
    assert a["fpr"] == pytest.approx(1 / 6)
    assert a["selection_rate"] == pytest.approx(4 / 10)
    assert b["tpr"] == pytest.approx(1 / 4)
    assert b["fpr"] == pytest.approx(2 / 6)
    assert b["selection_rate"] == pytest.approx(3 / 10)
    assert a["observed_rate"] == pytest.approx(0.4)
    assert a["mean_score"] == pytest.approx(3.6 / 10)
    assert not a["suppressed"]

    tpr = gap(hand_report, "G", "tpr")
    assert tpr["max_gap"] == pytest.approx(0.5)
    # Higher TPR is better: the worst-off group is the one with the lower TPR.
    assert (tpr["worst_group"], tpr["best_group"]) == ("B", "A")
    fpr = gap(hand_report, "G", "fpr")
    assert fpr["max_gap"] == pytest.approx(1 / 6)
    assert (fpr["worst_group"], fpr["best_group"]) == ("B", "A")
    assert gap(hand_report, "G", "selection_rate")["max_gap"] == pytest.approx(0.1)
    assert gap(hand_report, "G", "fnr")["max_gap"] == pytest.approx(0.5)


def test_rates_are_nan_not_zero_for_a_group_without_positives():
    y = [1, 0, 1, 0, 0, 0, 0, 0]
    score = [0.9, 0.1, 0.8, 0.7, 0.6, 0.2, 0.3, 0.1]
    groups = pd.DataFrame({"G": ["A"] * 4 + ["B"] * 4})
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=1)
    b = row(report, "G", "B")
    assert math.isnan(b["tpr"])
    assert math.isnan(b["fnr"])
    assert math.isnan(b["roc_auc"])
    assert b["fpr"] == pytest.approx(1 / 4)
    assert b["positives"] == 0


def small_group_data() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n_big = 100
    score = np.concatenate([rng.uniform(size=2 * n_big), np.ones(5)])
    y = np.concatenate([rng.binomial(1, score[: 2 * n_big]), [0, 0, 0, 0, 1]])
    groups = pd.DataFrame({"G": ["Big"] * n_big + ["Other"] * n_big + ["Small"] * 5})
    return y, score, groups


def test_small_groups_are_suppressed_and_left_out_of_gaps():
    y, score, groups = small_group_data()
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=20)
    small = row(report, "G", "Small")
    assert small["suppressed"]
    assert small["n"] == 5
    assert small[METRIC_COLUMNS].isna().all()
    assert not row(report, "G", "Big")["suppressed"]

    gaps = report.gaps
    assert not gaps["worst_group"].eq("Small").any()
    assert not gaps["best_group"].eq("Small").any()
    # With every score 1 but 4 of 5 negative, Small would dominate the FPR and calibration
    # gaps if it were counted; the gaps must equal those of the two large groups alone.
    keep = groups["G"].ne("Small").to_numpy()
    alone = fairness_report(y[keep], score[keep], groups[keep], threshold=0.5, min_group_size=20)
    for metric in GAP_METRICS[:-1]:
        assert gap(report, "G", metric)["max_gap"] == pytest.approx(
            gap(alone, "G", metric)["max_gap"]
        )


def test_a_group_of_exactly_min_group_size_is_reported():
    y, score, groups = small_group_data()
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=5)
    small = row(report, "G", "Small")
    assert not small["suppressed"]
    assert small["fpr"] == pytest.approx(1.0)


def test_fewer_than_two_reportable_groups_give_nan_gaps():
    y, score, groups = small_group_data()
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=101)
    assert report.by_group["suppressed"].all()
    assert report.gaps["max_gap"].isna().all()
    assert math.isnan(report.max_gap("tpr"))


def test_attribute_pairs_are_named_and_labelled():
    groups = pd.DataFrame(
        {
            "Race": ["White", "Black", "White", "Black"] * 5,
            "Gender": ["F", "F", "M", "M"] * 5,
            "Lunch": ["Free", "Paid"] * 10,
        }
    )
    y = [0, 1] * 10
    score = np.linspace(0.05, 0.95, 20)
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=1)
    attributes = list(dict.fromkeys(report.by_group["attribute"]))
    assert attributes == [
        "Race",
        "Gender",
        "Lunch",
        "Race×Gender",
        "Race×Lunch",
        "Gender×Lunch",
    ]
    assert list(dict.fromkeys(report.gaps["attribute"])) == attributes
    pair_groups = report.by_group.loc[report.by_group["attribute"] == "Race×Gender", "group"]
    assert pair_groups.tolist() == ["Black × F", "Black × M", "White × F", "White × M"]
    assert report.by_group.loc[report.by_group["attribute"] == "Race×Gender", "n"].sum() == 20

    single = fairness_report(y, score, groups, threshold=0.5, min_group_size=1, pairs=False)
    assert set(single.by_group["attribute"]) == {"Race", "Gender", "Lunch"}


@pytest.fixture(scope="module")
def two_groups() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(2026)
    n = 100_000
    groups = pd.DataFrame({"G": rng.choice(["a", "b"], size=n)})
    score = rng.beta(2, 5, size=n)
    y = rng.binomial(1, score)
    return y, score, groups


def test_abroca_is_near_zero_for_identically_distributed_groups(two_groups):
    y, score, groups = two_groups
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=20)
    abroca = gap(report, "G", "abroca")
    assert 0 <= abroca["max_gap"] < 0.02
    assert report.max_gap("abroca") == abroca["max_gap"]


def test_abroca_is_large_when_one_group_is_scored_with_noise(two_groups):
    y, score, groups = two_groups
    rng = np.random.default_rng(5)
    noisy = score.copy()
    in_b = groups["G"].eq("b").to_numpy()
    noisy[in_b] = rng.permutation(noisy[in_b])
    report = fairness_report(y, noisy, groups, threshold=0.5, min_group_size=20)
    assert gap(report, "G", "abroca")["max_gap"] > 0.1
    assert row(report, "G", "b")["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert row(report, "G", "a")["roc_auc"] > 0.65


def test_abroca_of_a_perfect_and_an_inverted_group_is_one():
    y = [0, 0, 1, 1] * 5 + [0, 0, 1, 1] * 5
    score = [0.1, 0.2, 0.8, 0.9] * 5 + [0.8, 0.9, 0.1, 0.2] * 5
    groups = pd.DataFrame({"G": ["good"] * 20 + ["bad"] * 20})
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=1)
    assert gap(report, "G", "abroca")["max_gap"] == pytest.approx(1.0, abs=0.005)
    assert gap(report, "G", "roc_auc")["max_gap"] == pytest.approx(1.0)
    assert gap(report, "G", "roc_auc")["worst_group"] == "bad"


def test_calibration_gap_sign_and_max_gap_uses_the_largest_absolute_gap():
    # Every group has an observed rate of 0.5; scores are 0.8 (over), 0.3 (under), 0.5 (fine).
    y = [0, 1] * 30
    score = [0.8] * 20 + [0.3] * 20 + [0.5] * 20
    groups = pd.DataFrame({"G": ["over"] * 20 + ["under"] * 20 + ["fine"] * 20})
    report = fairness_report(y, score, groups, threshold=0.5, min_group_size=1)
    assert row(report, "G", "over")["calibration_gap"] == pytest.approx(0.3)
    assert row(report, "G", "under")["calibration_gap"] == pytest.approx(-0.2)
    assert row(report, "G", "fine")["calibration_gap"] == pytest.approx(0.0)
    calibration = gap(report, "G", "calibration_gap")
    # The largest |gap| (0.3), not the spread between over- and under-prediction (0.5).
    assert calibration["max_gap"] == pytest.approx(0.3)
    assert (calibration["worst_group"], calibration["best_group"]) == ("over", "fine")


def test_max_gap_with_and_without_an_attribute():
    # H puts the four flagged positives (rows 0, 1, 2, 10) in x and the four missed ones in y,
    # so its TPR gap is 1 - 0 = 1, larger than G's 0.5.
    h = ["x", "x", "x", "y", "x", "x", "x", "x", "x", "x", "x"] + ["y"] * 9
    report = fairness_report(
        HAND_Y, HAND_SCORE, HAND_GROUPS.assign(H=h), threshold=0.5, min_group_size=1, pairs=False
    )
    assert report.max_gap("tpr", "G") == pytest.approx(0.5)
    assert report.max_gap("tpr", "H") == pytest.approx(1.0)
    assert report.max_gap("tpr") == pytest.approx(1.0)
    assert report.max_gap("fpr", "G") == pytest.approx(1 / 6)
    assert math.isnan(report.max_gap("tpr", "Nope"))
    assert math.isnan(report.max_gap("not_a_metric"))


def test_max_gap_ignores_nan_rows():
    # H has a single group, so its gaps are NaN; the overall maximum must still be G's.
    groups = HAND_GROUPS.assign(H="only")
    report = fairness_report(
        HAND_Y, HAND_SCORE, groups, threshold=0.5, min_group_size=1, pairs=False
    )
    assert math.isnan(gap(report, "H", "tpr")["max_gap"])
    assert math.isnan(report.max_gap("tpr", "H"))
    assert report.max_gap("tpr") == pytest.approx(0.5)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        fairness_report(HAND_Y[:-1], HAND_SCORE, HAND_GROUPS, threshold=0.5, min_group_size=1)
