"""Evaluate candidates and baselines on the held-out test set, and select the champion.

Selection rule (documented in the model card): among candidates that break none of the fairness
limits in settings (largest |mean risk − outcome rate| in any group of a protected attribute,
and spread of per-group ROC-AUC, over groups of at least ``fairness_gate_min_group`` test
students), the champion is the one with the best cross-validated PR-AUC. Candidates within
0.002 of it on both CV PR-AUC and CV ROC-AUC count as tied, and the simplest family among them
wins (linear, then XGBoost, then other trees): it explains faster and more plainly at no
measurable cost.

A limit is only checked where the groups are large enough (one group for the calibration gap,
two for the ROC-AUC spread); an attribute without them is "not checked" and its gaps are
reported for information, never as within the limits. If every candidate breaks a checked
limit, the best is selected and flagged, and ``fairness_fallback`` decides whether it is
promoted with a warning or the current champion is kept (``pipeline/champion.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from pipeline.fairness import FairnessReport, fairness_report
from pipeline.fairness_gate import FairnessGate, fairness_gate
from pipeline.metrics import calibration_table, classification_metrics
from pipeline.train import FittedCandidate

FAMILY_ORDER = {"linear": 0, "xgboost": 1, "hist_gb": 2}
TIE = 0.002
# How the ranking sentence names the candidates it ranked, by the champion's gate verdict.
SCOPE_WORDS = {
    "within_limits": " among candidates within the fairness limits",
    "partly_checked": " among candidates within the fairness limits where they could be checked",
    "not_checked": "",
    "outside_limits": "",
}


@dataclass
class Evaluation:
    name: str
    score: np.ndarray
    metrics: dict[str, float]
    calibration: pd.DataFrame
    fairness: FairnessReport | None = None


@dataclass
class Selection:
    """The selected candidate, why it ranks first, and every candidate's fairness gate.
    ``fallback`` is set once the champion/challenger decision is made, when no candidate met
    the fairness limits: what happened then, in plain words."""

    champion: str
    ranking: str
    gates: dict[str, FairnessGate] = field(default_factory=dict)
    fallback: str | None = None

    @property
    def gate(self) -> FairnessGate | None:
        """The selected candidate's gate."""
        return self.gates.get(self.champion)

    @property
    def fairness_met(self) -> bool:
        """Whether the selected candidate breaks no checked fairness limit."""
        return self.gate is None or not self.gate.failed

    @property
    def violations(self) -> dict[str, list[str]]:
        """The checked limits each candidate breaks."""
        return {name: g.violations() for name, g in self.gates.items()}

    @property
    def reason(self) -> str:
        """Why this candidate was selected, its fairness verdict and, when no candidate met
        the limits, what happened, in plain words."""
        return self.describe()

    def describe(self, with_fallback: bool = True) -> str:
        """``reason``, without what happened after the selection unless ``with_fallback``."""
        parts = [self.ranking]
        if self.gate is not None and self.fairness_met:
            parts.append(f"{self.champion}: {self.gate.summary()}")
        excluded = [name for name, g in self.gates.items() if g.failed]
        if excluded and self.fairness_met:
            parts.append(
                "excluded for fairness: "
                + "; ".join(f"{n} ({', '.join(self.gates[n].violations())})" for n in excluded)
            )
        if not self.fairness_met:
            parts.append(
                f"NO candidate met the fairness limits; {self.champion}: {self.gate.summary()}"
            )
        if self.fallback and with_fallback:
            parts.append(self.fallback)
        return "; ".join(parts)


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


def gate(
    evaluation: Evaluation,
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> FairnessGate:
    """The model's result at the fairness gate, judged on groups of at least ``min_group``
    test students (smaller groups are reported, for information, but too noisy to gate on)."""
    return fairness_gate(
        evaluation.fairness, attributes, max_calibration_gap, max_auc_gap, min_group
    )


def fairness_violations(
    evaluation: Evaluation,
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> list[str]:
    """Which fairness limits a model breaks, among those that could be checked."""
    return gate(evaluation, attributes, max_calibration_gap, max_auc_gap, min_group).violations()


def select_champion(
    fitted: dict[str, FittedCandidate],
    evaluations: dict[str, Evaluation],
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> Selection:
    """Select the champion by the rule in this module's docstring. A candidate is excluded
    only for a limit that was checked and broken; when every candidate is, the best of all is
    selected, flagged, and the fallback setting decides what happens (``champion.decide``)."""
    gates = {
        name: gate(evaluations[name], attributes, max_calibration_gap, max_auc_gap, min_group)
        for name in fitted
    }
    eligible = [name for name in fitted if not gates[name].failed] or list(fitted)
    leader = max(eligible, key=lambda name: fitted[name].cv["pr_auc"])
    tied = [
        name
        for name in eligible
        if all(fitted[name].cv[m] >= fitted[leader].cv[m] - TIE for m in ("pr_auc", "roc_auc"))
    ]
    champion = min(tied, key=lambda name: FAMILY_ORDER.get(fitted[name].family, 9))
    scope = SCOPE_WORDS[gates[champion].verdict]
    pr_auc = fitted[champion].cv["pr_auc"]
    if champion == leader:
        ranking = f"{champion} has the best cross-validated PR-AUC ({pr_auc:.4f}){scope}"
    else:
        ranking = (
            f"{leader} has the best cross-validated PR-AUC "
            f"({fitted[leader].cv['pr_auc']:.4f}){scope}; {champion} ({pr_auc:.4f}) is within "
            f"{TIE} of it on CV PR-AUC and ROC-AUC and is the simplest of "
            f"{', '.join(sorted(tied))}"
        )
    return Selection(champion, ranking, gates)
