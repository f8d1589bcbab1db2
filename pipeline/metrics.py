"""Model-quality metrics for a binary risk score: discrimination, calibration and top-k capture."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

LOG_LOSS_EPS = 1e-6
TOP_PERCENTS = (10, 20)


def _as_arrays(y_true, score) -> tuple[np.ndarray, np.ndarray]:
    """Return `y_true` as a 0/1 int array and `score` as a float array, checked to match."""
    y = np.asarray(y_true).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but score has {s.size}")
    if y.size == 0:
        raise ValueError("metrics need at least one observation")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    return y.astype(int), s


def _has_both_classes(y: np.ndarray) -> bool:
    """Whether `y` contains at least one 0 and at least one 1."""
    return bool(y.min() != y.max())


def _top_flags(score: np.ndarray, percent: int) -> np.ndarray:
    """Return a boolean mask flagging the `percent` % highest scores (rounded up, at least one)."""
    n = score.size
    # Integer arithmetic avoids float artefacts such as 0.1 * 30 == 3.0000000000000004.
    k = max(1, (n * percent + 99) // 100)
    # A stable sort on -score keeps ties in input order, so the flagged set is reproducible.
    order = np.argsort(-score, kind="stable")
    flags = np.zeros(n, dtype=bool)
    flags[order[:k]] = True
    return flags


def _precision_recall_at(y: np.ndarray, flags: np.ndarray) -> tuple[float, float]:
    """Return (share of flagged who are positive, share of positives who are flagged)."""
    positives = int(y.sum())
    precision = float(y[flags].mean())
    recall = float(y[flags].sum() / positives) if positives else float("nan")
    return precision, recall


def classification_metrics(y_true, score) -> dict[str, float]:
    """Return size, base rate, AUCs, Brier score, log loss, top-10/20 % precision and recall,
    and the mean score; the AUCs are NaN when `y_true` has a single class."""
    y, s = _as_arrays(y_true, score)
    both = _has_both_classes(y)
    clipped = np.clip(s, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    result: dict[str, float] = {
        "n": int(y.size),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "brier": float(np.mean((s - y) ** 2)),
        # Computed directly rather than with sklearn's log_loss, which refuses single-class input.
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
    }
    for percent in TOP_PERCENTS:
        precision, recall = _precision_recall_at(y, _top_flags(s, percent))
        result[f"precision_top{percent}"] = precision
        result[f"recall_top{percent}"] = recall
    result["mean_score"] = float(s.mean())
    return result


def calibration_table(y_true, score, bins: int = 10) -> pd.DataFrame:
    """Return one row per quantile bin of `score`: `bin` (0..k-1), `mean_predicted`,
    `observed_rate` and `n`."""
    y, s = _as_arrays(y_true, score)
    if bins < 1:
        raise ValueError("bins must be at least 1")
    codes = pd.qcut(s, q=bins, labels=False, duplicates="drop")
    # qcut yields all-NaN codes when every score is equal; that is a single bin.
    if np.isnan(codes).all():
        codes = np.zeros(s.size)
    frame = pd.DataFrame({"code": codes, "score": s, "y": y})
    table = (
        frame.groupby("code", sort=True)
        .agg(mean_predicted=("score", "mean"), observed_rate=("y", "mean"), n=("y", "size"))
        .reset_index(drop=True)
    )
    # Dropped duplicate edges can leave gaps in qcut's codes, so bins are renumbered densely.
    table.insert(0, "bin", np.arange(len(table)))
    table["n"] = table["n"].astype(int)
    return table


def expected_calibration_error(y_true, score, bins: int = 10) -> float:
    """Return the n-weighted mean of |mean_predicted - observed_rate| over quantile bins."""
    table = calibration_table(y_true, score, bins=bins)
    weights = table["n"] / table["n"].sum()
    return float((weights * (table["mean_predicted"] - table["observed_rate"]).abs()).sum())


def roc_points(y_true, score) -> pd.DataFrame:
    """Return the ROC curve as columns `fpr`, `tpr` (sklearn's `roc_curve` points)."""
    y, s = _as_arrays(y_true, score)
    fpr, tpr, _ = roc_curve(y, s)
    return pd.DataFrame({"fpr": fpr, "tpr": tpr})


def pr_points(y_true, score) -> pd.DataFrame:
    """Return the precision-recall curve as columns `recall`, `precision`."""
    y, s = _as_arrays(y_true, score)
    precision, recall, _ = precision_recall_curve(y, s)
    return pd.DataFrame({"recall": recall, "precision": precision})
