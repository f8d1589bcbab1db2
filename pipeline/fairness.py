"""Group fairness of a binary risk score: per-group error rates, calibration, AUC and ABROCA,
with small groups suppressed and the largest gaps between groups summarised. The gate that
judges a model against the selection limits is in pipeline/fairness_gate.py."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import roc_auc_score, roc_curve

BY_GROUP_COLUMNS = (
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
)
GAP_COLUMNS = ("attribute", "metric", "max_gap", "worst_group", "best_group")
GAP_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "roc_auc", "calibration_gap")
ABROCA = "abroca"
# Every per-group value blanked when a group is too small to report; `n` stays as the reason.
SUPPRESSED_COLUMNS = BY_GROUP_COLUMNS[3:-1]  # positives … calibration_gap
MISSING_GROUP = "(missing)"
FPR_GRID = np.linspace(0.0, 1.0, 1001)

_RATE_FUNCTIONS = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
}


@dataclass
class FairnessReport:
    """Per-group metrics, per-attribute gaps, and the settings that produced them."""

    by_group: pd.DataFrame
    gaps: pd.DataFrame
    threshold: float
    min_group_size: int

    def max_gap(self, metric: str, attribute: str | None = None) -> float:
        """Return the largest `max_gap` for `metric` (within `attribute` if given), ignoring
        NaN; NaN when there is none."""
        rows = self.gaps[self.gaps["metric"] == metric]
        if attribute is not None:
            rows = rows[rows["attribute"] == attribute]
        values = rows["max_gap"].dropna()
        return float(values.max()) if len(values) else float("nan")


def group_labels(column: pd.Series) -> np.ndarray:
    """Return a column's values as an object array of strings, missing values as their own group."""
    # Students with a missing attribute are kept as a visible group rather than silently dropped.
    text = column.astype(object).astype(str).to_numpy(dtype=object)
    return np.where(column.isna().to_numpy(), MISSING_GROUP, text).astype(object)


def _attributes(groups: pd.DataFrame, pairs: bool) -> list[tuple[str, np.ndarray]]:
    """Return (attribute name, group label per student) for every column and, if `pairs`,
    every pair of columns in column order."""
    single = [(str(name), group_labels(groups[name])) for name in groups.columns]
    if not pairs:
        return single
    paired = [(f"{a}×{b}", la + " × " + lb) for (a, la), (b, lb) in combinations(single, 2)]
    return single + paired


def _has_both_classes(y: np.ndarray) -> bool:
    """Whether `y` contains at least one 0 and at least one 1."""
    return bool(y.size) and bool(y.min() != y.max())


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Return the ROC AUC, or NaN when `y` has a single class."""
    return float(roc_auc_score(y, score)) if _has_both_classes(y) else float("nan")


def _rates(y: np.ndarray, flagged: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Return selection_rate, tpr, fpr and fnr per group (indexed by group) via fairlearn."""
    frame = MetricFrame(
        metrics=_RATE_FUNCTIONS,
        y_true=y,
        y_pred=flagged,
        sensitive_features=pd.Series(labels, name="group"),
    )
    return frame.by_group


def _attribute_rows(
    attribute: str,
    y: np.ndarray,
    score: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    min_group_size: int,
) -> pd.DataFrame:
    """Return the `by_group` rows of one attribute, groups sorted, small groups suppressed."""
    frame = pd.DataFrame({"group": labels, "y": y, "score": score})
    stats = frame.groupby("group", sort=True).agg(
        n=("y", "size"),
        positives=("y", "sum"),
        mean_score=("score", "mean"),
        observed_rate=("y", "mean"),
    )
    stats["positives"] = stats["positives"].astype(float)
    rates = _rates(y, (score >= threshold).astype(int), labels).reindex(stats.index)
    # fairlearn reports a TPR/FNR of 0 for a group with no positives (and an FPR of 0 for one
    # with no negatives) because sklearn's normalised confusion matrix maps 0/0 to 0; those
    # rates are undefined, not zero.
    no_positives = stats["positives"] == 0
    no_negatives = stats["positives"] == stats["n"]
    rates.loc[no_positives, ["tpr", "fnr"]] = np.nan
    rates.loc[no_negatives, "fpr"] = np.nan
    stats = stats.join(rates)
    stats["roc_auc"] = [
        _auc(part["y"].to_numpy(), part["score"].to_numpy())
        for _, part in frame.groupby("group", sort=True)
    ]
    stats["calibration_gap"] = stats["mean_score"] - stats["observed_rate"]
    stats["suppressed"] = stats["n"] < min_group_size
    stats.loc[stats["suppressed"], list(SUPPRESSED_COLUMNS)] = np.nan
    rows = stats.reset_index()
    rows.insert(0, "attribute", attribute)
    return rows[list(BY_GROUP_COLUMNS)]


# For these the group with the lowest value is the worst off.
HIGHER_IS_BETTER = frozenset({"tpr", "roc_auc"})


def _gap_row(
    attribute: str, metric: str, values: pd.Series, absolute: bool = False, min_values: int = 2
) -> dict:
    """Return the gap row for one metric from its per-group values (index = group): the
    max - min spread, or with `absolute` the largest |value|; NaN with fewer than
    `min_values` defined values."""
    values = values.dropna()
    row = {"attribute": attribute, "metric": metric}
    if len(values) < min_values:
        return row | {"max_gap": float("nan"), "worst_group": None, "best_group": None}
    if absolute:
        values = values.abs()
        max_gap = float(values.max())
    else:
        max_gap = float(values.max() - values.min())
    worst, best = values.idxmax(), values.idxmin()
    if metric in HIGHER_IS_BETTER:
        worst, best = best, worst
    return row | {"max_gap": max_gap, "worst_group": worst, "best_group": best}


def _tpr_on_grid(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Return the ROC curve's TPR interpolated at every point of `FPR_GRID`."""
    fpr, tpr, _ = roc_curve(y, score)
    return np.interp(FPR_GRID, fpr, tpr)


def _abroca_by_group(
    y: np.ndarray, score: np.ndarray, labels: np.ndarray, groups: pd.Index
) -> pd.Series:
    """Return, for each of `groups`, the area between its ROC curve and the ROC curve of all
    other students; groups where either side has a single class are left out."""
    areas: dict[str, float] = {}
    for group in groups:
        inside = labels == group
        if not (_has_both_classes(y[inside]) and _has_both_classes(y[~inside])):
            continue
        gap = np.abs(
            _tpr_on_grid(y[inside], score[inside]) - _tpr_on_grid(y[~inside], score[~inside])
        )
        areas[group] = float(np.trapezoid(gap, FPR_GRID))
    return pd.Series(areas, dtype=float)


def _attribute_gaps(
    attribute: str, rows: pd.DataFrame, y: np.ndarray, score: np.ndarray, labels: np.ndarray
) -> list[dict]:
    """Return the gap rows of one attribute, over its non-suppressed groups."""
    active = rows.loc[~rows["suppressed"]].set_index("group")
    gaps = [
        _gap_row(attribute, metric, active[metric], absolute=metric == "calibration_gap")
        for metric in GAP_METRICS
    ]
    areas = pd.Series(dtype=float)
    if len(active) >= 2:
        # The comparison curve for each group is everyone else, suppressed students included.
        areas = _abroca_by_group(y, score, labels, active.index)
    # Areas are non-negative, so the absolute mode gives max area, argmax and argmin.
    gaps.append(_gap_row(attribute, ABROCA, areas, absolute=True, min_values=1))
    return gaps


def fairness_report(
    y_true,
    score,
    groups: pd.DataFrame,
    threshold: float,
    min_group_size: int,
    pairs: bool = True,
) -> FairnessReport:
    """Return per-group metrics and per-attribute gaps for every column of `groups` and, if
    `pairs`, every pair of columns (named "A×B", groups labelled "a × b")."""
    y = np.asarray(y_true).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if not (y.size == s.size == len(groups)):
        raise ValueError(
            f"y_true ({y.size}), score ({s.size}) and groups ({len(groups)}) differ in length"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    y = y.astype(int)
    row_frames: list[pd.DataFrame] = []
    gap_rows: list[dict] = []
    for attribute, labels in _attributes(groups, pairs):
        rows = _attribute_rows(attribute, y, s, labels, threshold, min_group_size)
        row_frames.append(rows)
        gap_rows.extend(_attribute_gaps(attribute, rows, y, s, labels))
    by_group = (
        pd.concat(row_frames, ignore_index=True)
        if row_frames
        else pd.DataFrame(columns=list(BY_GROUP_COLUMNS))
    )
    gaps = pd.DataFrame(gap_rows, columns=list(GAP_COLUMNS))
    return FairnessReport(
        by_group=by_group, gaps=gaps, threshold=float(threshold), min_group_size=min_group_size
    )
