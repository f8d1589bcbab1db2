"""Risk levels fit the cohort: empty thresholds come from its base rate, given ones are kept."""

from __future__ import annotations

import pytest

from pipeline.levels import served_levels, threshold_for_odds, with_levels
from sara.settings import Settings


def test_thresholds_follow_the_base_rate_by_odds(tmp_path):
    low_base = with_levels(Settings(home=tmp_path), 0.12)
    assert (low_base.risk_medium_threshold, low_base.risk_high_threshold) == (0.151, 0.405)
    high_base = with_levels(Settings(home=tmp_path), 0.40)
    assert (high_base.risk_medium_threshold, high_base.risk_high_threshold) == (0.464, 0.769)
    # "High" stays well above the base rate whatever it is, so it cannot take most students.
    for base in (0.05, 0.2, 0.33, 0.53):
        levelled = with_levels(Settings(home=tmp_path), base)
        assert base < levelled.risk_medium_threshold < levelled.risk_high_threshold < 1


def test_given_thresholds_are_kept_and_a_crossing_pair_is_named(tmp_path):
    fixed = Settings(home=tmp_path, risk_medium_threshold=0.2, risk_high_threshold=0.5)
    assert with_levels(fixed, 0.4) is fixed
    half = with_levels(Settings(home=tmp_path, risk_high_threshold=0.3), 0.12)
    assert (half.risk_medium_threshold, half.risk_high_threshold) == (0.151, 0.3)
    with pytest.raises(ValueError, match=r"SARA_RISK_MEDIUM_THRESHOLD .* is not below"):
        with_levels(Settings(home=tmp_path, risk_high_threshold=0.3), 0.4)


def test_serving_uses_the_published_thresholds(tmp_path):
    served = served_levels(
        Settings(home=tmp_path, risk_medium_threshold=0.1, risk_high_threshold=0.2),
        {"risk_medium_threshold": "0.464", "risk_high_threshold": "0.769"},
    )
    assert (served.risk_medium_threshold, served.risk_high_threshold) == (0.464, 0.769)


def test_threshold_for_odds_is_the_base_rate_at_ratio_one():
    assert threshold_for_odds(0.25, 1.0) == 0.25
