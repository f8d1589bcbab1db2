"""Group fairness of a binary risk score: per-group error rates, calibration, AUC and ABROCA,
with small groups suppressed and the largest gaps between groups summarised; and the gate that
judges a model against the selection limits (``fairness_gate``)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from pydantic import BaseModel
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


def _labels(column: pd.Series) -> np.ndarray:
    """Return a column's values as an object array of strings, missing values as their own group."""
    # Students with a missing attribute are kept as a visible group rather than silently dropped.
    text = column.astype(object).astype(str).to_numpy(dtype=object)
    return np.where(column.isna().to_numpy(), MISSING_GROUP, text).astype(object)


def _attributes(groups: pd.DataFrame, pairs: bool) -> list[tuple[str, np.ndarray]]:
    """Return (attribute name, group label per student) for every column and, if `pairs`,
    every pair of columns in column order."""
    single = [(str(name), _labels(groups[name])) for name in groups.columns]
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


# --- The selection gate -------------------------------------------------------------------

GateStatus = Literal["checked_pass", "checked_fail", "not_checked"]
GateVerdict = Literal["within_limits", "partly_checked", "outside_limits", "not_checked"]
GateMetric = Literal["calibration_gap", "roc_auc_spread"]

VERDICT_WORDS: dict[str, str] = {
    "within_limits": "within the fairness limits",
    "partly_checked": "within the fairness limits where checked, NOT CHECKED elsewhere",
    "outside_limits": "OUTSIDE the fairness limits",
    "not_checked": "fairness NOT CHECKED",
}
_METRIC_WORDS = {"calibration_gap": "calibration gap", "roc_auc_spread": "ROC-AUC spread"}


class GateGroup(BaseModel):
    """One group of a protected attribute in the test set, and whether it is large enough to
    gate on."""

    group: str
    n: int
    gated: bool


class GateCheck(BaseModel):
    """One limit on one attribute. ``value`` is measured over the groups large enough to gate
    on when checked; when not checked, over every reported group, for information only."""

    metric: GateMetric
    limit: float
    status: GateStatus
    value: float | None = None
    over_limit: bool = False
    note: str


def group_sizes(groups: list[dict]) -> str:
    """Groups (``group``, ``n``, ``gated``) and their sizes in words, those too small to gate
    on named as such."""
    gated = ", ".join(f"{g['group']} n={g['n']:,}" for g in groups if g["gated"])
    small = ", ".join(f"{g['group']} n={g['n']:,}" for g in groups if not g["gated"])
    return "; ".join(part for part in (gated, small and f"too small to check: {small}") if part)


class AttributeGate(BaseModel):
    """The gate on one protected attribute: ``checked_pass`` only when every limit was checked
    and met, ``checked_fail`` when one was checked and broken, otherwise ``not_checked``."""

    attribute: str
    status: GateStatus
    groups: list[GateGroup]
    checks: list[GateCheck]

    def sizes(self) -> str:
        """The groups and their test-set sizes, those too small to gate on last, e.g.
        ``F n=420, M n=380`` or ``too small to check: F n=120, M n=80``."""
        return group_sizes([g.model_dump() for g in self.groups])

    def summary(self) -> str:
        """The attribute's result in plain words."""
        parts = [check.note for check in self.checks]
        return f"{self.attribute} ({self.sizes()}): " + "; ".join(parts)


class FairnessGate(BaseModel):
    """A model's result at the selection gate: one entry per protected attribute and the
    verdict. ``not_checked`` (no attribute could be checked) is never reported as within
    the limits; ``partly_checked`` passed every check that could run."""

    verdict: GateVerdict
    min_group: int
    max_calibration_gap: float
    max_auc_gap: float
    attributes: list[AttributeGate]

    @property
    def failed(self) -> bool:
        """Whether a checked limit was broken (the model is not eligible)."""
        return self.verdict == "outside_limits"

    def violations(self) -> list[str]:
        """The broken limits, e.g. ``sex: ROC-AUC spread 0.243 > 0.1``."""
        return [
            f"{a.attribute}: {_METRIC_WORDS[c.metric]} {c.value:.3f} > {c.limit}"
            for a in self.attributes
            for c in a.checks
            if c.status == "checked_fail"
        ]

    def words(self) -> str:
        """The verdict alone in plain words."""
        return VERDICT_WORDS[self.verdict]

    def summary(self) -> str:
        """The verdict and its grounds in plain words, for logs, reports and model cards."""
        rule = (
            f"calibration gap ≤ {self.max_calibration_gap}, ROC-AUC spread ≤ "
            f"{self.max_auc_gap}, over groups of ≥ {self.min_group} test students"
        )
        if not self.attributes:
            return f"{self.words()}: the spec has no protected attributes"
        by_status = {
            status: [a for a in self.attributes if a.status == status]
            for status in ("checked_pass", "checked_fail", "not_checked")
        }
        names = {s: ", ".join(a.attribute for a in rows) for s, rows in by_status.items()}
        if self.verdict == "outside_limits":
            text = f"{self.words()} ({rule}): " + "; ".join(self.violations())
        elif self.verdict == "within_limits":
            text = f"{self.words()} on {names['checked_pass']} ({rule})"
        elif self.verdict == "partly_checked":
            text = (
                f"within the fairness limits on {names['checked_pass']} ({rule}); "
                f"NOT CHECKED on {names['not_checked']}"
            )
        else:
            text = (
                f"{self.words()}: no protected attribute could be fully checked (the limits "
                f"need groups of ≥ {self.min_group} test students)"
            )
        unchecked = by_status["not_checked"]
        if unchecked:
            text += ". Not fully checked: " + " | ".join(a.summary() for a in unchecked)
        return text


def _value(values: pd.Series, spread: bool) -> float | None:
    """The largest |value| (or, with ``spread``, max − min) of the defined values; None when
    there are too few (one for a gap, two for a spread)."""
    values = values.dropna()
    if len(values) < (2 if spread else 1):
        return None
    return float(values.max() - values.min()) if spread else float(values.abs().max())


def _check(
    metric: GateMetric, limit: float, rows: pd.DataFrame, gated: pd.Series, min_group: int
) -> GateCheck:
    """One limit on one attribute's reported groups (``gated`` marks those large enough)."""
    column, spread = ("roc_auc", True) if metric == "roc_auc_spread" else ("calibration_gap", False)
    name, needed = _METRIC_WORDS[metric], (2 if spread else 1)
    measured = _value(rows.loc[gated, column], spread)
    if measured is not None:
        passed = measured <= limit
        return GateCheck(
            metric=metric,
            limit=limit,
            status="checked_pass" if passed else "checked_fail",
            value=measured,
            over_limit=not passed,
            note=f"{name} {measured:.3f} {'≤' if passed else '>'} {limit}",
        )
    informational = _value(rows[column], spread)
    groups = "two groups" if needed == 2 else "a group"
    note = f"{name} not checked (needs {groups} of ≥ {min_group} test students)"
    if informational is not None:
        above = informational > limit
        note += f", measured {informational:.3f}" + (f", ABOVE the {limit} limit" if above else "")
    return GateCheck(
        metric=metric,
        limit=limit,
        status="not_checked",
        value=informational,
        over_limit=informational is not None and informational > limit,
        note=note,
    )


def _attribute_gate(
    attribute: str,
    table: pd.DataFrame,
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> AttributeGate:
    """The gate on one attribute's rows of a ``by_group`` table."""
    rows = table[table["attribute"] == attribute]
    reported = rows[~rows["suppressed"].astype(bool)]
    gated = reported["n"] >= min_group
    checks = [
        _check("calibration_gap", max_calibration_gap, reported, gated, min_group),
        _check("roc_auc_spread", max_auc_gap, reported, gated, min_group),
    ]
    statuses = {c.status for c in checks}
    status: GateStatus = (
        "checked_fail"
        if "checked_fail" in statuses
        else "checked_pass"
        if statuses == {"checked_pass"}
        else "not_checked"
    )
    groups = [
        GateGroup(group=str(r.group), n=int(r.n), gated=bool(r.n >= min_group and not r.suppressed))
        for r in rows.itertuples()
    ]
    return AttributeGate(attribute=attribute, status=status, groups=groups, checks=checks)


def fairness_gate(
    report: FairnessReport | None,
    attributes: list[str],
    max_calibration_gap: float,
    max_auc_gap: float,
    min_group: int,
) -> FairnessGate:
    """Judge a model's fairness report against the selection limits, attribute by attribute,
    on groups of at least ``min_group`` test students (smaller groups are too noisy to gate
    on: their gaps are reported, for information only)."""
    table = report.by_group if report is not None else pd.DataFrame(columns=BY_GROUP_COLUMNS)
    gates = [
        _attribute_gate(a, table, max_calibration_gap, max_auc_gap, min_group)
        for a in (attributes if report is not None else [])
    ]
    statuses = {g.status for g in gates}
    verdict: GateVerdict
    if "checked_fail" in statuses:
        verdict = "outside_limits"
    elif statuses == {"checked_pass"}:
        verdict = "within_limits"
    elif "checked_pass" in statuses:
        verdict = "partly_checked"
    else:
        verdict = "not_checked"
    return FairnessGate(
        verdict=verdict,
        min_group=min_group,
        max_calibration_gap=max_calibration_gap,
        max_auc_gap=max_auc_gap,
        attributes=gates,
    )
