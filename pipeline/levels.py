"""Risk levels that fit the cohort. A threshold the settings give is used as it is; an empty one
is set from the cohort's base rate, by odds: Medium from ``risk_medium_odds`` times the cohort's
odds of the outcome, High from ``risk_high_odds`` times. At a 12 % base rate that is 0.15 and
0.41; at 40 %, 0.46 and 0.77 — so "High" keeps meaning "much likelier than most students
here", whatever the base rate. The pipeline stores the thresholds it used in the warehouse, and
serving reads them from there."""

from __future__ import annotations

from sara.settings import Settings


def threshold_for_odds(base_rate: float, ratio: float) -> float:
    """The probability whose odds are ``ratio`` times those of ``base_rate``."""
    base = min(max(base_rate, 1e-6), 1 - 1e-6)
    odds = ratio * base / (1 - base)
    return round(odds / (1 + odds), 3)


def with_levels(settings: Settings, base_rate: float) -> Settings:
    """``settings`` with both thresholds set: those given kept, the others from the cohort."""
    medium = settings.risk_medium_threshold
    high = settings.risk_high_threshold
    if medium is not None and high is not None:
        return settings
    if medium is None:
        medium = threshold_for_odds(base_rate, settings.risk_medium_odds)
    if high is None:
        high = threshold_for_odds(base_rate, settings.risk_high_odds)
    if medium >= high:
        raise ValueError(
            f"risk levels: SARA_RISK_MEDIUM_THRESHOLD {medium} is not below "
            f"SARA_RISK_HIGH_THRESHOLD {high} for this cohort (base rate {base_rate:.1%}); set "
            "both thresholds, or neither to set both from the cohort"
        )
    update = {"risk_medium_threshold": medium, "risk_high_threshold": high}
    return settings.model_copy(update=update)


def served_levels(settings: Settings, meta: dict[str, str]) -> Settings:
    """``settings`` with the thresholds the warehouse was published with: serving never mixes
    two definitions of High (changing a threshold takes a new ``sara pipeline run``)."""
    update = {
        "risk_medium_threshold": float(meta["risk_medium_threshold"]),
        "risk_high_threshold": float(meta["risk_high_threshold"]),
    }
    return settings.model_copy(update=update)
