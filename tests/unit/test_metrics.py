"""Model-quality metrics: known answers on hand-built scores, and calibration recovered on a
large simulated, perfectly calibrated score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.metrics import (
    calibration_table,
    classification_metrics,
    expected_calibration_error,
    pr_points,
    roc_points,
)

METRIC_KEYS = {
    "n",
    "base_rate",
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "precision_top10",
    "recall_top10",
    "precision_top20",
    "recall_top20",
    "mean_score",
}


@pytest.fixture(scope="module")
def calibrated() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20260)
    score = rng.uniform(size=200_000)
    y = rng.binomial(1, score)
    return y, score


def test_perfect_score_has_unit_aucs_and_no_brier_loss():
    y = np.array([0] * 60 + [1] * 40)
    result = classification_metrics(y, y.astype(float))
    assert set(result) == METRIC_KEYS
    assert result["n"] == 100
    assert result["base_rate"] == pytest.approx(0.4)
    assert result["roc_auc"] == pytest.approx(1.0)
    assert result["pr_auc"] == pytest.approx(1.0)
    assert result["brier"] == pytest.approx(0.0, abs=1e-12)
    # Scores of exactly 0 and 1 are clipped, so the log loss is tiny but finite.
    assert 0 < result["log_loss"] < 1e-5
    assert result["mean_score"] == pytest.approx(0.4)


def test_constant_score_has_chance_auc():
    y = np.array([0, 1] * 50)
    result = classification_metrics(y, np.full(100, 0.3))
    assert result["roc_auc"] == pytest.approx(0.5)
    assert result["brier"] == pytest.approx(0.5 * 0.3**2 + 0.5 * 0.7**2)


def test_top_percent_precision_and_recall_on_a_hand_built_example():
    # 20 rows, 5 positives. Ranked by score: row 3 (0.9, positive), then rows 1 and 4 tied at
    # 0.8 (row 1 negative, row 4 positive: the stable sort keeps row 1 first), then row 5
    # (0.7, positive). Top 10 % = 2 rows {3, 1}; top 20 % = 4 rows {3, 1, 4, 5}.
    rows = [
        (0.10, 0), (0.80, 0), (0.30, 1), (0.90, 1), (0.80, 1),
        (0.70, 1), (0.05, 0), (0.15, 0), (0.25, 0), (0.35, 0),
        (0.20, 1), (0.40, 0), (0.45, 0), (0.50, 0), (0.55, 0),
        (0.02, 0), (0.03, 0), (0.04, 0), (0.06, 0), (0.07, 0),
    ]  # fmt: skip
    score = np.array([s for s, _ in rows])
    y = np.array([label for _, label in rows])
    result = classification_metrics(y, score)
    assert result["precision_top10"] == pytest.approx(1 / 2)
    assert result["recall_top10"] == pytest.approx(1 / 5)
    assert result["precision_top20"] == pytest.approx(3 / 4)
    assert result["recall_top20"] == pytest.approx(3 / 5)


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_gives_nan_aucs_instead_of_raising(label):
    y = np.full(30, label)
    result = classification_metrics(y, np.linspace(0.1, 0.9, 30))
    assert math.isnan(result["roc_auc"])
    assert math.isnan(result["pr_auc"])
    assert result["base_rate"] == label
    assert math.isfinite(result["brier"])
    assert math.isfinite(result["log_loss"])


def test_mismatched_lengths_and_non_binary_labels_are_rejected():
    with pytest.raises(ValueError):
        classification_metrics([0, 1, 1], [0.2, 0.4])
    with pytest.raises(ValueError):
        classification_metrics([0, 2], [0.2, 0.4])


def test_calibration_table_of_a_calibrated_score_tracks_the_diagonal(calibrated):
    y, score = calibrated
    table = calibration_table(y, score, bins=10)
    assert list(table.columns) == ["bin", "mean_predicted", "observed_rate", "n"]
    assert table["bin"].tolist() == list(range(10))
    assert table["n"].sum() == len(y)
    assert table["mean_predicted"].is_monotonic_increasing
    assert ((table["mean_predicted"] - table["observed_rate"]).abs() < 0.01).all()
    assert expected_calibration_error(y, score) < 0.01


def test_a_miscalibrated_score_has_a_larger_ece(calibrated):
    y, score = calibrated
    calibrated_ece = expected_calibration_error(y, score)
    # Squaring a uniform calibrated score under-predicts by E[s - s^2] = 1/6 on average.
    squared_ece = expected_calibration_error(y, score**2)
    assert squared_ece > calibrated_ece + 0.1
    assert squared_ece == pytest.approx(1 / 6, abs=0.01)


def test_calibration_table_renumbers_bins_when_quantile_edges_collapse():
    # 90 % of scores are equal, so most quantile edges coincide and are dropped.
    score = np.array([0.2] * 90 + list(np.linspace(0.5, 0.9, 10)))
    y = np.array([0] * 72 + [1] * 18 + [1] * 10)
    table = calibration_table(y, score, bins=10)
    assert 1 < len(table) < 10
    assert table["bin"].tolist() == list(range(len(table)))
    assert table["n"].sum() == 100
    assert table.loc[0, "mean_predicted"] == pytest.approx(0.2)
    assert table.loc[0, "observed_rate"] == pytest.approx(0.2)


def test_calibration_bins_are_numbered_densely_when_there_are_fewer_scores_than_bins():
    # With 3 scores and 10 bins, qcut's own codes are 0, 4 and 9.
    table = calibration_table([0, 1, 1], [0.1, 0.2, 0.3], bins=10)
    assert table["bin"].tolist() == [0, 1, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert table["observed_rate"].tolist() == [0.0, 1.0, 1.0]
    assert table["n"].tolist() == [1, 1, 1]


def test_constant_score_is_one_calibration_bin():
    table = calibration_table([0, 1, 1, 0], [0.5] * 4, bins=10)
    assert len(table) == 1
    assert table.loc[0, "n"] == 4
    assert expected_calibration_error([0, 1, 1, 1], [0.5] * 4) == pytest.approx(0.25)


def test_roc_and_pr_points_have_the_expected_shape():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    score = np.clip(0.3 * y + rng.normal(0.35, 0.2, 500), 0, 1)
    roc = roc_points(y, score)
    pr = pr_points(y, score)
    assert isinstance(roc, pd.DataFrame)
    assert list(roc.columns) == ["fpr", "tpr"]
    assert list(pr.columns) == ["recall", "precision"]
    assert len(roc) > 2
    assert len(pr) > 2
    assert roc["fpr"].is_monotonic_increasing
    assert roc["tpr"].is_monotonic_increasing
    assert (roc.iloc[0]["fpr"], roc.iloc[0]["tpr"]) == (0.0, 0.0)
    assert (roc.iloc[-1]["fpr"], roc.iloc[-1]["tpr"]) == (1.0, 1.0)
    assert pr["recall"].is_monotonic_decreasing
    assert pr["recall"].iloc[0] == 1.0
    assert pr["recall"].iloc[-1] == 0.0
    assert pr["precision"].between(0, 1).all()
