"""Train the candidate models: a small, bounded hyperparameter search under cross-validation,
then calibration (sigmoid or isotonic, chosen by CV on out-of-fold scores), then a refit on
the whole training set. Every candidate comes out as one ``RiskModel``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from data.spec import DatasetSpec
from pipeline.features import (
    as_model_input,
    build_preprocessor,
    encoded_to_feature,
    monotone_constraints,
)
from pipeline.model import Calibrator, RiskModel

log = logging.getLogger(__name__)
Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    """A model family with its bounded search grid."""

    name: str
    family: str
    scale: bool
    grid: tuple[dict[str, Any], ...]

    def estimator(self, params: dict[str, Any], monotone: list[int], seed: int):
        if self.family == "linear":
            return LogisticRegression(max_iter=2000, **params)
        if self.family == "xgboost":
            return XGBClassifier(
                tree_method="hist",
                n_jobs=2,
                subsample=0.8,
                colsample_bytree=0.8,
                min_child_weight=5,
                monotone_constraints=tuple(monotone),
                random_state=seed,
                eval_metric="logloss",
                **params,
            )
        if self.family == "hist_gb":
            return HistGradientBoostingClassifier(
                early_stopping=False, monotonic_cst=monotone, random_state=seed, **params
            )
        raise ValueError(f"unknown model family {self.family!r}")


CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("logreg", "linear", True, ({"C": 0.01}, {"C": 0.1}, {"C": 1.0})),
        Candidate(
            "xgboost",
            "xgboost",
            False,
            (
                {"max_depth": 3, "n_estimators": 300, "learning_rate": 0.06},
                {"max_depth": 4, "n_estimators": 200, "learning_rate": 0.06},
                {"max_depth": 2, "n_estimators": 400, "learning_rate": 0.1},
            ),
        ),
        Candidate(
            "hist_gb",
            "hist_gb",
            False,
            (
                {"max_depth": 3, "max_iter": 250, "learning_rate": 0.06},
                {"max_leaf_nodes": 15, "max_iter": 200, "learning_rate": 0.06},
            ),
        ),
    )
}


@dataclass
class FittedCandidate:
    name: str
    family: str
    params: dict[str, Any]
    model: RiskModel
    cv: dict[str, float]
    calibration_method: str
    calibration_cv_brier: dict[str, float]
    search: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def make_folds(y: np.ndarray, n_folds: int, seed: int) -> Folds:
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _raw(pipeline: Pipeline, family: str, frame: pd.DataFrame) -> np.ndarray:
    if family == "xgboost":
        return pipeline.predict(frame, output_margin=True)
    return pipeline.decision_function(frame)


def _choose_calibration(raw: np.ndarray, y: np.ndarray, seed: int) -> tuple[str, dict]:
    """Pick the calibration method with the lower cross-validated Brier score."""
    halves = make_folds(y, 2, seed)
    scores = {}
    for method in ("sigmoid", "isotonic"):
        briers = []
        for fit_idx, eval_idx in halves:
            calibrator = Calibrator(method).fit(raw[fit_idx], y[fit_idx])
            briers.append(brier_score_loss(y[eval_idx], calibrator.transform(raw[eval_idx])))
        scores[method] = float(np.mean(briers))
    return min(scores, key=scores.get), scores


def fit_candidate(
    candidate: Candidate,
    train: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    spec: DatasetSpec,
    features: list[str],
    seed: int,
    on_progress: Callable[[str], None] | None = None,
) -> FittedCandidate:
    """Search the candidate's grid by CV PR-AUC, calibrate on out-of-fold scores, refit."""
    started = time.perf_counter()
    X = as_model_input(train, features)
    monotone = monotone_constraints(spec, features)

    def make(params: dict[str, Any]) -> Pipeline:
        return Pipeline(
            [
                ("preprocess", build_preprocessor(spec, features, candidate.scale)),
                ("model", candidate.estimator(params, monotone, seed)),
            ]
        )

    search, best = [], None
    for params in candidate.grid:
        oof = np.empty(len(y))
        for fit_idx, eval_idx in folds:
            fold_model = make(params).fit(X.iloc[fit_idx], y[fit_idx])
            oof[eval_idx] = _raw(fold_model, candidate.family, X.iloc[eval_idx])
        scores = {
            "pr_auc": float(average_precision_score(y, oof)),
            "roc_auc": float(roc_auc_score(y, oof)),
        }
        search.append({"params": params, **scores})
        if on_progress:
            on_progress(f"{candidate.name} {params}: CV PR-AUC {scores['pr_auc']:.4f}")
        if best is None or scores["pr_auc"] > best[1]["pr_auc"]:
            best = (params, scores, oof)
    params, cv_scores, oof = best
    method, calibration_scores = _choose_calibration(oof, y, seed)
    calibrator = Calibrator(method).fit(oof, y)
    pipeline = make(params).fit(X, y)
    encoded = pipeline[:-1].transform(X)
    model = RiskModel(
        pipeline=pipeline,
        calibrator=calibrator,
        features=list(features),
        encoded_features=encoded_to_feature(spec, features),
        background=np.asarray(encoded, dtype=float).mean(axis=0),
        family=candidate.family,
        reference={
            f: float(X[f].mean()) for f in features if spec.column(f).dtype in ("int", "float")
        },
    )
    cv_scores["brier_calibrated"] = calibration_scores[method]
    return FittedCandidate(
        name=candidate.name,
        family=candidate.family,
        params=params,
        model=model,
        cv=cv_scores,
        calibration_method=method,
        calibration_cv_brier=calibration_scores,
        search=search,
        seconds=time.perf_counter() - started,
    )
