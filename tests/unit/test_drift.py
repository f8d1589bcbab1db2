"""The drift gauge's population stability index on known distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.drift import Bins, DriftMonitor, psi

RNG = np.random.default_rng(3)
REFERENCE = pd.DataFrame(
    {
        "attendance": RNG.normal(90, 5, 20_000),
        "grade": RNG.choice([9, 10, 11, 12], 20_000),
        "school": RNG.choice(["Public", "Private"], 20_000, p=[0.8, 0.2]),
    }
)
FEATURES = list(REFERENCE.columns)


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    shares = np.array([0.25, 0.25, 0.5])
    assert psi(shares, shares) == 0
    small, large = psi(shares, np.array([0.3, 0.2, 0.5])), psi(shares, np.array([0.7, 0.2, 0.1]))
    assert 0 < small < 0.1 < 0.25 < large


def test_numeric_features_are_binned_at_deciles_and_categories_by_value():
    numeric = Bins.fit("attendance", REFERENCE["attendance"])
    assert numeric.edges is not None and len(numeric.edges) == 9
    assert numeric.reference == pytest.approx(np.full(10, 0.1), abs=0.002)
    grade = Bins.fit("grade", REFERENCE["grade"])  # few values: by value, not by decile
    assert grade.categories == ["10", "11", "12", "9"] and grade.size == 5
    assert grade.reference[-1] == 0  # the "other" bin
    assert grade.counts([9, 13, None, "12"]).tolist() == [0, 0, 1, 1, 1]


def test_a_sample_of_the_reference_is_stable_and_a_shifted_one_is_not():
    monitor = DriftMonitor.from_frame(REFERENCE, FEATURES, window=10_000, min_rows=500)
    same = monitor.observe(records(REFERENCE.sample(2_000, random_state=1)))
    assert max(same.values()) < 0.02, same
    shifted = REFERENCE.sample(2_000, random_state=2).assign(
        attendance=lambda f: f["attendance"] - 8, school="Private"
    )
    fresh = DriftMonitor.from_frame(REFERENCE, FEATURES, window=10_000, min_rows=500)
    drift = fresh.observe(records(shifted))
    assert drift["attendance"] > 0.25 and drift["school"] > 0.25, drift
    assert drift["grade"] < 0.02


def test_no_figure_before_min_rows_and_a_full_window_starts_again():
    monitor = DriftMonitor.from_frame(REFERENCE, FEATURES, window=300, min_rows=100)
    assert monitor.observe(records(REFERENCE.head(50))) is None
    assert monitor.observe(records(REFERENCE.iloc[50:150])) is not None
    monitor.observe(records(REFERENCE.iloc[150:300]))
    assert monitor.rows == 300
    # The window is full: the next batch starts a new one, which has too few rows for a figure.
    assert monitor.observe(records(REFERENCE.iloc[300:350])) is None and monitor.rows == 50


def test_values_that_are_not_numbers_or_missing_are_left_out():
    bins = Bins.fit("attendance", REFERENCE["attendance"])
    assert bins.counts([80.0, "85", "n/a", None, float("nan")]).sum() == 2
