"""Evaluate candidates and baselines on the held-out test set, and select the champion.

Selection rule (documented in the model card): among candidates whose fairness on the test set
is within the limits in settings (largest |mean risk − outcome rate| in any group of a protected
attribute, and spread of per-group ROC-AUC, over groups of at least
``fairness_gate_min_group`` test students), the champion is the one with the best
cross-validated PR-AUC. Candidates within 0.002 of it on both CV PR-AUC and CV ROC-AUC count
as tied, and the simplest family among them wins (linear, then XGBoost, then other trees):
it explains faster and more plainly at no measurable cost. If no candidate meets the limits,
the best is chosen and flagged."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from pipeline.fairness import FairnessReport, fairness_report
from pipeline.metrics import calibration_table, classification_metrics
from pipeline.train import FittedCandidate

FAMILY_ORDER = {"linear": 0, "xgboost": 1, "hist_gb": 2}
TIE = 0.002


@dataclass
class Evaluation:
    name: str
    score: np.ndarray
    metrics: dict[str, float]
    calibration: pd.DataFrame
    fairness: FairnessReport | None = None


@dataclass
class Selection:
    champion: str
    reason: str
    violations: dict[str, list[str]] = field(default_factory=dict)
    fairness_met: bool = True


def evaluate(
    name: str,
    y: np.ndarray,
    score: np.ndarray,
    groups: pd.DataFrame | None,
    threshold: float,
    min_group_size: int,
) -> Evaluation:
    fairness = (
        fairness_report(y, score, groups, threshold, min_group_size)
        if groups is not None and not groups.empty
        else None
    )
    return Evaluation(
        name, score, classification_metrics(y, score), calibration_table(y, score), fairness
    )


def naive_baseline(
    train: pd.DataFrame, y_train: np.ndarray, test: pd.DataFrame, feature: str
) -> np.ndarray:
    """The one-feature rule a district might use: risk from attendance alone (a logistic fit,
    so its score is a probability comparable with the models')."""
    rule = LogisticRegression().fit(train[[feature]].astype(float), y_train)
    return rule.predict_proba(test[[feature]].astype(float))[:, 1]


def fairness_violations(
    evaluation: Evaluation,
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> list[str]:
    """Which fairness limits a model breaks, judged on groups of at least ``min_group`` test
    students (smaller groups are reported but too noisy to gate on)."""
    if evaluation.fairness is None:
        return []
    table = evaluation.fairness.by_group
    problems = []
    for attribute in attributes:
        rows = table[(table["attribute"] == attribute) & (table["n"] >= min_group)]
        rows = rows[~rows["suppressed"]]
        calibration = rows["calibration_gap"].abs().max()
        auc = rows["roc_auc"].max() - rows["roc_auc"].min() if len(rows) > 1 else np.nan
        if calibration > max_calibration_gap:
            problems.append(
                f"{attribute}: calibration gap {calibration:.3f} > {max_calibration_gap}"
            )
        if auc > max_auc_gap:
            problems.append(f"{attribute}: ROC-AUC spread {auc:.3f} > {max_auc_gap}")
    return problems


def select_champion(
    fitted: dict[str, FittedCandidate],
    evaluations: dict[str, Evaluation],
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> Selection:
    violations = {
        name: fairness_violations(
            evaluations[name], attributes, max_calibration_gap, max_auc_gap, min_group
        )
        for name in fitted
    }
    eligible = [name for name in fitted if not violations[name]] or list(fitted)
    leader = max(eligible, key=lambda name: fitted[name].cv["pr_auc"])
    tied = [
        name
        for name in eligible
        if all(fitted[name].cv[m] >= fitted[leader].cv[m] - TIE for m in ("pr_auc", "roc_auc"))
    ]
    champion = min(tied, key=lambda name: FAMILY_ORDER.get(fitted[name].family, 9))
    met = not violations[champion]
    scope = " among candidates within the fairness limits" if met else ""
    pr_auc = fitted[champion].cv["pr_auc"]
    if champion == leader:
        parts = [f"{champion} has the best cross-validated PR-AUC ({pr_auc:.4f}){scope}"]
    else:
        parts = [
            f"{leader} has the best cross-validated PR-AUC "
            f"({fitted[leader].cv['pr_auc']:.4f}){scope}; {champion} ({pr_auc:.4f}) is within "
            f"{TIE} of it on CV PR-AUC and ROC-AUC and is the simplest of "
            f"{', '.join(sorted(tied))}"
        ]
    excluded = [name for name in fitted if violations[name]]
    if excluded and met:
        parts.append(
            "excluded for fairness: "
            + "; ".join(f"{name} ({', '.join(violations[name])})" for name in excluded)
        )
    if not met:
        parts.append("NO candidate met the fairness limits: " + "; ".join(violations[champion]))
    return Selection(champion, "; ".join(parts), violations, met)
